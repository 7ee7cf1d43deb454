"""TUI responsiveness: key-press-to-repaint while a 2 GiB archive is verified, and start to first paint.

* latency: the app runs headless at 80x24 (Textual's own test harness);
  while the worker verifies a 2 GiB signed archive (1 GiB lasts too short), ``?`` and ``escape`` are
  pressed in turn (the help screen opened and closed, the costliest key) and
  each timed from the key event to the repaint after its effect. Beside it, the same presses with
  the app idle: the peer is our own quiet app. Goal: p99 <= 100 ms busy.
* start: a fresh process from its spawn until the first screen is painted
  (headless), ``appliance tui`` beside a bare Textual app showing one line.
  Goal: <= 0.5 s.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual import events

from appliance.cli.tui_cmd import session
from appliance.tui.app import AirlockApp
from appliance.tui.screens import TextScreen
from benchmarks.archive import export_big
from tests.helpers import netguard
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER

PRESSES = 200
MIN_PRESSES = 30
IDENTITY = "signer-0@airlock.test"

_FIRST_PAINT = """
import sys, time
spawned = float(sys.argv[1])
class Timed(App):
    def on_mount(self):  # Textual runs the parent class's on_mount too
        self.call_after_refresh(self.painted)
    def painted(self):
        sys.__stdout__.write(f"{time.time() - spawned}\\n")  # Textual captures print()
        sys.__stdout__.flush()
        self.exit()
"""
_OURS = (
    """
from appliance.cli.main import _parser
from appliance.tui.app import AirlockApp as App
args = _parser().parse_args(["tui", "--certificate-identity", "x@y.z", "--certificate-oidc-issuer", "https://i"])
"""
    + _FIRST_PAINT
    + "Timed(args).run(headless=True, size=(80, 24))\n"
)
_PEER = (
    """
from textual.app import App
from textual.widgets import Static
class Base(App):
    def compose(self):
        yield Static("hello")
App = Base
"""
    + _FIRST_PAINT
    + "Timed().run(headless=True, size=(80, 24))\n"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _press(app: AirlockApp, *, opening: bool) -> float:
    """Milliseconds from a key to the repaint that shows its effect (help opened, or closed)."""
    start = time.perf_counter()
    app.post_message(
        events.Key("question_mark", "?") if opening else events.Key("escape", "\x1b")
    )
    while isinstance(app.screen, TextScreen) != opening:  # noqa: ASYNC110 - polling the app from outside, as a user's eye does
        await asyncio.sleep(0.0005)
    painted: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def mark() -> None:
        if not painted.done():
            painted.set_result(time.perf_counter())

    app.call_after_refresh(mark)
    return (await painted - start) * 1000


async def _presses(
    app: AirlockApp, count: int, *, while_verifying: bool
) -> list[float]:
    timings: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        if not while_verifying:
            while app.judged is None and app.error is None:
                await pilot.pause(0.05)
        for i in range(count):
            if while_verifying and (app.judged is not None or app.error is not None):
                break
            timings.append(await _press(app, opening=i % 2 == 0))
        if isinstance(app.screen, TextScreen):
            await _press(app, opening=False)
        await pilot.press("q")
    if len(timings) < MIN_PRESSES:
        msg = f"only {len(timings)} presses before the verification ended: use a larger archive"
        raise RuntimeError(msg)
    return timings


def latency() -> tuple[list[float], list[float], int]:
    """(ms per press while verifying, ms per press idle, archive bytes)."""
    from appliance.cli.main import _parser  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp, netguard.loopback():
        work = Path(tmp)
        archive, root, _ = export_big(work, layers=8, layer_bytes=256 * 1024 * 1024)
        os.environ["APPLIANCE_STATE_DIR"] = str(work / "state")
        args = [
            str(archive),
            "--trusted-root",
            str(root),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            DEFAULT_ISSUER,
        ]
        busy = asyncio.run(
            _presses(
                AirlockApp(session(_parser().parse_args(["tui", *args]))),
                PRESSES,
                while_verifying=True,
            )
        )
        idle = asyncio.run(
            _presses(
                AirlockApp(session(_parser().parse_args(["tui", *args]))),
                PRESSES,
                while_verifying=False,
            )
        )
        return busy, idle, archive.stat().st_size


def first_paint(repeats: int = 10) -> tuple[float, float]:
    """(ours, a bare Textual app): median seconds from spawn to the first paint."""
    results = []
    for code in (_OURS, _PEER):
        runs = []
        for _ in range(repeats):
            spawned = time.time()
            done = subprocess.run(
                [sys.executable, "-c", code, repr(spawned)],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            runs.append(float(done.stdout.strip().splitlines()[-1]))
        results.append(statistics.median(runs))
    return results[0], results[1]


def summary(values: list[float]) -> str:
    """Median, p99 and max of a list of milliseconds."""
    return f"median {statistics.median(values):.1f}, p99 {percentile(values, 0.99):.1f}, max {max(values):.1f}"


if __name__ == "__main__":
    busy, idle, size = latency()
    print(
        f"{size / 1024**3:.2f} GiB, {len(busy)} presses while verifying: {summary(busy)} ms; idle: {summary(idle)} ms"
    )
    ours, peer = first_paint()
    print(f"first paint: ours {ours:.3f} s, bare Textual app {peer:.3f} s")
