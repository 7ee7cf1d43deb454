"""Progress on stderr: rich bars on a terminal, plain lines everywhere else.

Per-blob and overall bytes per second, images done of all. stdout is left to
the result (the summary table, or ``-o json``).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from airlock_io.terminal import LINE_LIMIT, untrusted
from bundle_tools.export import Reporter

if TYPE_CHECKING:
    from appliance.core.archive.manifest import Descriptor


def _mib(n: float) -> str:
    return f"{n / 1024**2:,.1f} MiB"


class _Lines:
    """Plain lines, at most one every few seconds per phase (logs, CI, pipes)."""

    def __init__(self, images: int) -> None:
        self.images = images
        self.done_images = 0
        self.lock = threading.Lock()
        self.total = 0
        self.count = 0
        self.bytes = 0
        self.blobs = 0
        self.cached = 0
        self.packed = 0
        self.started = time.monotonic()
        self.last = 0.0

    def phase(self, text: str) -> None:
        if self.bytes and self.count:  # the fetch phase ended: say how it went
            seconds = max(time.monotonic() - self.started, 1e-3)
            # Blobs the cache already held are not "fetched" (a resumed
            # export of 40,000 blobs fetched 18,371 and said 40,000).
            cached = f"; {self.cached} already in the cache" if self.cached else ""
            print(
                f"bundle-tools: fetched {self.blobs} blob(s), {_mib(self.bytes)} in {seconds:.1f} s "
                f"({_mib(self.bytes / seconds)}/s){cached}",
                file=sys.stderr,
                flush=True,
            )
            self.count = 0
        print(
            f"bundle-tools: {untrusted(text, markup=False, limit=LINE_LIMIT)}",
            file=sys.stderr,
            flush=True,
        )
        self.started = self.last = time.monotonic()

    def image_done(self, ref: str) -> None:
        self.done_images += 1
        print(
            f"bundle-tools: images {self.done_images}/{self.images}: {untrusted(ref, markup=False)}",
            file=sys.stderr,
            flush=True,
        )

    def blob_total(self, count: int, size: int) -> None:
        self.count, self.total = count, size
        print(
            f"bundle-tools: {count} blob(s) to fetch, {_mib(size)}",
            file=sys.stderr,
            flush=True,
        )

    def _tick(self, text: str) -> None:
        now = time.monotonic()
        if now - self.last >= 2.0:  # noqa: PLR2004 - seconds between lines
            self.last = now
            print(f"bundle-tools: {text}", file=sys.stderr, flush=True)

    def blob_bytes(self, n: int) -> None:
        with self.lock:
            self.bytes += n
            rate = self.bytes / max(time.monotonic() - self.started, 1e-3)
            self._tick(
                f"fetched {_mib(self.bytes)} of {_mib(self.total)} at {_mib(rate)}/s"
            )

    def blob_done(self, desc: Descriptor, fetched: bool) -> None:  # noqa: FBT001 - the Reporter's signature
        del desc
        with self.lock:
            if fetched:
                self.blobs += 1
            else:
                self.cached += 1

    def pack_bytes(self, n: int) -> None:
        self.packed += n
        rate = self.packed / max(time.monotonic() - self.started, 1e-3)
        self._tick(f"packed {_mib(self.packed)} at {_mib(rate)}/s")


def reporter(*, images: int, quiet: bool = False) -> tuple[Reporter, Any]:
    """A reporter for ``images`` references, and a context to run it in."""
    import contextlib  # noqa: PLC0415

    if quiet:
        return Reporter(), contextlib.nullcontext()
    if not sys.stderr.isatty():
        lines = _Lines(images)
        return (
            Reporter(
                phase=lines.phase,
                blob_total=lines.blob_total,
                blob_bytes=lines.blob_bytes,
                blob_done=lines.blob_done,
                image_done=lines.image_done,
                pack_bytes=lines.pack_bytes,
            ),
            contextlib.nullcontext(),
        )
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    images_task = progress.add_task("images", total=images)
    state: dict[str, Any] = {"fetch": None, "pack": None}
    lock = threading.Lock()

    def blob_total(count: int, size: int) -> None:
        state["fetch"] = progress.add_task(f"fetch {count} blob(s)", total=size)

    def blob_bytes(n: int) -> None:
        with lock:
            if state["fetch"] is not None:
                progress.advance(state["fetch"], n)

    def phase(text: str) -> None:
        progress.console.print(f"[dim]{untrusted(text, limit=LINE_LIMIT)}[/dim]")
        if text.startswith("writing"):
            state["pack"] = progress.add_task("pack", total=None)

    def pack_bytes(n: int) -> None:
        if state["pack"] is not None:
            progress.advance(state["pack"], n)

    return (
        Reporter(
            phase=phase,
            blob_total=blob_total,
            blob_bytes=blob_bytes,
            image_done=lambda _ref: progress.advance(images_task, 1),
            pack_bytes=pack_bytes,
        ),
        progress,
    )
