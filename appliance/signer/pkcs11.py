"""HSM keys through PKCS#11 (python-pkcs11): the only module importing ``pkcs11``.

Tokens are selected by label (or ``slot-id``), never by slot position: slot
IDs are random on SoftHSM and unstable on real HSMs. Signing hashes on the
host and asks the token for raw ``CKM_ECDSA`` (portable: SoftHSM 2.6 has no
``CKM_ECDSA_SHA256``), converts ``r || s`` to DER, and checks the signature
with the public key before handing it out (docs/signing.md §3). One session is
opened per :class:`TokenSession` and reused for every signature.

PINs are passed to the token and nowhere else: no message, ``repr`` or log
line here ever contains one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pkcs11
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from airlock_io import inputs
from appliance.core import keys
from appliance.core.errors import InputError, SignerError

if TYPE_CHECKING:
    from types import TracebackType

    from appliance.core.keys import PublicKey
    from appliance.signer.interface import SecretsHandler
    from appliance.signer.pkcs11_uri import Pkcs11Uri

MODULE_ENV = "COSIGN_PKCS11_MODULE_PATH"
PIN_ENV = "COSIGN_PKCS11_PIN"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """A token present in a slot."""

    label: str
    slot_id: int
    manufacturer: str
    model: str
    serial: str


def module_path(
    uri_module: str | None,
    *,
    override: str | None = None,
    environ: dict[str, str] | None = None,
) -> str:
    """Which PKCS#11 module to load: the URI's, then ``--module-path``, then the env.

    Raises:
        SignerError: none given, or the path is not an absolute regular file.
    """
    environ = dict(os.environ) if environ is None else environ
    path = uri_module or override or environ.get(MODULE_ENV)
    if not path:
        raise SignerError(
            f"no PKCS#11 module: give module-path in the key URI, --module-path, or set {MODULE_ENV}"
        )
    if not Path(path).is_absolute() or not Path(path).is_file():
        raise SignerError(f"PKCS#11 module not found: {path}")
    return path


def load(path: str) -> Any:  # noqa: ANN401 - python-pkcs11 ships no types
    """Load (or reuse) the PKCS#11 module at ``path``.

    Raises:
        SignerError: the module cannot be loaded.
    """
    try:
        return pkcs11.lib(path)
    except p11.PKCS11Error as exc:
        raise SignerError(f"cannot load PKCS#11 module {path}: {exc}") from exc


def _serial(token: Any) -> str:  # noqa: ANN401
    # CK_TOKEN_INFO.serialNumber: python-pkcs11 hands back the raw bytes.
    raw = token.serial
    return raw.decode(errors="replace").strip() if isinstance(raw, bytes) else str(raw)


def list_tokens(lib: Any) -> list[TokenInfo]:  # noqa: ANN401
    """Every initialised token the module shows, in slot order."""
    found = []
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except p11.PKCS11Error:
            continue
        if not token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
            continue
        found.append(
            TokenInfo(
                label=token.label,
                slot_id=slot.slot_id,
                manufacturer=token.manufacturer_id,
                model=token.model,
                serial=_serial(token),
            )
        )
    return found


def select_token(lib: Any, uri: Pkcs11Uri) -> Any:  # noqa: ANN401
    """The token the URI names (``slot-id`` wins over ``token``).

    Raises:
        SignerError: no such token; the message lists the tokens present.
    """
    uri.require_token()
    for slot in lib.get_slots(token_present=True):
        if uri.slot_id is not None and slot.slot_id != uri.slot_id:
            continue
        try:
            token = slot.get_token()
        except p11.PKCS11Error:
            continue
        if uri.slot_id is None and token.label != uri.token:
            continue
        if uri.serial is not None and _serial(token) != uri.serial:
            continue
        return token
    present = (
        ", ".join(f"{t.label!r} (slot-id {t.slot_id})" for t in list_tokens(lib))
        or "none"
    )
    wanted = f"slot-id {uri.slot_id}" if uri.slot_id is not None else repr(uri.token)
    raise SignerError(f"token {wanted} not found; tokens present: {present}")


def _text_secret(value: str, what: str) -> str:
    """A secret as UTF-8 text; a non-UTF-8 one (surrogate-escaped) is refused."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SignerError(f"{what} is not UTF-8 text") from exc
    return value


def resolve_pin(
    uri: Pkcs11Uri,
    *,
    secrets_handler: SecretsHandler | None,
    environ: dict[str, str] | None = None,
) -> str:
    """The user PIN: from the URI, then ``COSIGN_PKCS11_PIN``, then a prompt.

    Raises:
        SignerError: no source gave one, or it is not UTF-8 text.
    """
    if uri.pin_value is not None:
        return _text_secret(uri.pin_value, "the URI's pin-value")
    if uri.pin_source is not None:
        source = (
            uri.pin_source.removeprefix("file:")
            if uri.pin_source.startswith("file:")
            else uri.pin_source
        )
        try:
            raw = inputs.read_file(
                Path(source), what="pin-source file", max_bytes=inputs.MAX_SECRET_BYTES
            )
        except InputError as exc:
            # Name the problem, never the file's content.
            raise SignerError(exc.message) from exc
        try:
            return raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise SignerError("the pin-source file is not UTF-8 text") from exc
    environ = dict(os.environ) if environ is None else environ
    if environ.get(PIN_ENV):
        return _text_secret(environ[PIN_ENV], PIN_ENV)
    if secrets_handler is None:
        raise SignerError(
            f"the token needs a PIN: set {PIN_ENV}, pin-source in the key URI, or run interactively"
        )
    return _text_secret(
        secrets_handler(f"PIN for token {uri.token or uri.slot_id}: "), "the PIN"
    )


def _pin_error(exc: p11.PKCS11Error) -> SignerError:
    if isinstance(exc, p11.PinIncorrect):
        return SignerError("PIN incorrect")
    if isinstance(exc, p11.PinLocked):
        return SignerError(
            "PIN locked: the token refuses logins until the security officer unlocks it"
        )
    if isinstance(exc, p11.PinExpired):
        return SignerError("PIN expired: set a new one on the token")
    if isinstance(exc, p11.PinLenRange | p11.PinInvalid):
        return SignerError("PIN refused by the token: wrong length or characters")
    if isinstance(exc, p11.UserPinNotInitialized):
        return SignerError("the token's user PIN is not initialised")
    return SignerError(f"login failed: {type(exc).__name__}")


class TokenSession:
    """One logged-in session on one token, reused for every operation."""

    def __init__(self, token: Any, *, pin: str, rw: bool = False) -> None:  # noqa: ANN401
        self.token = token
        try:
            self.session = token.open(user_pin=pin, rw=rw)
        except p11.PKCS11Error as exc:
            raise _pin_error(
                exc
            ) from None  # from None: nothing of the login attempt is kept

    def __enter__(self) -> Self:
        """Use as a context manager; the session closes on exit."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the session (logging out)."""
        self.close()

    def close(self) -> None:
        """Close the session."""
        try:
            self.session.close()
        except p11.PKCS11Error:
            return

    def _objects(self, object_class: ObjectClass, uri: Pkcs11Uri) -> list[Any]:
        template: dict[Attribute, Any] = {
            Attribute.CLASS: object_class,
            Attribute.KEY_TYPE: KeyType.EC,
        }
        if uri.id is not None:  # id wins over object, as in cosign
            template[Attribute.ID] = uri.id
        elif uri.object is not None:
            template[Attribute.LABEL] = uri.object
        return list(self.session.get_objects(template))

    def signer(self, uri: Pkcs11Uri) -> Pkcs11Signer:
        """The signer for the key the URI names.

        Raises:
            SignerError: no such key, several match, or it is not EC.
        """
        uri.require_object()
        private = self._objects(ObjectClass.PRIVATE_KEY, uri)
        public = self._objects(ObjectClass.PUBLIC_KEY, uri)
        name = uri.object if uri.id is None else "id " + uri.id.hex()
        if not private:
            raise SignerError(
                f"no EC private key {name!r} on token {self.token.label!r}"
            )
        if len(private) > 1:
            raise SignerError(
                f"{len(private)} private keys match {name!r}: name the key by id"
            )
        if len(public) != 1:
            raise SignerError(
                f"no single public key object for {name!r} on token {self.token.label!r}"
            )
        return Pkcs11Signer(
            private[0],
            keys.load_der(encode_ec_public_key(public[0]), where=f"token key {name}"),
        )

    def keygen(self, uri: Pkcs11Uri) -> tuple[bytes, PublicKey]:
        """Generate a sign-only, non-extractable P-256 key; return (id, public key).

        Raises:
            SignerError: a key with that label or id exists, or the token refuses.
        """
        uri.require_token()
        if uri.object is None:
            raise InputError("keygen needs object=LABEL in the key URI", where="--key")
        if self._objects(ObjectClass.PRIVATE_KEY, uri) or self._objects(
            ObjectClass.PRIVATE_KEY, _by_label(uri)
        ):
            raise SignerError(
                f"a key named {uri.object!r} already exists on token {self.token.label!r}"
            )
        key_id = uri.id or secrets.token_bytes(8)
        try:
            params = self.session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            public, _ = params.generate_keypair(
                store=True,
                label=uri.object,
                id=key_id,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                # Never leaves the token, signs and nothing else (no DERIVE).
                private_template={
                    Attribute.EXTRACTABLE: False,
                    Attribute.SENSITIVE: True,
                    Attribute.PRIVATE: True,
                    Attribute.DERIVE: False,
                },
            )
        except p11.PKCS11Error as exc:
            raise SignerError(
                f"the token refused to generate the key: {type(exc).__name__}"
            ) from exc
        return key_id, keys.load_der(
            encode_ec_public_key(public), where="generated key"
        )

    def key_uris(self, uri: Pkcs11Uri) -> list[str]:
        """URIs of the EC private keys on the token."""
        objects = self.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
        return sorted(
            uri.for_key(label=key.label or "", key_id=key.id or b"") for key in objects
        )


def _by_label(uri: Pkcs11Uri) -> Pkcs11Uri:
    return replace(uri, id=None)


class Pkcs11Signer:
    """Signs with a key that stays in the token."""

    def __init__(self, private: Any, public: PublicKey) -> None:  # noqa: ANN401
        if (
            not isinstance(public, ec.EllipticCurvePublicKey)
            or public.curve.name != "secp256r1"
        ):
            raise SignerError(
                "only ECDSA P-256 token keys are supported for signing (cosign's default)"
            )
        self._private = private
        self._public = public

    @property
    def public_key(self) -> PublicKey:
        """The key's public half, read from the token."""
        return self._public

    def sign(self, data: bytes) -> bytes:
        """Hash on the host, sign on the token, return a checked DER signature.

        Raises:
            SignerError: the token refused, or returned a signature that does
                not verify.
        """
        return self.sign_digest(hashlib.sha256(data).digest())

    def sign_digest(self, sha256_digest: bytes) -> bytes:
        """Sign a SHA-256 digest on the token (raw CKM_ECDSA); return DER.

        Raises:
            SignerError: the token refused, or returned a signature that does
                not verify.
        """
        try:
            raw = self._private.sign(sha256_digest, mechanism=Mechanism.ECDSA)
        except p11.PKCS11Error as exc:
            raise SignerError(
                f"the token refused to sign: {type(exc).__name__}"
            ) from exc
        if len(raw) % 2:
            raise SignerError("the token returned a malformed signature")
        half = len(raw) // 2
        der = utils.encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )
        try:
            self._public.verify(
                der, sha256_digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))
            )
        except InvalidSignature as exc:
            raise SignerError(
                "the token returned a signature that does not verify"
            ) from exc
        return der
