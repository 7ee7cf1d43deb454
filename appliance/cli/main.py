"""The ``appliance`` command: parse arguments, run one command, map errors.

This is the only place that turns exceptions into exit codes and the only
``except Exception`` in the appliance: whatever escapes a command is reported
as one "internal error" line (the traceback only with ``--verbose``) and exits
1, because nothing was positively verified.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import TYPE_CHECKING

from appliance import __version__
from appliance.cli import sign_cmd, trust_cmd, verify_blob
from appliance.cli.exit_codes import ExitCode, exit_code_for
from appliance.core.errors import ApplianceError

if TYPE_CHECKING:
    from collections.abc import Sequence

_PROG = "appliance"
_EPILOG = """\
exit codes:
  0  verified (or the command succeeded)
  1  verification failed: something was not positively verified
  2  usage error, or input that could not be read

The appliance never reaches the network while verifying; its only network
action is `appliance load`, which pushes already-verified images to the
registry the operator names.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Airlock appliance: verify signed container images offline and load "
            "only verified ones into the in-gap registry."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"{_PROG} {__version__}"
    )
    parser.add_argument(
        "--verbose",
        action="count",
        default=0,
        help="more detail on stderr (repeat for debug); tracebacks of internal errors",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    verify_blob.add_parser(commands)
    trust_cmd.add_parser(commands)
    sign_cmd.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the appliance CLI and return its exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE_OR_INPUT
    if args.verbose:
        import logging  # noqa: PLC0415 - only when asked for: it costs start-up time

        logging.basicConfig(stream=sys.stderr, format="%(name)s: %(message)s")
        logging.getLogger("appliance").setLevel(
            logging.DEBUG if args.verbose > 1 else logging.INFO
        )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE_OR_INPUT
    try:
        return int(handler(args))
    except ApplianceError as exc:
        print(f"{_PROG}: {exc.diagnostics()}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted; nothing was verified", file=sys.stderr)
        return ExitCode.VERIFICATION_FAILED
    except Exception as exc:  # noqa: BLE001 - the one catch-all, by design (see module doc)
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        cause = " ".join(str(exc).split())
        print(
            f"{_PROG}: internal error: {type(exc).__name__}: {cause}"
            " (nothing was verified; rerun with --verbose for details)",
            file=sys.stderr,
        )
        return ExitCode.VERIFICATION_FAILED
