"""Read a TUF repository that crossed the gap: laid out as served, or in a transfer archive.

A directory holding ``N.root.json``, ``timestamp.json``, ``N.snapshot.json``,
``N.targets.json`` and ``targets/<sha256>.<name>``. Names come from signed
metadata, but are still confined to the directory: no absolute paths, no
``..``, no symbolic links, and a size cap on every file.
"""

from __future__ import annotations

import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from appliance.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

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


class ArchiveSource:
    """``fetch(name) -> bytes | None`` over the TUF capsule a transfer archive carries."""

    def __init__(self, files: Mapping[str, bytes], label: str) -> None:
        from appliance.core.archive.capsule import fetcher  # noqa: PLC0415

        self.fetch = fetcher(files)
        self.label = label

    def __call__(self, name: str) -> bytes | None:
        """Return the capsule file's bytes, or None if it is absent."""
        return self.fetch(name)


def open_source(path: Path) -> DirectorySource | ArchiveSource:
    """A served TUF directory, or the capsule inside a transfer archive.

    An archive (``.tar.zst``, ``.tar``, or an extracted layout holding
    ``oci-layout``) is read in one checked pass, as ``appliance verify``
    reads it; only its capsule is used, and replayed like any other source.

    Raises:
        InputError: neither, or an archive that carries no TUF capsule.
    """
    if not path.exists() or (path.is_dir() and not (path / "oci-layout").exists()):
        return DirectorySource(path)
    from airlock_io.archive import read_archive  # noqa: PLC0415
    from appliance.core.archive import media, view  # noqa: PLC0415

    archive = read_archive(path)
    carried = view.trust_files(archive.contents)
    if carried is None or carried[0] != media.TRUST_CAPSULE:
        msg = "the transfer archive carries no TUF capsule to import"
        raise InputError(msg, where=str(path))
    return ArchiveSource(carried[1], label=f"{path} (transfer archive)")
