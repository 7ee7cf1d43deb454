"""A real, small file system for full-disk tests: a tmpfs mounted for one test.

The kernel says ENOSPC itself, at whatever write crosses the limit: nothing
is faked. Mounting needs CAP_SYS_ADMIN (root in CI's container has it);
where it is refused the test is skipped with that reason, never passed.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@contextlib.contextmanager
def small_fs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``1m``, ``256k``) at ``mount`` while the context lasts."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(
            f"cannot mount a tmpfs here (needs CAP_SYS_ADMIN): {done.stderr.strip()}"
        )
    try:
        yield mount
    finally:
        # Lazily, if something (a killed child) still holds a file there.
        if subprocess.run(
            ["umount", str(mount)], capture_output=True, check=False
        ).returncode:
            subprocess.run(
                ["umount", "-l", str(mount)], capture_output=True, check=False
            )


def fill(directory: Path, *, leave: int = 0) -> Path:
    """Fill ``directory``'s file system, then free ``leave`` bytes (rounded to pages).

    Returns:
        The filler file.
    """
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:  # nothing left to flush on close
        try:
            while handle.write(b"\0" * 65536):
                pass
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    with filler.open("r+b") as handle:
        handle.truncate(max(0, filler.stat().st_size - leave))
    return filler
