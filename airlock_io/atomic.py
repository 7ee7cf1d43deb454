"""Write files so that nothing is ever half-written, destroyed or left behind.

Temporary name in the target's own directory, write, fsync, rename over the
target, fsync the directory: after a crash the target holds either the old
bytes or the new ones. Beyond that:

* a target that exists and is not a regular file (a device such as
  ``/dev/null``, a directory, a FIFO) is refused, never replaced by rename;
* a symbolic link is written *through*, deliberately: its final target is
  replaced atomically and the link stays a link;
* the replaced file's mode (and, where permitted, owner) is kept; a new file
  is 0644, or 0600 when it holds a secret;
* temporaries are named ``.<name>.airlock-<pid>-<random>.tmp``: removed on any
  error or interruption (``BaseException``), and, if a process died before it
  could (SIGKILL, power loss), swept by the next write of the same target
  once their process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.oserrors import write_error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import BinaryIO

PUBLIC_MODE = 0o644
SECRET_MODE = 0o600
_MARK = ".airlock-"


class UnsafeTargetError(OSError):
    """The target exists and is not a regular file: it is never replaced."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            errno.EINVAL,
            "exists and is not a regular file (a device, directory or pipe is never replaced)",
            str(path),
        )


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created 0600) for the block.

    Serialises read-modify-write of shared state across processes: two
    commands running at once cannot lose each other's updates.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, SECRET_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def temporary_name(path: Path) -> Path:
    """A fresh temporary path beside ``path``, recognisable by :func:`sweep`."""
    return path.with_name(
        f".{path.name}{_MARK}{os.getpid()}-{secrets.token_hex(4)}.tmp"
    )


def sweep(path: Path) -> None:
    """Remove temporaries of ``path`` left by processes that no longer run."""
    sweep_all([path])


def sweep_all(paths: Iterable[Path]) -> None:
    """:func:`sweep` each of ``paths``, listing each directory once.

    For a writer of many files into one directory: one :func:`sweep` per
    file lists the directory each time, which makes the writer quadratic
    (a blob cache of 60,000 blobs: 113 ms a blob by the end). Only the
    temporaries of the files named are taken, as :func:`sweep` takes them.
    """
    names: dict[Path, set[str]] = {}
    for path in paths:
        names.setdefault(path.parent, set()).add(path.name)
    for directory, targets in names.items():
        _sweep(directory, targets.__contains__)


def sweep_directory(directory: Path) -> None:
    """Remove every temporary in ``directory`` left by a process that no longer runs.

    For writers whose targets are not known in advance (``extract`` names a
    new directory each run): what a killed run left, whatever it was
    writing, is found by its name alone.
    """
    _sweep(directory, lambda _target: True)


def _sweep(directory: Path, wanted: Callable[[str], bool]) -> None:
    """Remove ``directory``'s temporaries ``.{TARGET}{_MARK}PID-HEX.tmp`` of dead PIDs whose TARGET is ``wanted``."""
    try:
        with os.scandir(directory) as listing:
            entries = [e.name for e in listing]
    except OSError:
        return
    for name in entries:
        if not name.startswith(".") or not name.endswith(".tmp"):
            continue
        target, mark, owner = name[1:].rpartition(_MARK)
        if not mark or not wanted(target):
            continue
        pid_text = owner.split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            entry = directory / name
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    import shutil  # noqa: PLC0415 - rare: only a dead run's leftovers

                    shutil.rmtree(entry)
                else:
                    entry.unlink()


def resolve_target(path: Path) -> Path:
    """The file a write to ``path`` must replace: through symlinks, never a device.

    Raises:
        UnsafeTargetError: it exists and is not a regular file.
        FileNotFoundError: its directory does not exist.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        info = target.stat()
    except FileNotFoundError:
        parent = target.parent if str(target.parent) else Path()
        if not parent.is_dir():
            raise FileNotFoundError(
                errno.ENOENT, "its directory does not exist", str(path)
            ) from None
        return target
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeTargetError(path)
    return target


def write_atomically(
    path: Path,
    data: bytes | Callable[[BinaryIO], object],
    *,
    secret: bool = False,
    swept: bool = False,
) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Args:
        path: the file to write (a symlink is written through).
        data: the new content, or a function writing it to the open file
            (a report of 100,000 signatures is never held whole).
        secret: a new file is created 0600 instead of 0644.
        swept: the caller already swept ``path``'s leftovers, with a batch
            (:func:`sweep_all`); otherwise they are swept here.

    Raises:
        UnsafeTargetError: the target exists and is not a regular file.
        OSError: the directory cannot be written (nothing was changed).
    """
    target = resolve_target(path)
    directory = target.parent if str(target.parent) else Path()
    if not swept:
        sweep(target)
    mode = SECRET_MODE if secret else PUBLIC_MODE
    owner: tuple[int, int] | None = None
    with contextlib.suppress(FileNotFoundError):
        info = target.stat()
        mode, owner = stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)
    temp = temporary_name(target)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if owner is not None and (os.geteuid() == 0 or owner[0] == os.geteuid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(handle.fileno(), *owner)
            os.fsync(handle.fileno())
        temp.replace(target)
        fsync_dir(directory)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def check_output(path: Path) -> None:
    """Refuse an output path before any work is done for it (a device, a missing directory).

    Raises:
        InputError: the path cannot be written (one line naming it).
    """
    try:
        resolve_target(path)
    except OSError as exc:
        raise write_error(exc, path, doing="cannot write there") from exc


def write_output(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """:func:`write_atomically` for a command's output, failures as one clear line.

    Raises:
        InputError: the write failed (nothing was left under ``path``'s name).
    """
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise write_error(exc, path) from exc
