"""Write files so that nothing is ever half-written.

Temporary name in the target's own directory, write, fsync, rename over the
target, fsync the directory: after a crash the target holds either the old
bytes or the new ones. On error the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Raises:
        OSError: the directory cannot be written (nothing was changed).
    """
    directory = path.parent if str(path.parent) else Path()
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp).replace(path)
        fsync_dir(directory)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
