"""What every action takes besides its request: a progress sink and a cancel flag.

The CLI passes a progress sink that draws Rich bars on stderr; the TUI one
that posts to its event loop; tests and scripts pass :data:`QUIET`. The
action never knows which: it reports bytes read and pushed and the waits it
makes, and checks the cancel flag between pieces of work (the archive reader
checks it between members).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import threading


class Progress(Protocol):
    """Where an action reports how far it got (called from the thread doing the work)."""

    def reading(self, read_bytes: int, total_bytes: int | None, members: int) -> None:
        """The archive is being read: bytes so far, of how many if known, members seen."""

    def pushing(self, sent_bytes: int, total_bytes: int) -> None:
        """Blobs are being pushed: bytes sent so far, of how many at most."""

    def note(self, text: str) -> None:
        """One line worth telling the operator now (a wait and its reason, a phase)."""


class _Quiet:
    def reading(self, read_bytes: int, total_bytes: int | None, members: int) -> None:
        del read_bytes, total_bytes, members

    def pushing(self, sent_bytes: int, total_bytes: int) -> None:
        del sent_bytes, total_bytes

    def note(self, text: str) -> None:
        del text


QUIET: Progress = _Quiet()


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """How an action runs: its progress sink and the flag that cancels it."""

    progress: Progress = QUIET
    cancel: threading.Event | None = None


QUIETLY = Run()
