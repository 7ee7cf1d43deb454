"""A full disk anywhere: one line naming the path and "no space left on device",
exit 2, an audit line where the command is audited (or the line says the
audit log could not take it), and nothing half-written left behind.

The disk is a real tmpfs (tests/helpers/small_fs.py): the kernel refuses the
write that crosses its size, wherever that falls.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from appliance.audit import AuditLog
from appliance.cli.main import main as appliance
from appliance.core.errors import InputError
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard
from tests.helpers.exported import EPOCH, KEYLESS, Exported
from tests.helpers.small_fs import fill, small_fs
from tests.helpers.vectors import ROOT_SIGNING, serve_root_signing

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.registry

NO_SPACE = "no space left on device"


def _run(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, dict[str, Any]]:
    """``appliance ARGV -o json``: exit code, the one stderr line, stdout's JSON."""
    capsys.readouterr()
    code = appliance([*argv, "-o", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    return code, line, json.loads(out)


def _audit(state: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (state / "audit.jsonl").read_text().splitlines()]


def _verified(exported: Exported) -> list[str]:
    return ["--trusted-root", str(exported.root), *KEYLESS, "--image", exported.ref("app")]  # fmt: skip


def test_extract_onto_a_full_disk(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The layout's first 2 MiB layer does not fit in 1 MiB: refused mid-blob."""
    with small_fs(tmp_path / "disk", "1m") as disk:
        target = disk / "verified"
        code, line, report = _run(
            capsys, "extract", str(exported.archive), "--to", str(target), *_verified(exported)
        )  # fmt: skip
        assert code == 2, line
        assert f"{target}: cannot write the layout (blob sha256:" in line
        assert line.endswith(NO_SPACE)
        assert report["reason"] == "input-unreadable"
        assert list(disk.iterdir()) == []  # no layout, no temporary
    (decision,) = _audit(tmp_path / "appliance-state")
    assert decision["command"] == "extract"
    assert (decision["exit_code"], decision["reason"]) == (2, "input-unreadable")
    assert NO_SPACE in decision["error"]
    assert appliance(["audit", "verify"]) == 0


@pytest.mark.parametrize("command", ["verify", "extract", "load"])
def test_a_report_onto_a_full_disk(
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """The decision is recorded, then the report fails: a second audit line says so."""
    extra = {
        "verify": [],
        "extract": ["--to", str(tmp_path / "layout")],
        "load": ["--to", "127.0.0.1:1", "--dry-run"],
    }[command]
    with small_fs(tmp_path / "disk", "64k") as disk:
        filler = fill(disk)
        report = disk / "report.json"
        code, line, _ = _run(
            capsys, command, str(exported.archive), *_verified(exported), *extra, "--report", str(report)
        )  # fmt: skip
        assert code == 2, line
        assert line == f"appliance: {report}: cannot write: {NO_SPACE}"
        assert list(disk.iterdir()) == [filler]
    decision, failure = _audit(tmp_path / "appliance-state")
    assert (decision["command"], decision["exit_code"]) == (command, 0)
    assert failure["command"] == command
    assert (failure["exit_code"], failure["after_line"]) == (2, decision["seq"])
    assert failure["error"] == f"{report}: cannot write: {NO_SPACE}"


@pytest.mark.parametrize("command", ["verify", "trust import"])
def test_a_full_state_directory(
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    """The state (memories, trust, the audit log itself) cannot be written: the line says so."""
    if command == "verify":
        argv = ["verify", str(exported.archive), *_verified(exported)]
    else:
        served = serve_root_signing(tmp_path / "served")
        bootstrap = ROOT_SIGNING / "metadata" / "root_history" / "5.root.json"
        argv = ["trust", "import", str(served), "--bootstrap-root", str(bootstrap), "--trust-max-age", "3650d"]  # fmt: skip
    with small_fs(tmp_path / "state", "256k") as state:
        monkeypatch.setenv("APPLIANCE_STATE_DIR", str(state))
        filler = fill(state)
        code, line, report = _run(capsys, *argv)
        assert code == 2, line
        assert str(state) in line
        assert NO_SPACE in line
        assert "audit log" in line
        assert report["reason"] == "input-unreadable"
        filler.unlink()
        # Nothing half-written: no torn audit line, no temporary, no import.
        assert appliance(["audit", "verify"]) == 0
        leftovers = [
            p.name
            for p in state.rglob("*")
            if ".airlock-" in p.name or p.name.endswith((".tmp", ".part"))
        ]
        assert leftovers == []


def test_export_parts_onto_a_full_disk(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole archive fits, its parts do not: nothing is kept, the line names the folder."""

    def export(out: Path, *extra: str) -> int:
        with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
            patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
            return bundle_tools(
                ["export", exported.ref("app"), "--out", str(out), "--trusted-root", str(exported.root),
                 "--allow-http-registry", exported.world.registry.address,
                 "--cache", str(tmp_path / "cache"), *extra]
            )  # fmt: skip

    whole = tmp_path / "whole.tar.zst"
    assert export(whole) == 0
    size = whole.stat().st_size
    with small_fs(tmp_path / "disk", f"{size * 3 // 2 // 1024}k") as disk:
        capsys.readouterr()
        code = export(disk / "transfer.tar.zst", "--split", str(size // 3 + 1))
        err = capsys.readouterr().err
        assert code == 2, err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == (
            f"bundle-tools: {disk}: cannot write the parts: {NO_SPACE}"
        )
        assert list(disk.iterdir()) == []  # no whole, no part, no index


def test_an_append_that_does_not_fit_leaves_no_torn_line(tmp_path: Path) -> None:
    """The disk fills mid-line: the log goes back to its last whole line."""
    with small_fs(tmp_path / "state", "256k") as state:
        log = AuditLog(state)
        log.append("verify", {"exit_code": 0})
        before = log.path.read_bytes()
        fill(state, leave=8192)
        with pytest.raises(InputError, match=NO_SPACE):
            log.append("verify", {"padding": "x" * 100_000, "exit_code": 0})
        assert log.path.read_bytes() == before
        assert log.verify() == (1, None)
