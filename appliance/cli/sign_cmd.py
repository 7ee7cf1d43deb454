"""``appliance sign-blob``, ``public-key`` and ``pkcs11``: offline signing with an HSM or a key file.

A key is a ``pkcs11:`` URI (RFC 7512) or a key file (cosign's encrypted
``cosign.key`` or a PEM private key), opened through
:func:`appliance.signer.opener.open_signer`; a PIN or password comes from the
URI, the environment or a prompt, never a flag. Every bundle written is
verified with the public key before it is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io import inputs
from airlock_io.atomic import check_output, write_output
from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.actions.audited import Audited
from appliance.cli import env
from appliance.cli.registry_flags import add_module_flag, prompt
from appliance.core import keys, signing
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, redact
from appliance.core.policy import KeyPolicy
from appliance.core.verifier import verify_bundle
from appliance.signer.opener import open_signer
from appliance.trust import roots

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from appliance.core.keys import PublicKey


def configure_sign_blob(parser: argparse.ArgumentParser) -> None:
    """The flags of ``sign-blob``."""
    parser.add_argument("file", metavar="FILE", type=Path)
    parser.add_argument(
        "--key",
        required=True,
        metavar="URI|KEYFILE",
        help="pkcs11:token=...;object=... URI, or cosign.key / PEM private key",
    )
    parser.add_argument(
        "--bundle",
        required=True,
        metavar="OUT",
        type=Path,
        help="where to write the bundle (written atomically)",
    )
    add_module_flag(parser)
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_sign_blob)


def configure_public_key(parser: argparse.ArgumentParser) -> None:
    """The flags of ``public-key``."""
    parser.add_argument("--key", required=True, metavar="URI|PEM")
    parser.add_argument(
        "--output-file",
        metavar="FILE",
        type=Path,
        help="write the PEM here (atomically) instead of stdout",
    )
    add_module_flag(parser)
    parser.set_defaults(handler=run_public_key)


def configure_pkcs11(parser: argparse.ArgumentParser) -> None:
    """``pkcs11 tokens``, ``pkcs11 keys`` and ``pkcs11 keygen``."""
    commands = parser.add_subparsers(
        dest="pkcs11_command", metavar="COMMAND", required=True
    )
    tokens = commands.add_parser(
        "tokens", help="list the tokens a PKCS#11 module shows"
    )
    add_module_flag(tokens)
    tokens.set_defaults(handler=run_tokens)
    keys_cmd = commands.add_parser("keys", help="list the URIs of the keys on a token")
    keys_cmd.add_argument(
        "--key",
        required=True,
        metavar="URI",
        help="pkcs11:token=LABEL[?module-path=...]",
    )
    add_module_flag(keys_cmd)
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
    add_module_flag(keygen)
    keygen.set_defaults(handler=run_keygen)


@contextlib.contextmanager
def _token_session(
    key: str, module_override: str | None, *, rw: bool = False
) -> Iterator[tuple[object, object]]:
    # python-pkcs11 is loaded for HSM commands only (start-up of every other).
    from appliance.signer import pkcs11, pkcs11_uri  # noqa: PLC0415

    uri = pkcs11_uri.parse(key)
    lib = pkcs11.load(pkcs11.module_path(uri.module_path, override=module_override))
    token = pkcs11.select_token(lib, uri)
    pin = pkcs11.resolve_pin(uri, secrets_handler=prompt)
    with pkcs11.TokenSession(token, pin=pin, rw=rw) as session:
        del pin
        yield session, uri


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
    check_output(args.bundle)  # before the key is used
    with Audited(
        "sign-blob",
        env.state_dir(),
        file=str(args.file),
        bundle=str(args.bundle),
        key=redact(str(args.key)),  # a PKCS#11 URI may carry a PIN
    ) as audit:
        digest = _sha256_file(args.file)
        with open_signer(
            args.key, module_override=args.module_path, secrets_handler=prompt
        ) as signer:
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
    if key.startswith("pkcs11:"):
        with open_signer(
            key, module_override=module_override, secrets_handler=prompt
        ) as signer:
            return signer.public_key
    pem = inputs.read_file(Path(key), what="key", max_bytes=inputs.MAX_KEY_BYTES)
    if b"PUBLIC KEY-----" in pem:
        return keys.load_pem(pem, where=key)
    with open_signer(key, secrets_handler=prompt) as signer:
        return signer.public_key


def run_public_key(args: argparse.Namespace) -> int:
    """Print (or write) the PEM SubjectPublicKeyInfo."""
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
    # python-pkcs11 is loaded for HSM commands only (start-up of every other).
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
    with _token_session(args.key, args.module_path, rw=True) as (session, uri):
        key_id, public = session.keygen(uri)  # type: ignore[attr-defined]
        print(uri.for_key(label=uri.object, key_id=key_id))  # type: ignore[attr-defined]
    print(
        f"  EC P-256, private key sensitive and non-extractable, sign-only; key hint {signing.key_hint(public)}",
        file=sys.stderr,
    )
    return ExitCode.OK
