"""Progress bars on stderr, on a terminal only (logs and pipes stay clean)."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def byte_bar(
    description: str, total: int | None
) -> tuple[Callable[[int | None, int | None], None] | None, Any]:
    """A bytes bar: ``update(completed, total)`` (``completed`` None: advance by ``total``), and its context.

    Off a terminal: no callback, and a context that does nothing.
    """
    if not sys.stderr.isatty():
        return None, contextlib.nullcontext()
    from rich.console import Console  # noqa: PLC0415 - rich only on a terminal
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from airlock_io.terminal import untrusted  # noqa: PLC0415

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    # The description names a file on the media: Rich renders it as markup.
    task = bar.add_task(untrusted(description), total=total)

    def update(completed: int | None, size: int | None) -> None:
        if completed is None:
            bar.advance(task, size or 0)
        else:
            bar.update(task, completed=completed, total=size or None)

    return update, bar
