"""Open the key ``--key`` names: a ``pkcs11:`` URI (an HSM key) or a key file.

Both programs sign through this: the appliance (``sign-blob``, ``sign``,
``attest``, approvals, countersignatures) and the exporter (``bundle-tools
revocations sign``). Secrets never come from a flag: a PIN from the URI's
``pin-source``/``pin-value``, ``COSIGN_PKCS11_PIN`` or ``secrets_handler``; a
key file's password from ``COSIGN_PASSWORD`` or ``secrets_handler``. An HSM
session stays open for the whole ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from appliance.core.errors import SignerError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from appliance.signer.interface import SecretsHandler, Signer

# cosign's variable for the password of an encrypted key file.
PASSWORD_ENV = "COSIGN_PASSWORD"  # noqa: S105 - the variable's name, not a password


@contextlib.contextmanager
def open_signer(
    key: str,
    *,
    module_override: str | None = None,
    secrets_handler: SecretsHandler | None = None,
    environ: dict[str, str] | None = None,
) -> Iterator[Signer]:
    """A signer for ``key`` (a ``pkcs11:`` URI, cosign.key or a PEM private key).

    Raises:
        SignerError: the module, token, PIN, password or key is wrong.
        InputError: the key file cannot be read.
    """
    environ = dict(os.environ) if environ is None else environ
    if key.startswith("pkcs11:"):
        from appliance.signer import pkcs11, pkcs11_uri  # noqa: PLC0415 - pkcs11 only for HSM keys

        uri = pkcs11_uri.parse(key)
        lib = pkcs11.load(pkcs11.module_path(uri.module_path, override=module_override))
        token = pkcs11.select_token(lib, uri)
        pin = pkcs11.resolve_pin(uri, secrets_handler=secrets_handler, environ=environ)
        with pkcs11.TokenSession(token, pin=pin) as session:
            del pin
            yield session.signer(uri)
        return
    from appliance.signer import filekey  # noqa: PLC0415 - PyNaCl only for key files

    path = Path(key)
    pem = inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES)
    if filekey.is_encrypted_cosign_key(pem):
        password = environ.get(PASSWORD_ENV)
        if password is None:
            if secrets_handler is None:
                msg = (
                    f"{path.name} is encrypted: set {PASSWORD_ENV} or run interactively"
                )
                raise SignerError(msg)
            password = secrets_handler(f"Password for {path.name}: ")
        yield filekey.FileSigner(filekey.decrypt_cosign_key(pem, password))
    else:
        yield filekey.FileSigner(filekey.load_pem_private_key(pem))


@contextlib.contextmanager
def open_signers(
    keys: Sequence[str],
    *,
    module_override: str | None = None,
    secrets_handler: SecretsHandler | None = None,
    environ: dict[str, str] | None = None,
) -> Iterator[list[Signer]]:
    """Signers for several keys at once (``trust publish``: root and online keys).

    Keys on one token share one logged-in session: every session an
    application opens on a token shares its login state (PKCS#11 v2.40
    §5.6), so a second login is refused (``CKR_USER_ALREADY_LOGGED_IN``) and
    closing one session would log the other out.

    Raises:
        SignerError: a module, token, PIN, password or key is wrong.
        InputError: a key file cannot be read.
    """
    with contextlib.ExitStack() as stack:
        sessions: dict[tuple[str, int], Any] = {}  # one TokenSession per token
        signers: list[Signer] = []
        for key in keys:
            if not key.startswith("pkcs11:"):
                signers.append(
                    stack.enter_context(
                        open_signer(
                            key,
                            module_override=module_override,
                            secrets_handler=secrets_handler,
                            environ=environ,
                        )
                    )
                )
                continue
            from appliance.signer import pkcs11, pkcs11_uri  # noqa: PLC0415 - pkcs11 only for HSM keys

            uri = pkcs11_uri.parse(key)
            path = pkcs11.module_path(uri.module_path, override=module_override)
            token = pkcs11.select_token(pkcs11.load(path), uri)
            ident = (path, int(token.slot.slot_id))
            session = sessions.get(ident)
            if session is None:
                pin = pkcs11.resolve_pin(
                    uri, secrets_handler=secrets_handler, environ=environ
                )
                session = stack.enter_context(pkcs11.TokenSession(token, pin=pin))
                del pin
                sessions[ident] = session
            signers.append(session.signer(uri))
        yield signers
