"""Public keys and signature checks, dispatched on the key's type.

A signature check either returns or raises
:class:`~appliance.core.errors.VerificationError`; it never returns a bool.
ECDSA hashes with the curve's customary hash unless told otherwise (Sigstore's
P-384/P-521 keys sign with SHA-384/SHA-512; sigstore-go also accepts SHA-256
for them, and so do we), Ed25519 is pure, RSA is PKCS#1 v1.5 or PSS.
"""

from __future__ import annotations

import hashlib
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from appliance.core.errors import InputError, Reason, VerificationError

PublicKey: TypeAlias = (
    ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
)

_CURVE_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
_HASHLIB: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# The signature algorithms, built once: each is an immutable description
# (a hash and a flag), and building one per check cost more than its use.
_ECDSA_BY_CURVE: dict[str, ec.ECDSA] = {
    curve: ec.ECDSA(hash_type()) for curve, hash_type in _CURVE_HASH.items()
}
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_ECDSA_PREHASHED: dict[str, tuple[ec.ECDSA, int]] = {
    name: (ec.ECDSA(utils.Prehashed(hash_type())), hash_type().digest_size)
    for name, hash_type in _HASHLIB.items()
}


def load_der(data: bytes, *, where: str) -> PublicKey:
    """Load a DER SubjectPublicKeyInfo of a supported type."""
    try:
        key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        msg = "not a usable public key"
        raise InputError(msg, where=where) from exc
    return supported(key, where)


def load_pem(data: bytes, *, where: str) -> PublicKey:
    """Load a PEM ``PUBLIC KEY`` of a supported type."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        msg = "not a PEM public key"
        raise InputError(msg, where=where) from exc
    return supported(key, where)


def supported(key: object, where: str) -> PublicKey:
    """Return ``key`` if it is of a type we verify with, else raise InputError."""
    if isinstance(
        key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
    ):
        return key
    msg = f"unsupported key type {type(key).__name__}"
    raise InputError(msg, where=where)


def spki_der(key: PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of ``key``."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_pem(key: PublicKey) -> bytes:
    """PEM SubjectPublicKeyInfo of ``key``."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PublicKey) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo (Rekor v1 log id, CT log id, cosign hint)."""
    return hashlib.sha256(spki_der(key)).digest()


def _fail(what: str, where: str | None) -> VerificationError:
    return VerificationError(
        f"{what} signature does not verify",
        reason=Reason.SIGNATURE_INVALID,
        where=where,
    )


def verify(
    key: PublicKey,
    signature: bytes,
    data: bytes,
    *,
    what: str,
    where: str | None = None,
) -> None:
    """Verify ``signature`` over ``data`` with ``key``.

    Raises:
        VerificationError: the signature does not verify (reason
            ``signature-invalid``).
    """
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):  # the usual key: tested first
            preferred = _ECDSA_BY_CURVE.get(key.curve.name, _ECDSA_SHA256)
            try:
                key.verify(signature, data, preferred)
            except InvalidSignature:
                if preferred is _ECDSA_SHA256:
                    raise
                # sigstore-go's compatibility fallback: P-384/P-521 over SHA-256.
                key.verify(signature, data, _ECDSA_SHA256)
            return
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return
        _verify_rsa(key, signature, data, hashes.SHA256(), prehashed=False)
    except InvalidSignature as exc:
        raise _fail(what, where) from exc


def verify_prehashed(  # noqa: PLR0913 - keyword-only labels, not inputs
    key: PublicKey,
    signature: bytes,
    digest: bytes,
    algorithm: str,
    *,
    what: str,
    where: str | None = None,
) -> None:
    """Verify ``signature`` over an already computed ``algorithm`` digest.

    Raises:
        VerificationError: the signature does not verify, or the key type
            cannot verify a prehashed message (pure Ed25519).
    """
    hash_type = _HASHLIB.get(algorithm)
    if hash_type is None or isinstance(key, ed25519.Ed25519PublicKey):
        msg = f"{what}: a {type(key).__name__} cannot verify a {algorithm} digest without the artifact"
        raise VerificationError(msg, reason=Reason.SIGNATURE_INVALID, where=where)
    prehashed, digest_size = _ECDSA_PREHASHED[algorithm]
    if digest_size != len(digest):
        msg = f"{what}: digest length does not fit {algorithm}"
        raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where=where)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, prehashed)
        else:
            _verify_rsa(key, signature, digest, hash_type(), prehashed=True)
    except InvalidSignature as exc:
        raise _fail(what, where) from exc


def _verify_rsa(
    key: rsa.RSAPublicKey,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm,
    *,
    prehashed: bool,
) -> None:
    chosen: hashes.HashAlgorithm | utils.Prehashed = (
        utils.Prehashed(algorithm) if prehashed else algorithm
    )
    try:
        key.verify(signature, data, padding.PKCS1v15(), chosen)
    except InvalidSignature:
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
        key.verify(signature, data, pss, chosen)
