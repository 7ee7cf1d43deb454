"""Process start-up: our CLIs against sigstore-python's, in the same run.

Start-up is the floor under every per-process verification: a sealed
appliance that spends half a second importing before it checks a byte is
slow at 3 a.m. when an operator loops over a hundred images. The peer is
``sigstore --version`` (sigstore-python 4.5.1), measured here and now.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
BIN = ROOT / ".venv" / "bin"
FROZEN = ROOT / "dist" / "appliance" / "appliance"


@dataclass(frozen=True)
class Timing:
    """Median and spread of wall-clock times for one command."""

    label: str
    median_ms: float
    min_ms: float
    max_ms: float


def measure(label: str, argv: list[str], *, runs: int = 10, warmup: int = 2) -> Timing:
    """Run ``argv`` ``runs`` times after ``warmup`` runs; return the timings."""
    for _ in range(warmup):
        subprocess.run(argv, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    return Timing(label, statistics.median(samples), min(samples), max(samples))


def run() -> list[tuple[Timing, Timing]]:
    """Measure ours and the peer's start-up; return (ours, peer) pairs."""
    peer = measure("sigstore --version (peer)", [str(BIN / "sigstore"), "--version"])
    pairs = [
        (
            measure(
                "appliance --version (venv)", [str(BIN / "appliance"), "--version"]
            ),
            peer,
        )
    ]
    if FROZEN.exists():
        pairs.append(
            (measure("appliance --version (frozen)", [str(FROZEN), "--version"]), peer)
        )
    pairs.append(
        (
            measure(
                "bundle-tools --version (venv)",
                [str(BIN / "bundle-tools"), "--version"],
            ),
            peer,
        )
    )
    return pairs
