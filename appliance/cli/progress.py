"""Progress on stderr: bars on a terminal only (logs and pipes stay clean), notes always.

:class:`Bars` is the CLI's :class:`~appliance.actions.interface.Progress`:
the action reports bytes read and pushed, and this draws them; a note (a
wait and its reason) is one escaped line on stderr whatever stderr is.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Self

from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.actions.interface import Run

if TYPE_CHECKING:
    from types import TracebackType

    from rich.progress import Progress, TaskID


class Bars:
    """Bars for one command: one for reading the archive, one for pushing, created on first use."""

    def __init__(self, reading: str, pushing: str = "pushing") -> None:
        self._labels = {"reading": reading, "pushing": pushing}
        self._tty = sys.stderr.isatty()
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    @property
    def run(self) -> Run:
        """How the action runs: reporting here, not cancellable (Ctrl-C interrupts)."""
        return Run(progress=self)

    def __enter__(self) -> Self:
        """Nothing is drawn until there is something to draw."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Take the bars off the screen."""
        del kind, error, traceback
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _task(self, which: str, total: int | None) -> tuple[Progress, TaskID] | None:
        if not self._tty:
            return None
        if self._bar is None:
            # rich's progress display only on a terminal, built when first needed.
            from rich.console import Console  # noqa: PLC0415 - a terminal only
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
        if which not in self._tasks:
            self._tasks[which] = self._bar.add_task(
                untrusted(self._labels[which]), total=total
            )
        return self._bar, self._tasks[which]

    def reading(self, read_bytes: int, total_bytes: int | None, members: int) -> None:
        """The archive's bytes read so far."""
        del members
        found = self._task("reading", total_bytes)
        if found is not None:
            bar, task = found
            bar.update(task, completed=read_bytes, total=total_bytes)

    def pushing(self, sent_bytes: int, total_bytes: int) -> None:
        """Blob bytes sent so far."""
        found = self._task("pushing", total_bytes)
        if found is not None:
            bar, task = found
            bar.update(task, completed=sent_bytes, total=total_bytes or None)

    def note(self, text: str) -> None:
        """One line on stderr (above the bars on a terminal)."""
        line = untrusted(text, markup=False, limit=LINE_LIMIT)
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr)
