"""``appliance extract --files DIR``: the files that verified, written under their names.

Only files whose verdict passed are wanted (docs/image-sets.md §7); each is
written from the second pass over the archive as it streams by, re-hashed,
and kept only if its bytes are the blob that verified. The directory is
built beside the target under a temporary name (:mod:`airlock_io.atomic`'s)
and renamed into place only when every wanted file is whole and synced: the
target never holds a partial set, and nothing unverified is ever in it.
Names were checked by the verifier (one plain path component).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING, BinaryIO

from airlock_io.atomic import fsync_dir, temporary_name
from airlock_io.oserrors import write_error
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from pathlib import Path


class _FileSink:
    """One file written as it streams by, renamed to its name only if it hashes to its blob."""

    def __init__(self, root: Path, name: str, digest: str, target: Path) -> None:
        self.digest = digest
        self.target = target
        self.final = root / name
        self.part = root / f".{name}.part"
        try:
            self.handle: BinaryIO = self.part.open("xb")
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> InputError:
        return write_error(exc, self.target, doing=f"cannot write {self.final.name}")

    def write(self, piece: memoryview) -> None:
        try:
            self.handle.write(piece)
        except OSError as exc:
            raise self._error(exc) from exc

    def finish(self, sha256: str) -> None:
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
        except OSError as exc:
            raise self._error(exc) from exc
        if sha256 != self.digest:
            self.part.unlink(missing_ok=True)
            msg = f"changed since it was verified: its bytes now hash to {sha256}; not written"
            raise VerificationError(
                msg, reason=Reason.DIGEST_MISMATCH, where=f"file {self.final.name}"
            )
        try:
            self.part.replace(self.final)
        except OSError as exc:
            raise self._error(exc) from exc

    def abort(self, error: BaseException) -> None:
        del error
        with contextlib.suppress(OSError):
            self.handle.close()
        self.part.unlink(missing_ok=True)


class FilesWriter:
    """Writes the verified files (blob digest -> name) into a new directory at ``target``.

    Raises (at construction):
        InputError: the target exists, or its directory cannot be written.
    """

    def __init__(self, target: Path, wanted: dict[str, str]) -> None:
        if target.exists() or target.is_symlink():
            msg = "exists: extract writes a new directory and never merges into one"
            raise InputError(msg, where=str(target), reason=Reason.USAGE)
        if not target.parent.is_dir():
            msg = "its directory does not exist"
            raise InputError(msg, where=str(target), reason=Reason.INPUT_UNREADABLE)
        self.target = target
        self.wanted = dict(wanted)
        self.written: set[str] = set()
        self.temp = temporary_name(target)
        try:
            self.temp.mkdir()
        except OSError as exc:
            raise write_error(exc, target, doing="cannot write there") from exc

    def tap(self, digest: str, size: int) -> _FileSink | None:
        """The file for a blob of the second pass, if it is a verified file."""
        del size
        if digest not in self.wanted or digest in self.written:
            return None
        self.written.add(digest)
        return _FileSink(self.temp, self.wanted[digest], digest, self.target)

    def finish(self) -> list[str]:
        """Rename the directory into place; return the names written.

        Raises:
            VerificationError: a verified file was not in the second pass.
            InputError: the directory cannot be written.
        """
        missing = sorted(set(self.wanted) - self.written)
        if missing:
            msg = f"the archive changed since it was verified: {missing[0]} is no longer in it"
            raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="archive")
        try:
            fsync_dir(self.temp)
            self.temp.rename(self.target)
            fsync_dir(self.target.parent)
        except OSError as exc:
            raise write_error(exc, self.target, doing="cannot write there") from exc
        return sorted(self.wanted.values())

    def discard(self) -> None:
        """Remove the temporary directory (on any failure)."""
        with contextlib.suppress(OSError):
            shutil.rmtree(self.temp)
