"""File keys for sites without an HSM: cosign's encrypted format, or plain PEM.

cosign's ``cosign.key`` (docs/signing.md §5): PEM ``ENCRYPTED SIGSTORE PRIVATE
KEY`` (or the older ``ENCRYPTED COSIGN PRIVATE KEY``) holding JSON: scrypt
parameters and salt, a NaCl secretbox nonce and the ciphertext of a PKCS#8
DER key. ``cryptography`` has no XSalsa20-Poly1305, so the box is opened with
PyNaCl. The password comes from ``COSIGN_PASSWORD`` or a prompt, never a flag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import TYPE_CHECKING

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from appliance.core.errors import SignerError
from trustroot import strict_json

if TYPE_CHECKING:
    from appliance.core import keys

_ENCRYPTED = re.compile(
    rb"-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----\s*(.+?)\s*-----END ENCRYPTED \1 PRIVATE KEY-----",
    re.DOTALL,
)
# The three parameter sets cosign and go-securesystemslib write.
_SCRYPT_PARAMS = {(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)}


def is_encrypted_cosign_key(pem: bytes) -> bool:
    """Tell whether ``pem`` is a cosign encrypted private key."""
    return _ENCRYPTED.search(pem) is not None


def decrypt_cosign_key(pem: bytes, password: str) -> ec.EllipticCurvePrivateKey:
    """Open a cosign encrypted private key.

    Raises:
        SignerError: malformed, unsupported parameters, wrong password, or
            not an EC key.
    """
    match = _ENCRYPTED.search(pem)
    if match is None:
        raise SignerError("not a cosign encrypted private key")
    try:
        doc = strict_json.loads(base64.b64decode(match.group(2), validate=False))
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = (
            int(kdf["params"]["N"]),
            int(kdf["params"]["r"]),
            int(kdf["params"]["p"]),
        )
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        ciphertext = base64.b64decode(doc["ciphertext"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        # StrictJSONError is a ValueError: duplicates, NaN, deep nesting.
        raise SignerError("the cosign key file is malformed") from exc
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise SignerError(
            f"unsupported cosign key encryption {kdf.get('name')}/{cipher.get('name')}"
        )
    if params not in _SCRYPT_PARAMS:
        raise SignerError(
            f"unsupported scrypt parameters N={params[0]} r={params[1]} p={params[2]}"
        )
    n, r, p = params
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError as exc:  # a surrogate-escaped, non-UTF-8 variable
        raise SignerError("the key password is not UTF-8 text") from exc
    key = hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024
    )
    try:
        der = nacl.secret.SecretBox(key).decrypt(ciphertext, nonce)
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise SignerError(
            "wrong password for the cosign key (or a damaged key file)"
        ) from exc
    return _ec_private(der, pem=False)


def _ec_private(data: bytes, *, pem: bool) -> ec.EllipticCurvePrivateKey:
    try:
        key = (
            serialization.load_pem_private_key(data, None)
            if pem
            else serialization.load_der_private_key(data, None)
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignerError(f"not a usable private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SignerError(
            "only ECDSA P-256 signing keys are supported (cosign's default)"
        )
    return key


def load_pem_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """An unencrypted PEM private key (PKCS#8 or SEC1), P-256 only.

    Raises:
        SignerError: not such a key.
    """
    return _ec_private(pem, pem=True)


class FileSigner:
    """Signs with a private key held in memory (from a file)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    @property
    def public_key(self) -> keys.PublicKey:
        """The key's public half."""
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Return a DER ECDSA-SHA256 signature over ``data``."""
        return self.sign_digest(hashlib.sha256(data).digest())

    def sign_digest(self, sha256_digest: bytes) -> bytes:
        """Return a DER ECDSA signature over a SHA-256 digest."""
        return self._key.sign(sha256_digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
