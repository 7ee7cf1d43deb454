"""The ``bundle-tools`` command: parse arguments, run one command, map errors.

Exit codes match the appliance's: 0 success, 1 verification failed, 2 usage or
input error. Unexpected exceptions become one "internal error" line.
"""

from __future__ import annotations

import argparse
import sys
import traceback
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
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


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
