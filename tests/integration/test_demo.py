"""``make demo`` works as written: it runs to the end and says what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.registry, pytest.mark.hsm]


def test_demo_runs_the_main_job() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = " ".join(
        done.stdout.split("What the demo did", 1)[1].split()
    )  # rich wraps lines
    assert (
        "verified the rfc8785 0.1.2 wheel's release bundle offline (exit 0)" in summary
    )
    assert "refused (exit 1)" in summary
    assert "digest preserved" in summary
    assert "sigstore-python agrees" in summary
