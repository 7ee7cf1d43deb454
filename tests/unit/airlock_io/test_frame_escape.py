"""The command-line frame's one error line: escaped on the terminal, exact in JSON.

Diagnostics carry ``where`` strings from archives (a ledger field, an
annotation), registries (an error body) and certificates; the line printed
on stderr shows them escaped, and ``-o json`` keeps them exactly (JSON
escaping is already safe).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from airlock_io import frame
from appliance.core.errors import InputError, Reason, VerificationError
from tests.helpers.hostile_text import assert_nothing_raw, hostile, shown

if TYPE_CHECKING:
    import argparse

    import pytest


def _parser(error: Exception) -> argparse.ArgumentParser:
    parser = frame.Parser(prog="appliance")
    commands = parser.add_subparsers()
    command = commands.add_parser("fail")
    command.add_argument("-o", "--output", default="text")
    command.add_argument("--verbose", type=int, default=0)

    def handler(args: argparse.Namespace) -> int:
        del args
        raise error

    command.set_defaults(handler=handler)
    return parser


def test_an_input_error_naming_a_hostile_field_is_one_escaped_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = InputError("not an image reference", where=hostile("where"))
    assert frame.run("appliance", _parser(error), ["fail"]) == 2
    err = capsys.readouterr().err
    assert_nothing_raw(err)
    assert err.count("\n") == 1
    where = shown("where").replace("\\x0d", " ")  # one line: CR folded to a space
    assert err == f"appliance: {where}: not an image reference\n"


def test_a_verification_error_quoting_a_san_is_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = VerificationError(
        f"certificate identity {hostile('san')} does not match you@example.test",
        reason=Reason.IDENTITY_MISMATCH,
        where="certificate",
    )
    assert frame.run("appliance", _parser(error), ["fail"]) == 1
    err = capsys.readouterr().err
    assert_nothing_raw(err)
    assert "\\x1b]0;owned\\x07" in err


def test_json_keeps_the_error_exact(capsys: pytest.CaptureFixture[str]) -> None:
    error = InputError("no such member", where="a\x1b[2Kb\u202ec")
    assert frame.run("appliance", _parser(error), ["fail", "-o", "json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "a\x1b[2Kb\u202ec: no such member"
    assert "\x1b" not in captured.out  # JSON writes it as \u001b
    assert_nothing_raw(captured.err)


def test_an_internal_error_quoting_input_is_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = ValueError(hostile("cause"))
    assert frame.run("appliance", _parser(error), ["fail"]) == 1
    err = capsys.readouterr().err
    assert_nothing_raw(err)
    assert "internal error: ValueError: cause[green]" in err


def test_a_verbose_traceback_is_escaped_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = ValueError(hostile("cause"))
    assert frame.run("appliance", _parser(error), ["fail", "--verbose", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err  # asked for
    assert_nothing_raw(err)
