"""Read an archive from its parts, in order, without putting it back together on disk.

:class:`PartsStream` is a raw, read-only file over ``STEM.part-NNNN.tar.zst``
as ``STEM.parts.json`` lists them: the archive reader streams through it as
through one file. Every part is checked before any byte is read (present,
the right size) and hashed as it is read; a part that hashes to something
else stops the read. A damaged set is :class:`DamagedParts`, which carries
the re-request list: exactly the parts to send again (missing, truncated or
altered), so that ``appliance verify --request-out`` can write it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Self

from airlock_io import inputs
from appliance.core.archive.parts import Part, PartsIndex, Request
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import io
    from pathlib import Path

MAX_INDEX_BYTES = 16 * 1024 * 1024


class DamagedParts(InputError):  # noqa: N818 - what it is: damaged parts
    """Parts are missing, short or altered (exit 2: nothing was judged)."""

    def __init__(self, request: Request, where: str) -> None:
        names = ", ".join(
            f"{p.name} ({r})"
            for p, r in zip(request.parts, request.reasons, strict=True)
        )
        super().__init__(
            f"send these parts again: {names}",
            where=where,
            reason=Reason.INPUT_UNREADABLE,
        )
        self.request = request


def find_index(path: Path) -> Path | None:
    """The parts index ``path`` names: the file itself, or the one in a directory of parts."""
    if path.is_file() and path.name.endswith(".parts.json"):
        return path
    if path.is_dir() and not (path / "oci-layout").exists():
        found = sorted(path.glob("*.parts.json"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            msg = "holds more than one parts index: name the one to read"
            raise InputError(msg, where=str(path), reason=Reason.USAGE)
    return None


def read_index(path: Path) -> PartsIndex:
    """Parse the index (capped, strict).

    Raises:
        InputError: unreadable, or not an index.
    """
    return PartsIndex.from_bytes(
        inputs.read_file(path, what="parts index", max_bytes=MAX_INDEX_BYTES),
        where=str(path),
    )


class PartsStream:
    """One raw stream over the parts of an index, each hashed as it goes by."""

    def __init__(self, index_file: Path) -> None:
        self.index_file = index_file
        self.index = read_index(index_file)
        self.folder = index_file.parent
        self.altered: list[Part] = []
        self._check_presence()
        self._reset()

    def _request(self, damaged: list[tuple[Part, str]]) -> DamagedParts:
        request = Request(
            archive_sha256=self.index.archive_sha256,
            ledger_digest=self.index.ledger_digest,
            part_size=self.index.part_size,
            parts=tuple(p for p, _ in damaged),
            reasons=tuple(r for _, r in damaged),
        )
        return DamagedParts(request, where=str(self.index_file))

    def _check_presence(self) -> None:
        damaged = []
        for part in self.index.parts:
            path = self.folder / part.name
            try:
                size = (
                    path.stat().st_size
                    if path.is_file() and not path.is_symlink()
                    else None
                )
            except OSError:
                size = None
            if size is None:
                damaged.append((part, "missing"))
            elif size < part.size:
                damaged.append((part, "truncated"))
            elif size > part.size:
                damaged.append((part, "altered"))
        if damaged:
            raise self._request(damaged)

    def _reset(self) -> None:
        self._number = 0
        self._handle: io.BufferedReader | None = None
        self._left = 0
        self._hasher = hashlib.sha256()
        self.altered = []

    def _next_part(self) -> bool:
        self._finish_part()
        if self._number >= len(self.index.parts):
            return False
        part = self.index.parts[self._number]
        self._number += 1
        try:
            self._handle = (self.folder / part.name).open("rb")
        except OSError as exc:
            raise self._request([(part, "missing")]) from exc
        self._left, self._hasher = part.size, hashlib.sha256()
        return True

    def _finish_part(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        part = self.index.parts[self._number - 1]
        if self._left or "sha256:" + self._hasher.hexdigest() != part.sha256:
            self.altered.append(part)
            raise self.diagnose()

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` from the parts in order; 0 at the end."""
        view = memoryview(buffer)
        while True:
            if self._handle is None or not self._left:
                if not self._next_part():
                    return 0
                continue
            length = self._handle.readinto(view[: min(len(view), self._left)])
            if not length:
                self._left = -1  # shorter than it said
                self._finish_part()
                continue
            self._hasher.update(view[:length])
            self._left -= length
            return length

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (the reader peeks at the first four)."""
        buffer = bytearray(max(size, 0) or 1024 * 1024)
        length = self.readinto(buffer)
        return bytes(buffer[:length])

    def seek(self, offset: int, whence: int = 0) -> int:
        """Only back to the start (after the peek)."""
        if (offset, whence) != (0, 0):
            msg = "a parts stream only rewinds to its start"
            raise OSError(msg)
        self.close()
        self._reset()
        return 0

    def fileno(self) -> int:
        """No single descriptor: the reader takes the size from the index."""
        msg = "a parts stream has no descriptor"
        raise OSError(msg)

    def close(self) -> None:
        """Close the part open now."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Self:
        """Use as a context."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close."""
        self.close()

    def diagnose(self) -> DamagedParts | InputError:
        """After any failure: hash every part, and name the damaged ones (or say none is)."""
        self.close()
        damaged = []
        for part in self.index.parts:
            digest = hashlib.sha256()
            try:
                with (self.folder / part.name).open("rb") as handle:
                    while chunk := handle.read(1024 * 1024):
                        digest.update(chunk)
            except OSError:
                damaged.append((part, "missing"))
                continue
            if "sha256:" + digest.hexdigest() != part.sha256:
                damaged.append((part, "altered"))
        if damaged:
            return self._request(damaged)
        msg = "every part is as its index says, yet the archive does not read: the index itself is wrong"
        return InputError(msg, where=str(self.index_file))
