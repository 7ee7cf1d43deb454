"""The flags of commands that reach the in-gap registry (``load``, ``sign``, ``attest``, ``inventory``, ``trust publish --to``), and of their signing key."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.actions.registry import RegistryAccess, SignerChoice
from appliance.core.errors import InputError, Reason, SignerError

if TYPE_CHECKING:
    import argparse


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    """``--allow-http-registry``, ``--registry-username``, the TLS files (cosign's names) and ``--allow-host``."""
    parser.add_argument(
        "--allow-http-registry",
        action="store_true",
        help="speak plain HTTP to the registry (on loopback or an isolated segment)",
    )
    parser.add_argument(
        "--registry-username",
        metavar="USER",
        help="log in as USER; the password is read from stdin (never a flag)",
    )
    add_tls_flags(parser)


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    """The TLS files (cosign's flag names) and ``--allow-host``; the TUI takes them too."""
    parser.add_argument(
        "--registry-cacert",
        metavar="FILE",
        type=Path,
        help="trust this CA (PEM) for the registry, besides the system store and certs.d",
    )
    parser.add_argument(
        "--registry-client-cert",
        metavar="FILE",
        type=Path,
        help="present this client certificate (PEM) to the registry (mutual TLS)",
    )
    parser.add_argument(
        "--registry-client-key",
        metavar="FILE",
        type=Path,
        help="the private key (PEM) of --registry-client-cert",
    )
    parser.add_argument(
        "--allow-host",
        metavar="HOST[:PORT]",
        action="append",
        default=[],
        help="let the sealed appliance also reach HOST (a proxy to use, a token server); repeatable",
    )


def login(args: argparse.Namespace) -> tuple[str, str] | None:
    """``(user, password)`` from ``--registry-username`` and one line of stdin; else None (the Docker config's).

    Raises:
        InputError: an empty user or password.
    """
    username: str | None = args.registry_username
    if username is None:
        return None
    if not username or ":" in username:
        msg = "a user name, without ':'"
        raise InputError(msg, where="--registry-username", reason=Reason.USAGE)
    if sys.stdin.isatty():
        import getpass  # noqa: PLC0415

        password = getpass.getpass(f"Password for {username}: ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        msg = "no password on stdin (give it on one line)"
        raise InputError(msg, where="--registry-username", reason=Reason.USAGE)
    return username, password


def access(args: argparse.Namespace, *, login_now: bool = True) -> RegistryAccess:
    """How to reach the registry, from the flags (the password read now, unless ``login_now`` is False).

    Raises:
        InputError: an empty user or password.
    """
    return dataclasses.replace(reach(args), login=login(args) if login_now else None)


def reach(args: argparse.Namespace) -> RegistryAccess:
    """Plain HTTP, the TLS files and ``--allow-host`` from the flags (no login).

    Raises:
        InputError: a client certificate without its key, or the reverse.
    """
    if (args.registry_client_cert is None) != (args.registry_client_key is None):
        msg = "give --registry-client-cert and --registry-client-key together"
        raise InputError(msg, where="--registry-client-cert", reason=Reason.USAGE)
    return RegistryAccess(
        plain_http=args.allow_http_registry,
        cacert=args.registry_cacert,
        client_cert=args.registry_client_cert,
        client_key=args.registry_client_key,
        allow_hosts=tuple(args.allow_host),
    )


def prompt(text: str) -> str:
    """Ask the terminal for a secret (a PIN, a key's password); never echoed.

    Raises:
        SignerError: no terminal to ask, or nothing given.
    """
    import getpass  # noqa: PLC0415 - imported when a prompt is due, not at every start

    if not sys.stdin.isatty():
        msg = "a secret is needed and there is no terminal to ask for it: use the environment variable"
        raise SignerError(msg)
    try:
        return getpass.getpass(text)
    except (EOFError, KeyboardInterrupt) as exc:
        msg = "no secret given"
        raise SignerError(msg) from exc


def add_module_flag(parser: argparse.ArgumentParser) -> None:
    """``--module-path``: the PKCS#11 module for a ``pkcs11:`` key."""
    parser.add_argument(
        "--module-path",
        metavar="LIB",
        help="the PKCS#11 module (else $COSIGN_PKCS11_MODULE_PATH)",
    )


def signer_choice(key: str, args: argparse.Namespace) -> SignerChoice:
    """A signing key from the flags, its PIN or password asked at the terminal when needed."""
    return SignerChoice(
        key=key, module_path=getattr(args, "module_path", None), secrets=prompt
    )
