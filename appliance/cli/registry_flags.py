"""The flags of commands that write to the in-gap registry (``load``, ``sign``, ``attest``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import argparse


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    """``--allow-http-registry`` and ``--registry-username``."""
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
