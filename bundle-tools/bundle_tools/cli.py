"""The ``bundle-tools`` command: parse arguments, run one command, map errors.

Exit codes match the appliance's: 0 success, 1 verification failed, 2 usage or
input error. Unexpected exceptions become one "internal error" line.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.core.errors import ApplianceError, InputError, SignerError
from bundle_tools import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

_PROG = "bundle-tools"
_OK, _FAILED, _USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Airlock bundle-tools (connected side): export images, signatures, "
            "attestations and Sigstore trust into one transfer archive."
        ),
        epilog="exit codes: 0 success, 1 verification failed, 2 usage or input error",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"{_PROG} {__version__}"
    )
    parser.add_argument(
        "--verbose",
        action="count",
        default=0,
        help="show tracebacks of internal errors",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    trust = commands.add_parser(
        "trust", help="refresh the Sigstore trust root through TUF"
    )
    trust_commands = trust.add_subparsers(
        dest="trust_command", metavar="COMMAND", required=True
    )
    update = trust_commands.add_parser(
        "update",
        help="refresh through TUF online and write a trust capsule for the appliance",
        description=(
            "Run the TUF client workflow against URL from the root in FILE (default: the "
            "public-good repository and the root sealed into Airlock), and write every root "
            "version, the timestamp, snapshot and targets metadata and the target files to OUT, "
            "laid out as the repository serves them: `appliance trust import OUT` replays it offline."
        ),
    )
    update.add_argument(
        "--tuf-url",
        metavar="URL",
        default=None,
        help="TUF repository (default: the public-good repository)",
    )
    update.add_argument(
        "--root",
        metavar="FILE",
        type=Path,
        help="trusted initial root.json for --tuf-url (required with it)",
    )
    update.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        required=True,
        help="where to write the capsule (must not exist)",
    )
    update.set_defaults(handler=_trust_update)
    return parser


def _trust_update(args: argparse.Namespace) -> int:
    from bundle_tools import trust  # noqa: PLC0415 - tuf and urllib3 only for this command
    from trustroot import store  # noqa: PLC0415

    if args.tuf_url is not None and args.root is None:
        raise InputError(
            "--tuf-url needs --root: the initial root you trust for that repository"
        )
    if args.root is not None:
        try:
            bootstrap = args.root.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read root: {exc.strerror}", where=str(args.root)
            ) from exc
    else:
        bootstrap = store.read_embedded(store.PUBLIC_GOOD, "root.json")
    capsule = trust.update(
        url=args.tuf_url or trust.PUBLIC_GOOD_URL, bootstrap=bootstrap, out=args.out
    )
    print(
        f"Trust capsule written to {capsule.path}: roots v{capsule.root_versions[0]}-v{capsule.root_versions[-1]}, "
        f"timestamp v{capsule.timestamp_version}, snapshot v{capsule.snapshot_version}, targets v{capsule.targets_version}; "
        + ", ".join(f"{n} {h[:12]}" for n, h in capsule.targets.items())
    )
    return _OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bundle-tools CLI and return its exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else _USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return _USAGE
    try:
        return int(handler(args))
    except (InputError, SignerError) as exc:
        print(f"{_PROG}: {exc.diagnostics()}", file=sys.stderr)
        return _USAGE
    except ApplianceError as exc:
        print(f"{_PROG}: {exc.diagnostics()}", file=sys.stderr)
        return _FAILED
    except Exception as exc:  # noqa: BLE001 - the one catch-all: one line, no traceback
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"{_PROG}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return _FAILED
