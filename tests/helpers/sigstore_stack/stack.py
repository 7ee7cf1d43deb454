"""The assembled stack: sign blobs, DSSE statements and images; emit bundles.

Each signing call does what a Sigstore client does against the real services:
generate an ephemeral P-256 key, obtain a leaf certificate from the CA (with an
SCT from the CT log), sign, submit the entry to the log, and package the
evidence as a bundle or a cosign legacy ``.sig`` layer.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers.sigstore_stack.fulcio import CtLog, FulcioCa, GitHubClaims, spki_der
from tests.helpers.sigstore_stack.rekor import (
    LogEntry,
    RekorLog,
    b64,
    dsse_body,
    hashedrekord_body,
)

if TYPE_CHECKING:
    from cryptography import x509

    from tests.helpers.sigstore_stack.tsa import TimestampAuthority

DEFAULT_ISSUER = "https://oidc.airlock.test"
INTOTO = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
BundleVersion = Literal["0.1", "0.2", "0.3"]
_MEDIA_TYPES: dict[str, str] = {
    "0.1": "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "0.2": "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "0.3": "application/vnd.dev.sigstore.bundle.v0.3+json",
}

__all__ = [
    "DEFAULT_ISSUER",
    "GitHubClaims",
    "LegacySignature",
    "SignedArtifact",
    "SigstoreStack",
]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding (DSSE protocol.md)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SignedArtifact:
    """What one signing produced: enough to write a bundle of any version."""

    certificate: x509.Certificate | None
    chain: tuple[x509.Certificate, ...]
    entry: LogEntry
    signature: bytes
    artifact_digest: bytes | None = None  # message signatures
    envelope: dict[str, Any] | None = None  # DSSE
    public_key: ec.EllipticCurvePublicKey | None = None  # key-based signing

    def bundle(
        self,
        *,
        version: BundleVersion = "0.3",
        promise: bool = True,
        proof: bool = True,
        checkpoint: bool = True,
        include_chain: bool = False,
    ) -> dict[str, Any]:
        """Return the Sigstore bundle as a JSON object.

        Args:
            version: bundle media type version.
            promise: include the inclusion promise (SET).
            proof: include the inclusion proof.
            checkpoint: include the proof's checkpoint.
            include_chain: for v0.1/v0.2, also list the CA certificates after
                the leaf, as some old clients did.
        """
        material: dict[str, Any] = {}
        if self.certificate is None:
            if self.public_key is None:
                msg = "a key-based signature needs its public key"
                raise ValueError(msg)
            hint = hashlib.sha256(spki_der(self.public_key)).digest()
            material["publicKey"] = {"hint": b64(hint)}
        elif version == "0.3":
            material["certificate"] = {"rawBytes": b64(_der(self.certificate))}
        else:
            certs = [self.certificate, *(self.chain if include_chain else ())]
            material["x509CertificateChain"] = {
                "certificates": [{"rawBytes": b64(_der(c))} for c in certs]
            }
        material["tlogEntries"] = [
            self.entry.bundle_json(promise=promise, proof=proof, checkpoint=checkpoint)
        ]
        bundle: dict[str, Any] = {
            "mediaType": _MEDIA_TYPES[version],
            "verificationMaterial": material,
        }
        if self.envelope is not None:
            bundle["dsseEnvelope"] = self.envelope
        else:
            bundle["messageSignature"] = {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": b64(self.artifact_digest or b""),
                },
                "signature": b64(self.signature),
            }
        return bundle

    def bundle_bytes(self, **kwargs: Any) -> bytes:
        """The bundle serialised as a ``*.sigstore.json`` file holds it."""
        return json.dumps(self.bundle(**kwargs), indent=2).encode()


@dataclass(frozen=True)
class LegacySignature:
    """A cosign legacy signature: one layer of a ``sha256-<hex>.sig`` image."""

    payload: bytes
    annotations: dict[str, str]
    signed: SignedArtifact

    @property
    def layer_digest(self) -> str:
        """``sha256:<hex>`` of the payload blob."""
        return "sha256:" + hashlib.sha256(self.payload).hexdigest()


@dataclass
class SigstoreStack:
    """CA, CT log and transparency log of one local Sigstore instance.

    Args:
        now: the instance's clock; certificates and log times derive from it.
    """

    now: datetime
    issuer: str = DEFAULT_ISSUER
    tsa: TimestampAuthority | None = None  # listed in the trusted root when set
    ca: FulcioCa = field(init=False)
    ct_log: CtLog = field(init=False)
    rekor: RekorLog = field(init=False)

    def __post_init__(self) -> None:
        self.service_start = self.now - timedelta(days=30)
        self.ca = FulcioCa(not_before=self.service_start)
        self.ct_log = CtLog()
        self.rekor = RekorLog()

    # -- signing --------------------------------------------------------------

    def _certificate(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        identity: str,
        when: datetime,
        github: GitHubClaims | None,
        issuer: str | None,
        issuer_v1: str | None = None,
        extra_sans: tuple[str, ...] = (),
        issuer_v2_raw: bytes | None = None,
    ) -> x509.Certificate:
        return self.ca.issue(
            public_key=key.public_key(),
            san=identity,
            issuer=issuer or self.issuer,
            when=when,
            ct_log=self.ct_log,
            github=github,
            issuer_v1=issuer_v1,
            extra_sans=extra_sans,
            issuer_v2_raw=issuer_v2_raw,
        )

    def sign_blob(
        self,
        data: bytes,
        *,
        identity: str = "dev@airlock.test",
        issuer: str | None = None,
        when: datetime | None = None,
        github: GitHubClaims | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        integrated_after: timedelta = timedelta(seconds=2),
        issuer_v1: str | None = None,
        extra_sans: tuple[str, ...] = (),
        issuer_v2_raw: bytes | None = None,
    ) -> SignedArtifact:
        """Sign ``data`` keylessly (or with ``key``) and log a hashedrekord entry.

        Args:
            data: the artifact.
            identity: the certificate SAN (email, or URI with ``://``).
            issuer: the OIDC issuer (default: the stack's).
            when: the certificate's notBefore (default: ``now``).
            github: GitHub workflow claims for the certificate.
            key: sign with this long-lived key instead: no certificate.
            integrated_after: log integration time relative to ``when``; past
                ten minutes the certificate has expired at integration.
            issuer_v1: a different value for the deprecated issuer OID.
            extra_sans: more SAN values in the certificate.
            issuer_v2_raw: raw bytes for the ``.1.8`` issuer extension.
        """
        when = when or self.now
        digest = hashlib.sha256(data).digest()
        if key is None:
            signing_key = ec.generate_private_key(ec.SECP256R1())
            cert: x509.Certificate | None = self._certificate(
                signing_key,
                identity=identity,
                when=when,
                github=github,
                issuer=issuer,
                issuer_v1=issuer_v1,
                extra_sans=extra_sans,
                issuer_v2_raw=issuer_v2_raw,
            )
            verifier_pem = _pem(cert)  # type: ignore[arg-type]
        else:
            signing_key, cert = key, None
            verifier_pem = key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        signature = signing_key.sign(data, ec.ECDSA(hashes.SHA256()))
        body = hashedrekord_body(
            digest_hex=digest.hex(), signature=signature, verifier_pem=verifier_pem
        )
        entry = self.rekor.append(
            body,
            kind="hashedrekord",
            version="0.0.1",
            when=when + integrated_after,
            filler_after=2,
        )
        return SignedArtifact(
            certificate=cert,
            chain=(self.ca.intermediate, self.ca.root),
            entry=entry,
            signature=signature,
            artifact_digest=digest,
            public_key=None if key is None else key.public_key(),
        )

    def attest(
        self,
        subjects: dict[str, str],
        *,
        predicate_type: str = "https://slsa.dev/provenance/v1",
        predicate: dict[str, Any] | None = None,
        identity: str = "dev@airlock.test",
        issuer: str | None = None,
        when: datetime | None = None,
        github: GitHubClaims | None = None,
        raw_statement: dict[str, Any] | None = None,
        raw_payload: bytes | None = None,
        annotations: dict[str, str] | None = None,
    ) -> SignedArtifact:
        """Sign an in-toto v1 statement in a DSSE envelope and log a dsse entry.

        Args:
            subjects: subject name to ``sha256`` hex digest.
            predicate_type: the statement's predicate type.
            predicate: the predicate body.
            identity: the certificate SAN.
            issuer: the OIDC issuer (default: the stack's).
            when: the certificate's notBefore (default: ``now``).
            github: GitHub workflow claims for the certificate.
            raw_statement: sign this statement instead of building one.
            raw_payload: sign these exact payload bytes (tests of hostile JSON).
            annotations: each subject's annotations (where cosign v3 puts ``-a``).
        """
        when = when or self.now
        statement = raw_statement or {
            "_type": STATEMENT_V1,
            "subject": [
                {"name": n, "digest": {"sha256": d}}
                | ({"annotations": annotations} if annotations else {})
                for n, d in subjects.items()
            ],
            "predicateType": predicate_type,
            "predicate": predicate if predicate is not None else {},
        }
        payload = raw_payload or json.dumps(statement, separators=(",", ":")).encode()
        signing_key = ec.generate_private_key(ec.SECP256R1())
        cert = self._certificate(
            signing_key, identity=identity, when=when, github=github, issuer=issuer
        )
        signature = signing_key.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": b64(payload),
            "payloadType": INTOTO,
            "signatures": [{"sig": b64(signature), "keyid": ""}],
        }
        envelope_json = json.dumps(envelope, separators=(",", ":")).encode()
        body = dsse_body(
            envelope_json=envelope_json,
            payload=payload,
            signature=signature,
            verifier_pem=_pem(cert),
        )
        entry = self.rekor.append(
            body,
            kind="dsse",
            version="0.0.1",
            when=when + timedelta(seconds=2),
            filler_after=1,
        )
        return SignedArtifact(
            certificate=cert,
            chain=(self.ca.intermediate, self.ca.root),
            entry=entry,
            signature=signature,
            envelope=envelope,
        )

    def sign_image_legacy(
        self,
        manifest_digest: str,
        *,
        reference: str,
        identity: str = "dev@airlock.test",
        annotations: dict[str, str] | None = None,
        when: datetime | None = None,
    ) -> LegacySignature:
        """Sign an image the way ``cosign sign`` (v2, legacy tags) does.

        Args:
            manifest_digest: ``sha256:<hex>`` of the image manifest.
            reference: the repository the signer names (``docker-reference``).
            identity: the certificate SAN.
            annotations: cosign ``-a`` annotations for the payload.
            when: the certificate's notBefore (default: ``now``).
        """
        payload = json.dumps(
            {
                "critical": {
                    "identity": {"docker-reference": reference},
                    "image": {"docker-manifest-digest": manifest_digest},
                    "type": "cosign container image signature",
                },
                "optional": annotations,
            },
            separators=(",", ":"),
        ).encode()
        signed = self.sign_blob(payload, identity=identity, when=when)
        if signed.certificate is None:
            msg = "a keyless signature has a certificate"
            raise AssertionError(msg)
        layer_annotations = {
            "dev.cosignproject.cosign/signature": b64(signed.signature),
            "dev.sigstore.cosign/certificate": _pem(signed.certificate).decode(),
            "dev.sigstore.cosign/chain": b"".join(
                _pem(c) for c in signed.chain
            ).decode(),
            "dev.sigstore.cosign/bundle": signed.entry.cosign_bundle_annotation(),
        }
        return LegacySignature(
            payload=payload, annotations=layer_annotations, signed=signed
        )

    # -- trust ----------------------------------------------------------------

    def trusted_root(
        self, *, ca_end: datetime | None = None, tlog_end: datetime | None = None
    ) -> dict[str, Any]:
        """The ``trusted_root.json`` describing this instance.

        Args:
            ca_end: end of the CA's validity window (default: open).
            tlog_end: end of the Rekor key's validity window (default: open).
        """

        def window(end: datetime | None) -> dict[str, str]:
            valid = {"start": _iso(self.service_start)}
            if end is not None:
                valid["end"] = _iso(end)
            return valid

        def log(
            url: str,
            key: ec.EllipticCurvePrivateKey,
            log_id: bytes,
            end: datetime | None,
        ) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki_der(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": window(end),
                },
                "logId": {"keyId": b64(log_id)},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(self.rekor.url, self.rekor.key, self.rekor.log_id, tlog_end)],
            "certificateAuthorities": [
                {
                    "subject": {
                        "organization": "airlock-test",
                        "commonName": "airlock-test-intermediate",
                    },
                    "uri": self.ca.url,
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64(_der(self.ca.intermediate))},
                            {"rawBytes": b64(_der(self.ca.root))},
                        ]
                    },
                    "validFor": window(ca_end),
                }
            ],
            "ctlogs": [log(self.ct_log.url, self.ct_log.key, self.ct_log.log_id, None)],
            "timestampAuthorities": [self.tsa.trusted_root_entry()] if self.tsa else [],
        }

    def trusted_root_json(self, **kwargs: Any) -> bytes:
        """``trusted_root`` serialised."""
        return json.dumps(self.trusted_root(**kwargs), indent=2).encode()

    def signing_config_json(self) -> bytes:
        """A ``signing_config`` v0.2 naming this instance's services."""
        start = _iso(self.service_start)

        def service(url: str, version: int) -> dict[str, Any]:
            return {
                "url": url,
                "majorApiVersion": version,
                "validFor": {"start": start},
                "operator": "airlock-test",
            }

        config = {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service(self.ca.url, 1)],
            "oidcUrls": [service(self.issuer, 1)],
            "rekorTlogUrls": [service(self.rekor.url, 1)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        }
        return json.dumps(config, indent=2).encode()


def envelope_payload(envelope: dict[str, Any]) -> bytes:
    """The decoded payload of a DSSE envelope."""
    return base64.b64decode(envelope["payload"])
