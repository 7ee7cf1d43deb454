"""Signing commands: ``sign-blob``, ``public-key`` and ``pkcs11 tokens|keys|keygen``.

``--key`` is a ``pkcs11:`` URI (an HSM key) or a key file (cosign's encrypted
``cosign.key``, or a PEM private key). PINs and passwords come from the URI's
``pin-source``/``pin-value``, from ``COSIGN_PKCS11_PIN``/``COSIGN_PASSWORD``,
or from a prompt: never from a command-line flag, which would leak through
the process list and shell history.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.atomic import check_output, write_output
from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.cli import env
from appliance.core.errors import InputError, SignerError, redact

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from appliance.core.keys import PublicKey
    from appliance.signer.interface import SecretsHandler, Signer


def _prompt(prompt: str) -> str:
    import getpass  # noqa: PLC0415 - imported when a prompt is due, not at every start

    if not sys.stdin.isatty():
        raise SignerError(
            "a secret is needed and there is no terminal to ask for it: use the environment variable"
        )
    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt) as exc:
        raise SignerError("no secret given") from exc


def _module_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--module-path",
        metavar="PATH",
        help=f"PKCS#11 module (default: module-path in the URI, then ${env.COSIGN_PKCS11_MODULE_PATH})",
    )


def add_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``sign-blob``, ``public-key`` and ``pkcs11``."""
    sign = subparsers.add_parser(
        "sign-blob",
        help="sign a file offline with an HSM or file key; write a Sigstore bundle",
    )
    sign.add_argument("file", metavar="FILE", type=Path)
    sign.add_argument(
        "--key",
        required=True,
        metavar="URI|KEYFILE",
        help="pkcs11:token=...;object=... URI, or cosign.key / PEM private key",
    )
    sign.add_argument(
        "--bundle",
        required=True,
        metavar="OUT",
        type=Path,
        help="where to write the bundle (written atomically)",
    )
    _module_flag(sign)
    sign.add_argument("-o", "--output", choices=("text", "json"), default="text")
    sign.set_defaults(handler=run_sign_blob)

    public = subparsers.add_parser(
        "public-key", help="print the PEM public key of an HSM key, key file or PEM"
    )
    public.add_argument("--key", required=True, metavar="URI|PEM")
    public.add_argument(
        "--output-file",
        metavar="FILE",
        type=Path,
        help="write the PEM here (atomically) instead of stdout",
    )
    _module_flag(public)
    public.set_defaults(handler=run_public_key)

    p11 = subparsers.add_parser(
        "pkcs11", help="list tokens and keys, generate keys on an HSM"
    )
    commands = p11.add_subparsers(
        dest="pkcs11_command", metavar="COMMAND", required=True
    )
    tokens = commands.add_parser(
        "tokens", help="list the tokens a PKCS#11 module shows"
    )
    _module_flag(tokens)
    tokens.set_defaults(handler=run_tokens)
    keys_cmd = commands.add_parser("keys", help="list the URIs of the keys on a token")
    keys_cmd.add_argument(
        "--key",
        required=True,
        metavar="URI",
        help="pkcs11:token=LABEL[?module-path=...]",
    )
    _module_flag(keys_cmd)
    keys_cmd.set_defaults(handler=run_keys)
    keygen = commands.add_parser(
        "keygen", help="generate a sign-only, non-extractable P-256 key on a token"
    )
    keygen.add_argument(
        "--key",
        required=True,
        metavar="URI",
        help="pkcs11:token=LABEL;object=KEYLABEL[;id=%%XX]",
    )
    _module_flag(keygen)
    keygen.set_defaults(handler=run_keygen)


@contextlib.contextmanager
def _token_session(
    key: str,
    module_override: str | None,
    *,
    rw: bool = False,
    secrets_handler: SecretsHandler | None = None,
) -> Iterator[tuple[object, object]]:
    from appliance.signer import pkcs11, pkcs11_uri  # noqa: PLC0415 - pkcs11 only for HSM commands

    uri = pkcs11_uri.parse(key)
    lib = pkcs11.load(pkcs11.module_path(uri.module_path, override=module_override))
    token = pkcs11.select_token(lib, uri)
    pin = pkcs11.resolve_pin(uri, secrets_handler=secrets_handler or _prompt)
    with pkcs11.TokenSession(token, pin=pin, rw=rw) as session:
        del pin
        yield session, uri


@contextlib.contextmanager
def open_signer(
    key: str,
    module_override: str | None = None,
    secrets_handler: SecretsHandler | None = None,
) -> Iterator[Signer]:
    """A signer for ``--key``; an HSM session stays open for the whole block.

    ``secrets_handler`` answers a PIN or key-password prompt (the TUI's
    masked dialog); by default the terminal is asked.
    """
    if key.startswith("pkcs11:"):
        with _token_session(key, module_override, secrets_handler=secrets_handler) as (
            session,
            uri,
        ):
            yield session.signer(uri)  # type: ignore[attr-defined]
        return
    from airlock_io import inputs  # noqa: PLC0415
    from appliance.signer import filekey  # noqa: PLC0415

    path = Path(key)
    pem = inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES)
    if filekey.is_encrypted_cosign_key(pem):
        password = os.environ.get(env.COSIGN_PASSWORD)
        if password is None:
            password = (secrets_handler or _prompt)(f"Password for {path.name}: ")
        yield filekey.FileSigner(filekey.decrypt_cosign_key(pem, password))
    else:
        yield filekey.FileSigner(filekey.load_pem_private_key(pem))


def _sha256_file(path: Path) -> bytes:
    hasher = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                hasher.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc
    return hasher.digest()


def run_sign_blob(args: argparse.Namespace) -> int:
    """Sign, write the bundle atomically, and verify what was written."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from appliance.actions.audited import Audited  # noqa: PLC0415
    from appliance.core import keys, signing  # noqa: PLC0415
    from appliance.core.artifact import Artifact  # noqa: PLC0415
    from appliance.core.bundle import Bundle  # noqa: PLC0415
    from appliance.core.policy import KeyPolicy  # noqa: PLC0415
    from appliance.core.verifier import verify_bundle  # noqa: PLC0415
    from appliance.trust import roots  # noqa: PLC0415

    check_output(args.bundle)  # before the key is used
    with Audited(
        "sign-blob",
        env.state_dir(),
        file=str(args.file),
        bundle=str(args.bundle),
        key=redact(str(args.key)),  # a PKCS#11 URI may carry a PIN
    ) as audit:
        digest = _sha256_file(args.file)
        with open_signer(args.key, args.module_path) as signer:
            signature = signer.sign_digest(digest)
            public = signer.public_key
        bundle = signing.key_signed_bundle(
            sha256_digest=digest, signature=signature, public_key=public
        )
        # Check our own output with the verifier before anyone else relies on it.
        # Offline there is no log: the bundle is key-signed by design.
        verify_bundle(
            Bundle.from_bytes(bundle),
            artifact=Artifact.from_digest("sha256", digest),
            trust=roots.load_embedded(),
            policy=KeyPolicy(key=public),
            now=datetime.now(UTC),
            insecure_ignore_tlog=True,
        )
        write_output(args.bundle, bundle)
        audit.record(
            {
                "sha256": digest.hex(),
                "key_id": keys.key_id(public).hex(),
                "exit_code": 0,
            }
        )
    hint = signing.key_hint(public)
    if args.output == "json":
        print(
            json.dumps(
                {
                    "signed": str(args.file),
                    "bundle": str(args.bundle),
                    "sha256": digest.hex(),
                    "key_hint": hint,
                    "key_id": keys.key_id(public).hex(),
                    "transparency_log": None,
                }
            )
        )
    else:
        print(
            f"Signed {args.file} (sha256:{digest.hex()}); bundle written to {args.bundle}"
        )
        print(
            f"  key hint {hint}; no transparency log entry (offline): verify with `appliance verify-blob --key PUBLIC.pem --insecure-ignore-tlog`"
        )
    return ExitCode.OK


def _public_key(key: str, module_override: str | None) -> PublicKey:
    from appliance.core import keys  # noqa: PLC0415

    if key.startswith("pkcs11:"):
        with open_signer(key, module_override) as signer:
            return signer.public_key
    from airlock_io import inputs  # noqa: PLC0415

    pem = inputs.read_file(Path(key), what="key", max_bytes=inputs.MAX_KEY_BYTES)
    if b"PUBLIC KEY-----" in pem:
        return keys.load_pem(pem, where=key)
    with open_signer(key) as signer:
        return signer.public_key


def run_public_key(args: argparse.Namespace) -> int:
    """Print (or write) the PEM SubjectPublicKeyInfo."""
    from appliance.core import keys  # noqa: PLC0415

    if args.output_file is not None:
        check_output(args.output_file)
    pem = keys.spki_pem(_public_key(args.key, args.module_path))
    if args.output_file is not None:
        write_output(args.output_file, pem)
    else:
        sys.stdout.write(pem.decode())
    return ExitCode.OK


def run_tokens(args: argparse.Namespace) -> int:
    """List the tokens of a module."""
    from appliance.signer import pkcs11  # noqa: PLC0415

    lib = pkcs11.load(pkcs11.module_path(None, override=args.module_path))
    tokens = pkcs11.list_tokens(lib)
    for token in tokens:
        # A token's label and strings are the module's: shown escaped.
        print(
            untrusted(
                f"pkcs11:token={token.label}   slot-id={token.slot_id} manufacturer={token.manufacturer!r} model={token.model!r} serial={token.serial!r}",
                markup=False,
                limit=LINE_LIMIT,
            )
        )
    if not tokens:
        print("no initialised token", file=sys.stderr)
    return ExitCode.OK


def run_keys(args: argparse.Namespace) -> int:
    """List the URIs of the keys on a token."""
    with _token_session(args.key, args.module_path) as (session, uri):
        for line in session.key_uris(uri):  # type: ignore[attr-defined]
            print(untrusted(line, markup=False, limit=LINE_LIMIT))
    return ExitCode.OK


def run_keygen(args: argparse.Namespace) -> int:
    """Generate a key on the token and print its URI."""
    from appliance.core import signing  # noqa: PLC0415

    with _token_session(args.key, args.module_path, rw=True) as (session, uri):
        key_id, public = session.keygen(uri)  # type: ignore[attr-defined]
        print(uri.for_key(label=uri.object, key_id=key_id))  # type: ignore[attr-defined]
    print(
        f"  EC P-256, private key sensitive and non-extractable, sign-only; key hint {signing.key_hint(public)}",
        file=sys.stderr,
    )
    return ExitCode.OK
