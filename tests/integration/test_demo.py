"""``make demo`` works as written: the mission end to end, and it cleans up after itself."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.registry, pytest.mark.hsm]


def _registries(cwd: Path) -> list[str]:
    """docker-registry processes serving the demo's directories."""
    found = subprocess.run(
        ["pgrep", "-af", "docker-registry serve"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in found.stdout.splitlines() if str(cwd) in line]


def test_demo_runs_the_mission_in_under_a_minute(tmp_path: Path) -> None:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "demo"],
        cwd=tmp_path,
        env={
            "PYTHONPATH": f"{ROOT}:{ROOT / 'bundle-tools'}",
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.monotonic() - start < 60
    summary = " ".join(
        done.stdout.split("What the demo did", 1)[1].split()
    )  # rich wraps lines
    assert (
        "verified 2 of 3 images offline against demo/policy.toml; refused rogue:v1: identity-mismatch"
        in summary
    )
    assert "rogue not pushed" in summary
    assert "a .sig and a SLSA VSA each" in summary
    assert "digests as upstream, signatures beside them" in summary
    assert "chain unbroken" in summary
    for name in ("transfer.tar.zst", "report.json", "appliance-state/audit.jsonl"):
        assert (tmp_path / "demo-out" / name).is_file()
    assert _registries(tmp_path) == []


def test_ctrl_c_stops_everything_the_demo_started(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo"],
        cwd=tmp_path,
        env={
            "PYTHONPATH": f"{ROOT}:{ROOT / 'bundle-tools'}",
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    for line in demo.stdout:  # wait until both registries run
        if "started two loopback registries" in line:
            break
    assert _registries(tmp_path)
    demo.send_signal(signal.SIGINT)
    rest = demo.stdout.read()
    demo.stdout.close()
    assert demo.wait(timeout=60) == 130, rest
    assert "interrupted: stopping what the demo started" in rest
    assert _registries(tmp_path) == []
