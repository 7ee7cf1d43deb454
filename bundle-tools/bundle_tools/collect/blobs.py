"""A blob cache by digest, filled by parallel, checked transfers.

``--cache DIR`` (default ``$BUNDLE_TOOLS_CACHE``, else
``$XDG_CACHE_HOME/airlock-bundle-tools``) holds ``blobs/sha256/<hex>``: only
complete blobs whose size and digest were checked on arrival (a transfer
writes a temporary name and renames it). A re-run, or the next export,
fetches only what is new; an export killed half-way resumes from what
arrived whole. The packer re-hashes every cached blob as it reads it, so a
cache damaged on disk is caught, not carried.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.atomic import sweep_all, write_atomically
from airlock_io.oserrors import write_error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from appliance.core.archive.manifest import Descriptor
    from bundle_tools.collect.discover import ClientPool

CACHE_ENV = "BUNDLE_TOOLS_CACHE"


class _StoppedError(Exception):
    """Another transfer failed (or the export was interrupted): stop this one."""


def default_cache() -> Path:
    """``$BUNDLE_TOOLS_CACHE``, else ``$XDG_CACHE_HOME/airlock-bundle-tools``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airlock-bundle-tools"


class BlobCache:
    """Blobs by digest under ``root``.

    Raises:
        InputError: the cache directory cannot be created.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        try:
            self.blobs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, root, doing="cannot create the cache") from exc

    def path(self, digest: str) -> Path:
        """Where ``digest`` is (or will be) kept."""
        return self.blobs / digest.removeprefix("sha256:")

    def has(self, descriptor: Descriptor) -> bool:
        """Whether a complete blob of the descriptor's size is cached.

        Its digest is checked again, when it is packed.
        """
        try:
            return self.path(descriptor.digest).stat().st_size == descriptor.size
        except OSError:
            return False

    def put_all(self, blobs: Mapping[str, bytes]) -> None:
        """Keep blobs fetched another way (small documents), checked by the caller.

        Those not cached yet are written; what killed runs left of them is
        swept in one listing of the cache (one per blob is quadratic).
        """
        new = {
            path: data
            for path, data in ((self.path(d), data) for d, data in blobs.items())
            if not path.exists()
        }
        sweep_all(new)
        for path, data in new.items():
            write_atomically(path, data, swept=True)

    def forget(self, digest: str) -> None:
        """Drop a damaged entry, so the next run fetches it again."""
        self.path(digest).unlink(missing_ok=True)

    def fetch(
        self,
        wanted: Iterable[tuple[str, str, Descriptor]],
        *,
        pool: ClientPool,
        jobs: int,
        on_bytes: Callable[[int], None] | None = None,
        on_blob: Callable[[Descriptor, bool], None] | None = None,
    ) -> int:
        """Fetch every blob not yet cached, ``jobs`` at a time; return how many.

        Args:
            wanted: ``(host, repository, descriptor)`` of each blob.
            pool: the registry clients (one per thread and host).
            jobs: parallel transfers.
            on_bytes: called with each chunk's size as it arrives.
            on_blob: called when a blob is done (``True`` if fetched, ``False``
                if it was cached already).

        Raises:
            InputError: a transfer failed (the others are stopped), or a
                registry served bytes that are not the blob.
        """
        done = on_blob or (lambda _desc, _fetched: None)
        todo = []
        for host, repository, desc in wanted:
            if self.has(desc):
                done(desc, False)  # noqa: FBT003 - the callback's positional flag
            else:
                todo.append((host, repository, desc))
        if todo:
            # What killed runs left of these blobs, in one listing of the
            # cache (one per blob was quadratic: 60,000 blobs took hours).
            sweep_all(self.path(desc.digest) for _, _, desc in todo)
            self._parallel(todo, pool=pool, jobs=jobs, on_bytes=on_bytes, done=done)
        return len(todo)

    def _parallel(
        self,
        todo: list[tuple[str, str, Descriptor]],
        *,
        pool: ClientPool,
        jobs: int,
        on_bytes: Callable[[int], None] | None,
        done: Callable[[Descriptor, bool], None],
    ) -> None:
        stop = threading.Event()

        def arrived(size: int) -> None:
            if stop.is_set():  # abandon this transfer: its temporary is removed
                raise _StoppedError
            if on_bytes is not None:
                on_bytes(size)

        def one(host: str, repository: str, desc: Descriptor) -> Descriptor:
            pool.client(host).blob(
                repository, desc, self.path(desc.digest), progress=arrived, swept=True
            )
            return desc

        with ThreadPoolExecutor(
            max_workers=max(1, jobs), thread_name_prefix="fetch"
        ) as workers:
            futures = [workers.submit(one, *item) for item in todo]
            try:
                for future in as_completed(futures):
                    done(future.result(), True)  # noqa: FBT003 - the callback's positional flag
            except BaseException:
                # The first failure (or Ctrl-C, SIGTERM) stops every transfer.
                stop.set()
                for future in futures:
                    future.cancel()
                raise
