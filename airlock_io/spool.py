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
"""

from __future__ import annotations

import os
import tempfile
import weakref
from pathlib import Path

from appliance.core.errors import InputError

_WHERE = "the intake's spool (TMPDIR)"


class FileSpool:
    """Append-only bytes in an unlinked temporary file (``TMPDIR``), read back by offset."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._end = 0

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

    def put(self, data: bytes | bytearray) -> int:
        """Append ``data``; return its offset.

        Raises:
            InputError: the temporary file cannot be created or written
                (a full disk: one line naming TMPDIR).
        """
        offset = self._end
        directory = "TMPDIR"
        try:
            if self._fd is None:
                directory = tempfile.gettempdir()
                self._fd = self._open(directory)
            view = memoryview(data)
            while view:
                written = os.pwrite(self._fd, view, self._end)
                view = view[written:]
                self._end += written
        except OSError as exc:
            msg = f"cannot keep documents past the in-memory threshold in {directory} (TMPDIR): {exc.strerror or exc}"
            raise InputError(msg, where=_WHERE) from exc
        return offset

    def get(self, offset: int, size: int) -> bytes:
        """The ``size`` bytes at ``offset`` (a short read is an error, never partial bytes).

        Raises:
            InputError: the file cannot be read, or holds fewer bytes than
                were put there.
        """
        try:
            data = b"" if self._fd is None else os.pread(self._fd, size, offset)
        except OSError as exc:
            msg = f"cannot read a document back: {exc.strerror or exc}"
            raise InputError(msg, where=_WHERE) from exc
        if len(data) != size:
            msg = f"returned {len(data)} of {size} bytes at offset {offset}"
            raise InputError(msg, where=_WHERE)
        return data

    @property
    def size(self) -> int:
        """Bytes spooled so far."""
        return self._end
