"""The appliance and bundle-tools CLIs: exit codes, help, no tracebacks."""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airlock_io.exit_codes import ExitCode
from appliance import __version__
from appliance.cli import main as appliance_cli
from appliance.core.errors import InputError, Reason, SignerError, VerificationError
from bundle_tools import cli as bundle_cli

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

README = Path(__file__).parents[3] / "README.md"
MAINS = {"appliance": appliance_cli.main, "bundle-tools": bundle_cli.main}


@pytest.mark.parametrize("prog", sorted(MAINS))
@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(prog: str, flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert MAINS[prog]([flag]) == 0
    # From source: the appliance says so (the sealed build names its commit and manifest).
    suffix = " (from source)" if prog == "appliance" else ""
    assert capsys.readouterr().out.strip() == f"{prog} {__version__}{suffix}"


@pytest.mark.parametrize("prog", sorted(MAINS))
def test_help_exits_zero(prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert MAINS[prog](["--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: {prog}" in out
    assert "exit codes" in out


@pytest.mark.parametrize("prog", sorted(MAINS))
@pytest.mark.parametrize("argv", [["--no-such-flag"], ["no-such-command"], []])
def test_usage_errors_exit_two_without_traceback(
    prog: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert MAINS[prog](argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"usage: {prog}" in err


def _run_handler(
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    handler: Callable[[argparse.Namespace], int],
    argv: list[str],
) -> int:
    """Run a main() whose parser dispatches to ``handler``."""
    original = module._parser  # type: ignore[attr-defined]

    def parser(*argv: object) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = original(*argv)
        p.set_defaults(handler=handler)
        return p

    monkeypatch.setattr(module, "_parser", parser)
    main: Callable[[list[str]], int] = module.main  # type: ignore[attr-defined]
    return main(argv)


def _noted(exc: BaseException, *notes: str) -> BaseException:
    for note in notes:
        exc.add_note(note)
    return exc


def _raiser(exc: BaseException) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        del args
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (
            VerificationError(
                "signature invalid", reason=Reason.SIGNATURE_INVALID, where="a.bin"
            ),
            1,
            "appliance: a.bin: signature invalid",
        ),
        (
            InputError("not a bundle", where="x.json"),
            2,
            "appliance: x.json: not a bundle",
        ),
        (SignerError("PIN incorrect"), 2, "appliance: PIN incorrect"),
        (
            RuntimeError("boom\nsecond line"),
            1,
            "appliance: internal error: RuntimeError: boom second line",
        ),
        (
            KeyboardInterrupt(),
            1,
            "appliance: interrupted (SIGINT); nothing was verified",
        ),
        # What the command had done when it stopped (its notes) ends the line.
        (
            _noted(
                KeyboardInterrupt("SIGTERM"), "2 image(s) verified", "3 blobs\npushed"
            ),
            1,
            "appliance: interrupted (SIGTERM); 2 image(s) verified; 3 blobs pushed\n",
        ),
        (
            _noted(InputError("registry down", where="registry r.example"), "1 pushed"),
            2,
            "appliance: registry r.example: registry down; 1 pushed\n",
        ),
        # A full disk wherever it surfaced: the machine, not an internal error.
        (
            OSError(errno.ENOSPC, "No space left on device", "/out/x"),
            2,
            "appliance: /out/x: cannot write: no space left on device\n",
        ),
        (
            _noted(OSError(errno.EDQUOT, "Disk quota exceeded"), "nothing kept"),
            2,
            "appliance: cannot write: no space left on device; nothing kept\n",
        ),
        (
            OSError(errno.EFBIG, "File too large", "/out/x"),
            2,
            "appliance: /out/x: cannot write: File too large\n",
        ),
        # Any other OSError escaping a command is still a bug.
        (
            OSError(errno.EACCES, "Permission denied"),
            1,
            "appliance: internal error: PermissionError",
        ),
    ],
)
def test_errors_become_one_line_and_a_documented_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: BaseException,
    code: int,
    line: str,
) -> None:
    assert _run_handler(monkeypatch, appliance_cli, _raiser(exc), []) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(line)
    assert "Traceback" not in err


def test_verbose_shows_the_traceback_of_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _run_handler(
            monkeypatch, appliance_cli, _raiser(RuntimeError("boom")), ["--verbose"]
        )
        == 1
    )
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (VerificationError("x", reason=Reason.DIGEST_MISMATCH), 1),
        (InputError("x"), 2),
        (SignerError("x"), 2),
        (ValueError("x"), 1),
    ],
)
def test_bundle_tools_maps_errors_alike(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: Exception,
    code: int,
) -> None:
    assert _run_handler(monkeypatch, bundle_cli, _raiser(exc), []) == code
    assert "Traceback" not in capsys.readouterr().err


def test_handler_result_is_the_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run_handler(monkeypatch, appliance_cli, lambda _: 0, []) == 0


def test_readme_exit_code_table_matches_the_enum() -> None:
    rows = dict(
        re.findall(r"^\| (\d) \| (.+?) \|$", README.read_text(), flags=re.MULTILINE)
    )
    assert {int(k) for k in rows} == {int(c) for c in ExitCode}
    assert rows["0"].startswith("verified")
    assert rows["1"].startswith("verification failed")
    assert rows["2"].startswith("usage error")


@pytest.mark.parametrize(
    "key",
    [
        "PKCS11:token=t;object=k?pin-value=s3cr3t-PIN",
        " pkcs11:token=t;object=k?pin-value=s3cr3t-PIN",
        "pkcs11:token=t;object=k?pin-value=s3cr3t-PIN&pin-source=file:/x",
        "pkcs11:token=t;object=k;bogus=1?PIN-VALUE=s3cr3t-PIN",
        "pkcs11:token=t;object=k?module-path=/nope&pin-value=s3cr3t-PIN",
        "pkcs11:token=t;object=k?pin-value=s3cr3t-PIN&module-path=/nope",
    ],
)
@pytest.mark.parametrize("command", ["sign-blob", "public-key"])
def test_a_pin_in_a_mistyped_uri_is_never_echoed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: str, command: str
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    argv = (
        [command, str(tmp_path / "f"), "--key", key, "--bundle", str(tmp_path / "b")]
        if command == "sign-blob"
        else [command, "--key", key]
    )
    for output in ([], ["-o", "json"] if command == "sign-blob" else []):
        assert appliance_cli.main([*argv, *output]) == 2
        out, err = capsys.readouterr()
        assert "s3cr3t" not in out + err
        assert err.count("\n") == 1
