"""Process start-up: our CLIs against sigstore-python's, in the same run.

Start-up is the floor under every per-process verification: a sealed
appliance that spends half a second importing before it checks a byte is
slow at 3 a.m. when an operator loops over a hundred images. The peer is
``sigstore --version`` (sigstore-python 4.5.1), measured here and now.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import sealed_binary

ROOT = Path(__file__).parents[1]
BIN = ROOT / ".venv" / "bin"
FROZEN = sealed_binary()


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


def sealed_vs_hello() -> tuple[Timing, Timing] | None:
    """The sealed ``appliance --version`` beside a PyInstaller onedir hello-world built now.

    The floor for a frozen Python program on this machine: the bootloader,
    the interpreter's start and one print. Goal: ours <= 1.2x it. None when
    there is no sealed build (``make sealed``).
    """
    if not FROZEN.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="bench-hello-") as tmp:
        work = Path(tmp)
        (work / "hello.py").write_text('print("hello")\n')
        subprocess.run(
            [str(BIN / "pyinstaller"), "--noconfirm", "--onedir", "--log-level", "ERROR",
             "--distpath", str(work / "dist"), "--workpath", str(work / "build"), "--specpath", str(work),
             str(work / "hello.py")],
            check=True, capture_output=True,
        )  # fmt: skip
        hello = measure(
            "PyInstaller onedir hello-world (peer)",
            [str(work / "dist" / "hello" / "hello")],
        )
    return measure("appliance --version (sealed)", [str(FROZEN), "--version"]), hello
