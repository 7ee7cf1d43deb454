"""Write cosign encrypted key files (docs/signing.md §5), independently of the product.

The product decrypts with ``hashlib.scrypt``; this helper encrypts with
``cryptography``'s Scrypt KDF, so the two implementations check each other.
"""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING

import nacl.secret
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


def encrypt_cosign_key(
    key: PrivateKeyTypes,
    password: str,
    *,
    n: int = 32768,
    label: str = "ENCRYPTED SIGSTORE PRIVATE KEY",
) -> bytes:
    """PEM of ``key`` encrypted as cosign does (scrypt + NaCl secretbox)."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt, nonce = os.urandom(32), os.urandom(24)
    box_key = Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(password.encode())
    ciphertext = nacl.secret.SecretBox(box_key).encrypt(der, nonce).ciphertext
    doc = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    body = base64.encodebytes(json.dumps(doc).encode()).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n".encode()
