"""Where an intake's documents wait past its in-memory threshold: an unlinked temporary file.

An archive of 100,000 cosign signatures carries about 640 MB of documents
(manifests with a certificate, a chain and a Rekor bundle per layer); held in
memory they were most of ``appliance verify``'s peak. :class:`FileSpool`
keeps them in a file that has no name from the moment it exists
(``O_TMPFILE`` in ``TMPDIR`` on Linux; elsewhere made and unlinked at once), so nothing is left
behind by a run that is killed, and reads them back with ``os.pread``, which
forked verification workers (``--jobs``) can do on the one inherited
descriptor at once (no shared file position). The file is created only when
the first document is spooled: an archive of ordinary size writes nothing.
The intake re-hashes every document it reads back
(:class:`appliance.core.archive.intake.Documents`).

A document of :data:`PACK_FROM` bytes or more is stored compressed (zstd,
level 1): a ``.sig`` manifest repeats its chain in every layer and packs to
about a quarter, and a ``TMPDIR`` that is a tmpfs is memory too. zstd, not
zlib: at 10,000 signatures zlib's fastest level spent 0.4-0.8 s of the
intake (serial, before any worker starts) compressing 56 MB, and the workers
another 0.3 s inflating it; zstd's level 1 does both in a fifth of that,
smaller (RFC 8878; ``zstandard`` already reads the archive). Each stored
document starts with one byte saying which (``P``: plain, ``Z``: a zstd frame
with its content size and checksum).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from pathlib import Path

import zstandard

from appliance.core.errors import InputError

_WHERE = "the intake's spool (TMPDIR)"
PACK_FROM = 4096  # documents this large or larger are stored compressed
_PLAIN, _PACKED = b"P", b"Z"


class FileSpool:
    """Append-only bytes in an unlinked temporary file (``TMPDIR``), read back by offset."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._end = 0
        # Only the intake puts (one thread); reads make their own decompressor
        # (a zstd context is not thread-safe, and pushes read in threads).
        # The frame says its size (the read inflates nothing else) and ends
        # with a checksum of its content (RFC 8878 §3.1.1: the low 32 bits
        # of XXH64), so a bit changed in the file is refused by the read
        # itself, before the caller's hash.
        self._packer = zstandard.ZstdCompressor(
            level=1, write_content_size=True, write_checksum=True
        )

    def _open(self, directory: str) -> int:
        try:
            # O_EXCL: the file can never be given a name (linkat) by anyone.
            fd = os.open(
                directory, os.O_TMPFILE | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600
            )
        except (AttributeError, OSError):  # no O_TMPFILE (not Linux, old fs)
            fd, name = tempfile.mkstemp(prefix="airlock-spool-", dir=directory)
            Path(name).unlink()
        # Closed when the spool goes (and with the process, whatever happens).
        weakref.finalize(self, os.close, fd)
        return fd

    def put(self, data: bytes | bytearray) -> tuple[int, int]:
        """Store ``data``, compressed past :data:`PACK_FROM`; return where it lies and its length there.

        Raises:
            InputError: the temporary file cannot be created or written
                (a full disk: one line naming TMPDIR).
        """
        if len(data) >= PACK_FROM:
            stored = _PACKED + self._packer.compress(data)
        else:
            stored = _PLAIN + data
        offset = self._end
        directory = "TMPDIR"
        try:
            if self._fd is None:
                directory = tempfile.gettempdir()
                self._fd = self._open(directory)
            view = memoryview(stored)
            while view:
                written = os.pwrite(self._fd, view, self._end)
                view = view[written:]
                self._end += written
        except OSError as exc:
            msg = f"cannot keep documents past the in-memory threshold in {directory} (TMPDIR): {exc.strerror or exc}"
            raise InputError(msg, where=_WHERE) from exc
        return offset, len(stored)

    def get(self, offset: int, stored: int, size: int) -> bytes:
        """The document put at ``offset`` (``stored`` bytes there): ``size`` bytes, or ``b""``.

        What the file now holds is not trusted: bytes that do not decode
        come back as ``b""``, and a compressed document is inflated only if
        its frame says it is ``size`` bytes (the frame's word decides the
        allocation), so a rewritten file cannot inflate without bound, and
        its content matches the frame's checksum. The caller hashes what
        comes back.

        Raises:
            InputError: the file cannot be read, or holds fewer bytes than
                were put there (a short read is an error, never partial bytes).
        """
        try:
            data = b"" if self._fd is None else os.pread(self._fd, stored, offset)
        except OSError as exc:
            msg = f"cannot read a document back: {exc.strerror or exc}"
            raise InputError(msg, where=_WHERE) from exc
        if len(data) != stored:
            msg = f"returned {len(data)} of {stored} bytes at offset {offset}"
            raise InputError(msg, where=_WHERE)
        kind, body = data[:1], data[1:]
        if kind == _PLAIN:
            return body if len(body) == size else b""
        if kind != _PACKED:
            return b""
        try:
            frame = zstandard.get_frame_parameters(body)
            # Only a frame as put() writes it: its size, its checksum, no
            # dictionary.
            if frame.content_size != size or not frame.has_checksum or frame.dict_id:
                return b""
            # One frame, nothing after it.
            return zstandard.ZstdDecompressor().decompress(body, allow_extra_data=False)
        except zstandard.ZstdError:
            return b""

    @property
    def size(self) -> int:
        """Bytes spooled so far."""
        return self._end
