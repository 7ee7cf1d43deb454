"""The command-line frame both programs run in: one way for a command to end.

:func:`run` parses the arguments, runs the chosen command and turns every way
it can end into one of the three exit codes. It is the only ``except
Exception`` of each program: whatever escapes a command is reported as one
"internal error" line (the traceback only with ``--verbose``) and exits 1,
because nothing was positively verified.

Every failure is one line on stderr; with ``-o json`` it is also a JSON object
on stdout (``{"ok": false, "verified": false, "reason": ..., "error": ...,
"exit_code": ...}``), usage errors included. Output never fails on an encoding
that cannot show a character (it is escaped), and SIGTERM interrupts a command
like Ctrl-C does, so that its clean-up runs and nothing is left half-written.
A PKCS#11 ``pin-value`` is redacted from every line, and every line is
escaped for the terminal (:func:`airlock_io.terminal.untrusted`): it quotes
names and messages from archives, registries and certificates.

A command that had already done something when it was stopped says what,
as notes on the exception (``add_note``): they end the same line. An
interruption without notes stopped the command before anything counted
("nothing was verified"). A full disk is exit 2, never an internal error
(:mod:`airlock_io.oserrors`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING, NoReturn

from airlock_io.exit_codes import ExitCode, exit_code_for
from airlock_io.oserrors import environment_error
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.core.errors import ApplianceError, InputError, Reason, redact

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType


class UsageError(Exception):
    """argparse refused the command line (``message`` says why)."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors can be JSON too.

    Sub-commands built from it (``add_subparsers``) are ``Parser``s as well.
    """

    def error(self, message: str) -> NoReturn:
        """Raise :class:`UsageError` naming the sub-command at fault."""
        command = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        raise UsageError(
            f"{command}: {message}" if command else message, self.format_usage()
        )


def wants_json(argv: Sequence[str], args: argparse.Namespace | None) -> bool:
    """Whether JSON output was asked for (looked up by hand if parsing failed)."""
    if args is not None:
        return getattr(args, "output", None) == "json"
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return any(
        (a in {"-o", "--output"} and b == "json") or a in {"-ojson", "--output=json"}
        for a, b in pairs
    )


class _Frame:
    def __init__(self, prog: str, *, as_json: bool) -> None:
        self.prog = prog
        self.as_json = as_json

    def fail(self, code: ExitCode, line: str, reason: Reason) -> ExitCode:
        line = redact(line)
        # The line quotes archives, registries and certificates (a ``where``,
        # an error body, a SAN): escaped on the terminal, exact in JSON.
        print(
            f"{self.prog}: {untrusted(line, markup=False, limit=LINE_LIMIT)}",
            file=sys.stderr,
        )
        if self.as_json:
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

    def run(
        self, handler: Callable[[argparse.Namespace], int], args: argparse.Namespace
    ) -> int:
        try:
            return int(handler(args))
        except ApplianceError as exc:
            return self._error(exc)
        except KeyboardInterrupt as exc:
            why = str(exc) or "SIGINT"
            done = _notes(exc) or "nothing was verified, nothing half-written was kept"
            return self.fail(
                ExitCode.VERIFICATION_FAILED,
                f"interrupted ({why}); {done}",
                Reason.INTERRUPTED,
            )
        except RecursionError as exc:  # structure too deep for any parser we use
            return self._error(InputError(f"input nested too deeply ({exc})"))
        except Exception as exc:  # noqa: BLE001 - the one catch-all, by design (see module doc)
            error = environment_error(exc)
            if error is not None:  # a full disk: the machine, not the input
                error.__notes__ = _notes_of(exc)
                return self._error(error)
            if getattr(args, "verbose", 0):
                for text in traceback.format_exc().splitlines():
                    print(
                        untrusted(text, markup=False, limit=LINE_LIMIT), file=sys.stderr
                    )
            cause = " ".join(str(exc).split())
            return self.fail(
                ExitCode.VERIFICATION_FAILED,
                f"internal error: {type(exc).__name__}: {cause}"
                " (nothing was verified; rerun with --verbose for details)",
                Reason.MALFORMED_INPUT,
            )

    def _error(self, exc: ApplianceError) -> ExitCode:
        line = exc.diagnostics()
        notes = _notes(exc)
        return self.fail(
            exit_code_for(exc), f"{line}; {notes}" if notes else line, exc.reason
        )


def _notes_of(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", ()))


def _notes(exc: BaseException) -> str:
    """What the command had done when it stopped, as one line (its notes)."""
    return "; ".join(" ".join(note.split()) for note in _notes_of(exc))


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


def run(prog: str, parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` with ``parser``, run the chosen command, return its exit code.

    Args:
        prog: the program's name, prefixed to every error line.
        parser: a :class:`Parser` whose sub-commands set ``handler``.
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    _safe_streams()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:
        sys.stderr.write(exc.usage)
        frame = _Frame(prog, as_json=wants_json(arguments, None))
        return frame.fail(ExitCode.USAGE_OR_INPUT, exc.message, Reason.USAGE)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE_OR_INPUT
    if getattr(args, "verbose", 0):
        import logging  # noqa: PLC0415 - only when asked for: it costs start-up time

        logging.basicConfig(stream=sys.stderr, format="%(name)s: %(message)s")
        logging.getLogger(prog.replace("-", "_")).setLevel(
            logging.DEBUG if args.verbose > 1 else logging.INFO
        )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE_OR_INPUT
    frame = _Frame(prog, as_json=wants_json(arguments, args))
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        return frame.run(handler, args)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
