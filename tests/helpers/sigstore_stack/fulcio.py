"""A Fulcio-like certificate authority with an RFC 6962 CT log.

The CA is a root and an intermediate (ECDSA P-384, as production). Leaves are
ECDSA P-256, valid for ten minutes, with the Fulcio profile: empty subject, one
critical SAN, digitalSignature, codeSigning, the OIDC issuer in both OIDs
(``.1.1`` raw, ``.1.8`` DER UTF8String), GitHub workflow claims when asked, and
one embedded SCT signed by the CT log over the precertificate.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

FULCIO_OID = "1.3.6.1.4.1.57264.1"
ISSUER_V1 = ObjectIdentifier(f"{FULCIO_OID}.1")
ISSUER_V2 = ObjectIdentifier(f"{FULCIO_OID}.8")
SCT_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
LEAF_LIFETIME = timedelta(minutes=10)


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of ``key``."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def der_length(n: int) -> bytes:
    """A DER length prefix."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_utf8(text: str) -> bytes:
    """A DER UTF8String (tag 0x0C)."""
    raw = text.encode()
    return b"\x0c" + der_length(len(raw)) + raw


def der_octets(raw: bytes) -> bytes:
    """A DER OCTET STRING (tag 0x04)."""
    return b"\x04" + der_length(len(raw)) + raw


@dataclass(frozen=True)
class GitHubClaims:
    """The GitHub Actions claims Fulcio copies into a certificate."""

    repository: str = "airlock-test/app"
    ref: str = "refs/heads/main"
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    trigger: str = "push"
    workflow: str = "release"
    runner: str = "github-hosted"  # or "self-hosted"

    def extensions(self, issuer: str, san: str) -> list[tuple[str, bytes]]:
        """(OID suffix, extension value) pairs, old raw and new DER forms."""
        server = "https://github.com"
        repo_uri = f"{server}/{self.repository}"
        raw = [
            ("2", self.trigger.encode()),
            ("3", self.sha.encode()),
            ("4", self.workflow.encode()),
            ("5", self.repository.encode()),
            ("6", self.ref.encode()),
        ]
        der = [
            ("9", der_utf8(san)),  # Build Signer URI
            ("10", der_utf8(self.sha)),  # Build Signer Digest
            ("11", der_utf8(self.runner)),  # Runner Environment
            ("12", der_utf8(repo_uri)),  # Source Repository URI
            ("13", der_utf8(self.sha)),  # Source Repository Digest
            ("14", der_utf8(self.ref)),  # Source Repository Ref
            ("18", der_utf8(san)),  # Build Config URI
            ("19", der_utf8(self.sha)),  # Build Config Digest
            ("20", der_utf8(self.trigger)),  # Build Trigger
            (
                "21",
                der_utf8(f"{repo_uri}/actions/runs/1/attempts/1"),
            ),  # Run Invocation URI
        ]
        del issuer
        return raw + der


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airlock-test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


class CtLog:
    """An RFC 6962 CT log that signs SCTs over precertificates."""

    def __init__(self, *, url: str = "https://ctfe.airlock.test") -> None:
        self.url = url
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.log_id = hashlib.sha256(spki_der(self.key.public_key())).digest()

    def sct_list(
        self,
        *,
        tbs_precert: bytes,
        issuer_key: ec.EllipticCurvePublicKey,
        when: datetime,
    ) -> bytes:
        """Return a TLS-encoded SignedCertificateTimestampList with one SCT."""
        timestamp_ms = int(when.timestamp() * 1000)
        issuer_key_hash = hashlib.sha256(spki_der(issuer_key)).digest()
        extensions = b""
        # RFC 6962 §3.2 digitally-signed struct for a precert_entry.
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp_ms, 1)
            + issuer_key_hash
            + len(tbs_precert).to_bytes(3, "big")
            + tbs_precert
            + struct.pack("!H", len(extensions))
            + extensions
        )
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            struct.pack("!B", 0)
            + self.log_id
            + struct.pack("!QH", timestamp_ms, len(extensions))
            + extensions
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )
        serialized = struct.pack("!H", len(sct)) + sct
        return struct.pack("!H", len(serialized)) + serialized


class FulcioCa:
    """A root and intermediate CA issuing Fulcio-profile leaf certificates."""

    def __init__(
        self, *, not_before: datetime, url: str = "https://fulcio.airlock.test"
    ) -> None:
        self.url = url
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        not_after = not_before + timedelta(days=3650)
        root_ski = x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key())
        self.root = (
            x509.CertificateBuilder()
            .subject_name(_name("airlock-test-root"))
            .issuer_name(_name("airlock-test-root"))
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(self.root_key, hashes.SHA384())
        )
        self.intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name("airlock-test-intermediate"))
            .issuer_name(self.root.subject)
            .public_key(self.intermediate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            # Production's intermediate carries codeSigning too.
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    root_ski
                ),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA384())
        )

    def issue(
        self,
        *,
        public_key: ec.EllipticCurvePublicKey,
        san: str,
        issuer: str,
        when: datetime,
        ct_log: CtLog,
        github: GitHubClaims | None = None,
        issuer_v1: str | None = None,
        extra_sans: tuple[str, ...] = (),
        issuer_v2_raw: bytes | None = None,
    ) -> x509.Certificate:
        """Issue a leaf valid from ``when`` for ten minutes, with one embedded SCT.

        Args:
            public_key: the signer's ephemeral key.
            san: an email address, or a URI (anything with ``://``).
            issuer: the OIDC issuer, written to both issuer OIDs.
            when: notBefore; the SCT is stamped at this time.
            ct_log: the log that signs the SCT.
            github: GitHub workflow claims to add, if any.
            issuer_v1: a different value for the deprecated ``.1.1`` OID (tests
                of disagreeing issuer extensions); defaults to ``issuer``.
            extra_sans: more SAN values after ``san`` (real Fulcio writes one;
                tests of which SAN a report names).
            issuer_v2_raw: the ``.1.8`` extension's raw value instead of the
                DER UTF8String of ``issuer`` (tests of malformed claims).
        """

        def general_name(value: str) -> x509.GeneralName:
            if "://" in value:
                return x509.UniformResourceIdentifier(value)
            return x509.RFC822Name(value)

        inter_ski = self.intermediate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(int.from_bytes(secrets.token_bytes(19), "big") | 1)
            .not_valid_before(when)
            .not_valid_after(when + LEAF_LIFETIME)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    inter_ski
                ),
                critical=False,
            )
            # An empty subject makes the SAN critical (RFC 5280 §4.2.1.6).
            .add_extension(
                x509.SubjectAlternativeName(
                    [general_name(v) for v in (san, *extra_sans)]
                ),
                critical=True,
            )
            .add_extension(
                x509.UnrecognizedExtension(ISSUER_V1, (issuer_v1 or issuer).encode()),
                critical=False,
            )
            .add_extension(
                x509.UnrecognizedExtension(
                    ISSUER_V2,
                    der_utf8(issuer) if issuer_v2_raw is None else issuer_v2_raw,
                ),
                critical=False,
            )
        )
        for suffix, value in github.extensions(issuer, san) if github else []:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(
                    ObjectIdentifier(f"{FULCIO_OID}.{suffix}"), value
                ),
                critical=False,
            )
        # The precertificate's TBS is the final TBS without the SCT extension
        # (RFC 6962 §3.2); with the SCT extension added last, the same builder
        # without it yields exactly those bytes. Checked below, not assumed.
        draft = builder.sign(self.intermediate_key, hashes.SHA384())
        tbs_precert = draft.tbs_certificate_bytes
        sct_list = ct_log.sct_list(
            tbs_precert=tbs_precert,
            issuer_key=self.intermediate_key.public_key(),
            when=when,
        )
        leaf = builder.add_extension(
            x509.UnrecognizedExtension(SCT_OID, der_octets(sct_list)), critical=False
        ).sign(self.intermediate_key, hashes.SHA384())
        if leaf.tbs_precertificate_bytes != tbs_precert:
            msg = "precertificate TBS does not match the SCT's signed TBS"
            raise AssertionError(msg)
        return leaf


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
