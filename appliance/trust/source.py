"""Read a TUF repository that crossed the gap, laid out as it is served.

A directory holding ``N.root.json``, ``timestamp.json``, ``N.snapshot.json``,
``N.targets.json`` and ``targets/<sha256>.<name>``. Names come from signed
metadata, but are still confined to the directory: no absolute paths, no
``..``, no symbolic links, and a size cap on every file.
"""

from __future__ import annotations

import stat
from pathlib import Path, PurePosixPath

from appliance.core.errors import InputError

MAX_FILE_BYTES = 32 * 1024 * 1024


class DirectorySource:
    """``fetch(name) -> bytes | None`` over a directory."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InputError(
                "not a directory laid out as a TUF repository", where=str(root)
            )
        self.root = root
        self.label = str(root)

    def __call__(self, name: str) -> bytes | None:
        """Return the file's bytes, or None if it is absent.

        Raises:
            InputError: an unsafe name, a link, or a file over the size cap.
        """
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise InputError("unsafe file name in TUF metadata", where=name)
        path = self.root.joinpath(*relative.parts)
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc
        if not stat.S_ISREG(info.st_mode):
            raise InputError("not a regular file (links are refused)", where=str(path))
        if info.st_size > MAX_FILE_BYTES:
            raise InputError(
                f"{info.st_size} bytes, over the {MAX_FILE_BYTES}-byte cap",
                where=str(path),
            )
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc
