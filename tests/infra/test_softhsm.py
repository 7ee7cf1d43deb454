"""The SoftHSM fixture: a real token; its signatures check with ``cryptography``."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)

if TYPE_CHECKING:
    from tests.helpers.softhsm import SoftHsm

pytestmark = pytest.mark.hsm


def _lib(hsm: SoftHsm) -> Any:  # python-pkcs11 ships no type information
    return pkcs11.lib(hsm.module_path)


def _keypair(hsm: SoftHsm, label: str) -> tuple[bytes, bytes, dict[str, bool]]:
    """Generate a sign-only P-256 key; sign a digest; return SPKI, DER sig, attrs."""
    token = _lib(hsm).get_token(token_label=hsm.token_label)
    digest = hashlib.sha256(b"approved release").digest()
    with token.open(rw=True, user_pin=hsm.user_pin) as session:
        params = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        pub, priv = params.generate_keypair(
            store=True,
            label=label,
            capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
            private_template={
                Attribute.EXTRACTABLE: False,
                Attribute.SENSITIVE: True,
                Attribute.PRIVATE: True,
            },
        )
        # python-pkcs11 defaults to ECDSA_SHA512 for EC keys: pass CKM_ECDSA and hash here.
        raw = priv.sign(digest, mechanism=Mechanism.ECDSA)
        attrs = {
            "sensitive": bool(priv[Attribute.SENSITIVE]),
            "extractable": bool(priv[Attribute.EXTRACTABLE]),
            "never_extractable": bool(priv[Attribute.NEVER_EXTRACTABLE]),
        }
        return encode_ec_public_key(pub), encode_ecdsa_signature(raw), attrs


def test_token_key_signs_and_cryptography_verifies(softhsm: SoftHsm) -> None:
    spki, der_sig, _ = _keypair(softhsm, "fixture-key-1")
    key = load_der_public_key(spki)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    digest = hashlib.sha256(b"approved release").digest()
    key.verify(der_sig, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_signature_does_not_verify_other_data(softhsm: SoftHsm) -> None:
    spki, der_sig, _ = _keypair(softhsm, "fixture-key-2")
    key = load_der_public_key(spki)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):
        key.verify(
            der_sig,
            hashlib.sha256(b"tampered release").digest(),
            ec.ECDSA(utils.Prehashed(hashes.SHA256())),
        )


def test_private_key_never_leaves_the_token(softhsm: SoftHsm) -> None:
    _, _, attrs = _keypair(softhsm, "fixture-key-3")
    assert attrs == {"sensitive": True, "extractable": False, "never_extractable": True}


def test_wrong_pin_is_refused(softhsm: SoftHsm) -> None:
    token = _lib(softhsm).get_token(token_label=softhsm.token_label)
    with pytest.raises(pkcs11.exceptions.PinIncorrect):
        token.open(user_pin="0000")


def test_unknown_token_label_is_not_found(softhsm: SoftHsm) -> None:
    with pytest.raises(pkcs11.exceptions.NoSuchToken):
        _lib(softhsm).get_token(token_label="no-such-token")


def test_session_is_private_to_this_run(softhsm: SoftHsm) -> None:
    """The token lives under the session's own directory, not the system's."""
    assert str(softhsm.conf_path.parent) in softhsm.conf_path.read_text()
    token = _lib(softhsm).get_token(token_label=softhsm.token_label)
    with token.open(user_pin=softhsm.user_pin) as session:
        labels = {
            k.label
            for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
        }
    assert labels <= {"fixture-key-1", "fixture-key-2", "fixture-key-3"}
