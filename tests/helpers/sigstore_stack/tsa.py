"""An RFC 3161 timestamp authority for tests: OpenSSL's own ``openssl ts``.

The stamps are minted by the real OpenSSL TSA (``openssl ts -query`` then
``openssl ts -reply``), signed by a leaf certificate with the critical
``timeStamping`` extended key usage under a root made here, so the
appliance's RFC 3161 check (rfc3161-client) meets a TSA implementation it
was not written against. OpenSSL stamps the machine's clock: ``genTime`` is
the real time, so a test signing with this TSA runs its stack at the real
time too.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CONFIG = """\
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = {dir}
serial = $dir/serial
signer_cert = $dir/leaf.pem
signer_key = $dir/leaf.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airlock-test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class TimestampAuthority:
    """A TSA root and signing leaf; :meth:`stamp` runs ``openssl ts``.

    Args:
        not_before: the certificates' start (before any stamp they sign).
    """

    not_before: datetime
    url: str = "https://tsa.airlock.test"
    root_key: ec.EllipticCurvePrivateKey = field(init=False)
    root: x509.Certificate = field(init=False)
    key: ec.EllipticCurvePrivateKey = field(init=False)
    leaf: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.key = ec.generate_private_key(ec.SECP256R1())
        end = self.not_before + timedelta(days=3650)
        self.root = (
            x509.CertificateBuilder()
            .subject_name(_name("airlock-test-tsa-root"))
            .issuer_name(_name("airlock-test-tsa-root"))
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(end)
            .add_extension(
                x509.BasicConstraints(ca=True, path_length=None), critical=True
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.root_key, hashes.SHA256())
        )
        self.leaf = (
            x509.CertificateBuilder()
            .subject_name(_name("airlock-test-tsa"))
            .issuer_name(self.root.subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(end)
            .add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                critical=True,
            )
            .sign(self.root_key, hashes.SHA256())
        )

    def stamp(self, data: bytes) -> bytes:
        """A DER ``TimeStampResp`` over SHA-256 of ``data``, from ``openssl ts``."""
        pem = serialization.Encoding.PEM
        with tempfile.TemporaryDirectory(prefix="airlock-tsa-") as tmp:
            work = Path(tmp)
            (work / "leaf.pem").write_bytes(self.leaf.public_bytes(pem))
            (work / "leaf.key").write_bytes(
                self.key.private_bytes(
                    pem,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            (work / "serial").write_text("01\n")
            (work / "tsa.cnf").write_text(_CONFIG.format(dir=work))
            (work / "data").write_bytes(data)
            openssl = ["openssl", "ts"]
            subprocess.run(
                [
                    *openssl,
                    "-query",
                    "-data",
                    str(work / "data"),
                    "-sha256",
                    "-cert",
                    "-out",
                    str(work / "req.tsq"),
                ],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    *openssl,
                    "-reply",
                    "-config",
                    str(work / "tsa.cnf"),
                    "-section",
                    "tsa_config",
                    "-queryfile",
                    str(work / "req.tsq"),
                    "-out",
                    str(work / "resp.tsr"),
                ],
                check=True,
                capture_output=True,
            )
            return (work / "resp.tsr").read_bytes()

    def trusted_root_entry(self) -> dict[str, object]:
        """This TSA as a ``timestampAuthorities`` entry of a trusted root."""
        der = serialization.Encoding.DER
        return {
            "subject": {
                "organization": "airlock-test",
                "commonName": "airlock-test-tsa",
            },
            "uri": self.url,
            "certChain": {
                "certificates": [
                    {"rawBytes": base64.b64encode(c.public_bytes(der)).decode()}
                    for c in (self.leaf, self.root)
                ]
            },
            "validFor": {"start": self.not_before.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
