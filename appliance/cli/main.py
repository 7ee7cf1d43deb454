"""The ``appliance`` command: parse arguments, run one command, map errors.

This is the only place that turns exceptions into exit codes and the only
``except Exception`` in the appliance: whatever escapes a command is reported
as one "internal error" line (the traceback only with ``--verbose``) and exits
1, because nothing was positively verified.

Every failure is one line on stderr; with ``-o json`` it is also a JSON object
on stdout (``{"ok": false, "verified": false, "reason": ..., "error": ...,
"exit_code": ...}``), usage errors included. Output never fails on an encoding
that cannot show a character (it is escaped), and SIGTERM interrupts a command
like Ctrl-C does, so that its clean-up runs and nothing is left half-written.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING, NoReturn, cast

from appliance import __version__
from appliance.cli import sign_cmd, trust_cmd, verify_blob
from appliance.cli.exit_codes import ExitCode, exit_code_for
from appliance.core.errors import ApplianceError, InputError, Reason, redact

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType

_PROG = "appliance"
_EPILOG = """\
exit codes:
  0  verified (or the command succeeded)
  1  verification failed: something was not positively verified
  2  usage error, or input that could not be read

The appliance never reaches the network while verifying.
"""


class _UsageError(Exception):
    """argparse refused the command line (``message`` says why)."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so errors can be JSON too."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(_PROG).strip()
        raise _UsageError(
            f"{command}: {message}" if command else message, self.format_usage()
        )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_PROG,
        description=(
            "Airlock appliance: verify signed container images and blobs offline, "
            "with trust carried across the gap through TUF."
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
    # cast: the subparsers are _Parser instances, which the command modules
    # use only through the ArgumentParser interface.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",  # noqa: SLF001 - argparse's own type
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    verify_blob.add_parser(commands)
    trust_cmd.add_parser(commands)
    sign_cmd.add_parsers(commands)
    return parser


def _wants_json(argv: Sequence[str], args: argparse.Namespace | None) -> bool:
    if args is not None:
        return getattr(args, "output", None) == "json"
    # argparse failed before it could say; look for the flag ourselves.
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return any(
        (a in {"-o", "--output"} and b == "json") or a in {"-ojson", "--output=json"}
        for a, b in pairs
    )


def _fail(code: ExitCode, line: str, reason: Reason, *, as_json: bool) -> ExitCode:
    line = redact(line)
    print(f"{_PROG}: {line}", file=sys.stderr)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": False,
                    "verified": False,
                    "reason": reason.value,
                    "error": line,
                    "exit_code": int(code),
                }
            )
        )
    return code


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del frame
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _safe_streams() -> None:
    # A terminal or pipe whose encoding cannot show a character (LANG=C, a
    # serial console) gets an escape, never a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the appliance CLI and return its exit code."""
    _safe_streams()
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args: argparse.Namespace | None = None
    try:
        args = parser.parse_args(arguments)
    except _UsageError as exc:
        sys.stderr.write(exc.usage)
        return _fail(
            ExitCode.USAGE_OR_INPUT,
            exc.message,
            Reason.USAGE,
            as_json=_wants_json(arguments, None),
        )
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE_OR_INPUT
    as_json = _wants_json(arguments, args)
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
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        return _run(handler, args, as_json=as_json)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(
    handler: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    *,
    as_json: bool,
) -> int:
    """Run one command; every way it can end becomes an exit code."""
    try:
        return int(handler(args))
    except ApplianceError as exc:
        return _fail(exit_code_for(exc), exc.diagnostics(), exc.reason, as_json=as_json)
    except KeyboardInterrupt as exc:
        why = str(exc) or "SIGINT"
        return _fail(
            ExitCode.VERIFICATION_FAILED,
            f"interrupted ({why}); nothing was verified, nothing half-written was kept",
            Reason.INTERRUPTED,
            as_json=as_json,
        )
    except RecursionError as exc:  # structure too deep for any parser we use
        error = InputError(f"input nested too deeply ({exc})")
        return _fail(
            ExitCode.USAGE_OR_INPUT, error.diagnostics(), error.reason, as_json=as_json
        )
    except Exception as exc:  # noqa: BLE001 - the one catch-all, by design (see module doc)
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        cause = " ".join(str(exc).split())
        return _fail(
            ExitCode.VERIFICATION_FAILED,
            f"internal error: {type(exc).__name__}: {cause}"
            " (nothing was verified; rerun with --verbose for details)",
            Reason.MALFORMED_INPUT,
            as_json=as_json,
        )
