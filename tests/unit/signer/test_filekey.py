"""cosign file keys: decrypted as cosign encrypts them; every failure is clean."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

from appliance.core.errors import SignerError
from appliance.signer.filekey import (
    FileSigner,
    decrypt_cosign_key,
    is_encrypted_cosign_key,
    load_pem_private_key,
)
from tests.helpers.cosign_keys import encrypt_cosign_key

KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    "label", ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"]
)
@pytest.mark.parametrize("password", ["correct horse", ""])
def test_decrypts_and_signs(label: str, password: str) -> None:
    pem = encrypt_cosign_key(KEY, password, label=label)
    assert is_encrypted_cosign_key(pem)
    signer = FileSigner(decrypt_cosign_key(pem, password))
    data = b"release"
    signature = signer.sign(data)
    KEY.public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))
    KEY.public_key().verify(
        signer.sign_digest(hashlib.sha256(data).digest()),
        hashlib.sha256(data).digest(),
        ec.ECDSA(utils.Prehashed(hashes.SHA256())),
    )


def test_wrong_password() -> None:
    with pytest.raises(SignerError, match="wrong password"):
        decrypt_cosign_key(encrypt_cosign_key(KEY, "right"), "wrong")


def test_unsupported_scrypt_parameters() -> None:
    with pytest.raises(SignerError, match="unsupported scrypt parameters N=16384"):
        decrypt_cosign_key(encrypt_cosign_key(KEY, "p", n=16384), "p")


@pytest.mark.parametrize(
    "pem",
    [
        b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGpzb24=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
        b"not a key",
    ],
)
def test_malformed_key_files(pem: bytes) -> None:
    with pytest.raises(SignerError):
        decrypt_cosign_key(pem, "p")


def test_non_p256_keys_are_refused() -> None:
    with pytest.raises(SignerError, match="P-256"):
        decrypt_cosign_key(
            encrypt_cosign_key(ed25519.Ed25519PrivateKey.generate(), "p"), "p"
        )
    with pytest.raises(SignerError, match="P-256"):
        load_pem_private_key(
            ec.generate_private_key(ec.SECP384R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def test_plain_pem_private_key() -> None:
    pem = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert not is_encrypted_cosign_key(pem)
    public = FileSigner(load_pem_private_key(pem)).public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.public_numbers() == KEY.public_key().public_numbers()
