"""Timing one command in a child process: wall seconds, peak RSS, blocks written."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def sealed_binary() -> Path:
    """Where ``make sealed`` puts the sealed appliance (build/build.sh)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (
        Path(os.environ.get("AIRLOCK_SEALED") or cache / "airlock-sealed")
        / "dist"
        / "appliance"
        / "appliance"
    )


@dataclass(frozen=True)
class Run:
    """One timed process: seconds, peak RSS (MiB), blocks written (512 B)."""

    seconds: float
    peak_rss_mib: float
    blocks_written: int


def timed(
    argv: list[str], *, env: dict[str, str] | None = None, shell: bool = False
) -> Run:
    """Run in a fresh child wrapper so the rusage is this command's alone."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        f"done = subprocess.run(sys.argv[1:] if not {shell} else ' '.join(sys.argv[1:]), shell={shell}, capture_output=True)\n"
        "elapsed = time.perf_counter() - start\n"
        "if done.returncode: sys.exit(done.stderr.decode()[-2000:])\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(elapsed, usage.ru_maxrss, usage.ru_oublock)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    seconds, rss, blocks = done.stdout.split()
    return Run(
        seconds=float(seconds), peak_rss_mib=int(rss) / 1024, blocks_written=int(blocks)
    )


def median(runs: list[Run]) -> Run:
    """The median time of ``runs``, with the worst RSS and writes among them."""
    return Run(
        seconds=statistics.median(r.seconds for r in runs),
        peak_rss_mib=max(r.peak_rss_mib for r in runs),
        blocks_written=max(r.blocks_written for r in runs),
    )
