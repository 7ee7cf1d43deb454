"""``appliance audit``: decisions of real commands, the chain checked, and appends killed mid-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from appliance.cli.main import main as appliance
from tests.helpers.exported import KEYLESS, Exported

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.registry

_APPENDER = """
import sys
from pathlib import Path
from appliance.audit import AuditLog
log = AuditLog(Path(sys.argv[1]))
print("ready", flush=True)
while True:
    log.append("verify", {"padding": "x" * 200_000, "exit_code": 0})
"""


def _state(tmp_path: Path) -> Path:
    return tmp_path / "appliance-state"  # the autouse fixture's


def test_decisions_are_shown_and_the_chain_holds(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "verify",
        str(exported.archive),
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
    ]
    assert appliance([*base, "--image", exported.ref("app"), "-o", "json"]) == 0
    head = json.loads(capsys.readouterr().out)["audit"]["sha256"]
    assert appliance([*base, "--image", exported.ref("rogue")]) == 1
    assert appliance(["verify", str(tmp_path / "absent.tar.zst"), *KEYLESS]) == 2
    capsys.readouterr()
    assert appliance(["audit", "show", "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(d["command"], d["exit_code"]) for d in shown] == [
        ("verify", 0),
        ("verify", 1),
        ("verify", 2),
    ]
    assert shown[2]["reason"] == "input-unreadable"
    assert appliance(["audit", "show", "-n", "1"]) == 0
    assert "exit 2" in capsys.readouterr().out
    assert appliance(["audit", "verify", "--anchor", head]) == 0
    assert "3 line(s), chain unbroken, 1 anchor(s) found" in capsys.readouterr().out


def test_an_edited_decision_is_named(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("app", "rogue", "app"):
        appliance(
            [
                "verify",
                str(exported.archive),
                "--trusted-root",
                str(exported.root),
                *KEYLESS,
                "--image",
                exported.ref(name),
            ]
        )
    path = _state(tmp_path) / "audit.jsonl"
    lines = path.read_bytes().splitlines()
    lines[1] = lines[1].replace(b'"verified":false', b'"verified":true')
    path.write_bytes(b"\n".join(lines) + b"\n")
    capsys.readouterr()
    assert appliance(["audit", "verify", "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problem"]["line"] == 2
    assert report["ok"] is False
    assert appliance(["audit", "verify"]) == 1
    assert "audit log broken: line 2 was edited" in capsys.readouterr().out


def test_a_bad_anchor_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert appliance(["audit", "verify", "--anchor", "nothex"]) == 2
    assert "64 hex digits" in capsys.readouterr().err


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_torn_audit_line_is_an_input_error_until_audit_verify(
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output: str,
) -> None:
    """A crash tore the last line: verify stops before judging, exit 2, one line naming the cure."""
    argv = ["verify", str(exported.archive), "--trusted-root", str(exported.root),
            *KEYLESS, "--image", exported.ref("app"), "-o", output]  # fmt: skip
    assert appliance(argv) == 0
    path = _state(tmp_path) / "audit.jsonl"
    torn = path.read_bytes() + b'{"v":1,"seq":2,"prev":"ab'
    path.write_bytes(torn)
    capsys.readouterr()
    assert appliance(argv) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert str(path) in line
    assert "run `appliance audit verify`" in line
    if output == "json":
        assert json.loads(captured.out)["exit_code"] == 2
        assert json.loads(captured.out)["reason"] == "malformed-input"
    else:
        assert captured.out == ""
    assert path.read_bytes() == torn  # nothing appended on a torn line
    assert appliance(["audit", "verify"]) == 1  # reported and set aside
    assert appliance(argv) == 0
    assert appliance(["audit", "verify"]) == 0


@pytest.mark.slow
def test_sigkill_during_appends_never_breaks_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _state(tmp_path)
    for delay in (0.05, 0.13, 0.21, 0.37):
        child = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(state)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert child.stdout is not None
        child.stdout.readline()
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        capsys.readouterr()
        code = appliance(["audit", "verify", "-o", "json"])
        report = json.loads(capsys.readouterr().out)
        # Either the kill fell between appends, or it tore the last line,
        # which is then reported and set aside; nothing else may happen.
        assert code == 0 or report["problem"]["set_aside"] is True, report
        assert appliance(["audit", "verify"]) == 0
    assert appliance(["audit", "show", "-n", "1"]) == 0
