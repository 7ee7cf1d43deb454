"""Read a transfer archive in one streaming pass: ``.tar.zst``, ``.tar`` or a layout directory.

Never ``extractall``, and no temporary copy: every member is hashed as it
streams by, and only what :class:`~appliance.core.archive.intake.Intake`
says to keep (the small documents) stays in memory; layer bytes are hashed
and dropped. The tar headers are parsed here, strictly: a regular file or one
of the layout's two directories, nothing else (no links of any kind, devices,
FIFOs, PAX or GNU long-name records); checksums verified; nothing after the
end-of-archive blocks but zeros.

Throughput: three stages run in their own threads, joined by bounded queues
(so memory stays flat): reading the file (and hashing it, for the archive's
own SHA-256), decompressing (zstd), and parsing tar and hashing members.
``hashlib`` and ``zstandard`` release the GIL, so on two cores the two SHA-256
passes run side by side. A zstd bomb stops as soon as the decompressed bytes
outgrow the compressed ones past the documented ratio.

Truncated, corrupt or refused input is an :class:`InputError` (exit 2);
content that is well-formed but wrong (a blob that does not hash to its name)
is a :class:`VerificationError` (exit 1), raised by the intake.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol

from airlock_io.spool import FileSpool
from appliance.core.archive import layout, media
from appliance.core.archive.intake import Contents, Intake, parse_ledger
from appliance.core.errors import ApplianceError, InputError, Reason
from appliance.core.limits import DEFAULT_ARCHIVE_LIMITS, ArchiveLimits

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from appliance.core.archive.ledger import Ledger

CHUNK: Final = 1024 * 1024
_DEPTH: Final = 6  # chunks in flight between two stages
_BLOCK: Final = 512
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_REGULAR: Final = (b"0", b"\x00")
_DIRECTORY: Final = b"5"
_REFUSED_TYPES: Final = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"6": "a FIFO",
    b"7": "a contiguous file",
    b"x": "a PAX header",
    b"g": "a PAX global header",
    b"L": "a GNU long name",
    b"K": "a GNU long link name",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """How far intake has come (for progress bars)."""

    read_bytes: int  # of the file as given (compressed)
    total_bytes: int  # the file's size (0 for a directory)
    members: int
    blobs_bytes: int  # decompressed member bytes hashed


@dataclass(frozen=True, slots=True, kw_only=True)
class Archive:
    """What was read: the contents, and the archive's own identity."""

    contents: Contents
    sha256: str | None  # of the file as given; None for a directory
    size: int
    kind: str  # tar.zst | tar | directory


class Cancelled(Exception):  # noqa: N818 - a request, not a failure
    """The caller asked intake to stop (the TUI's cancel)."""


class _LedgerFound(Exception):  # noqa: N818 - control flow, caught in read_ledger
    def __init__(self, ledger: Ledger | InputError) -> None:
        super().__init__("ledger found")
        self.ledger = ledger  # as the intake parsed it (or why it did not parse)


class Sink(Protocol):
    """Where a tapped blob's bytes go as they stream by (``appliance load``'s upload)."""

    def write(self, piece: memoryview) -> None:
        """Take the next bytes (valid only during the call)."""

    def finish(self, sha256: str) -> None:
        """The blob ended: its bytes hash to ``sha256`` (the sink commits only if it is the name)."""

    def abort(self, error: BaseException) -> None:
        """The blob will not end well: nothing may be committed."""


Tap = Callable[[str, int], Sink | None]


def _nothing() -> None:
    return None


class _Pool:
    """Buffers recycled between two stages: no allocation (and no page faults) per chunk."""

    def __init__(self, count: int, size: int, cancel: threading.Event) -> None:
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(count):
            self.free.put(bytearray(size))
        self.cancel = cancel

    def take(self) -> bytearray:
        while True:
            if self.cancel.is_set():
                raise Cancelled
            try:
                return self.free.get(timeout=0.1)
            except queue.Empty:
                continue

    def lend(
        self, buffer: bytearray, length: int
    ) -> tuple[memoryview, Callable[[], None]]:
        """A view of ``buffer``'s first bytes, and how to give the buffer back."""
        return memoryview(buffer)[:length], lambda: self.free.put(buffer)


class _Pipe:
    """A bounded queue between two threads that carries errors too.

    Items are views of a pool's buffers with their release: the consumer
    releases each when it moves on to the next.
    """

    _END: Final = object()

    def __init__(self, depth: int, cancel: threading.Event) -> None:
        self.q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.cancel = cancel

    def put(self, item: tuple[memoryview, Callable[[], None]]) -> None:
        while True:
            if self.cancel.is_set():
                raise Cancelled
            try:
                self.q.put(item, timeout=0.1)
            except queue.Full:
                continue
            return

    def close(self, error: BaseException | None = None) -> None:
        with contextlib.suppress(queue.Full):
            self.q.put(error if error is not None else self._END, timeout=1)

    def get(self) -> tuple[memoryview, Callable[[], None]]:
        while True:
            if self.cancel.is_set():
                raise Cancelled
            try:
                item = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is self._END:
                return memoryview(b""), _nothing
            if isinstance(item, BaseException):
                raise item
            return item  # type: ignore[return-value] # only put() adds anything else


class _Chunks:
    """Exact reads over a stream of chunks, without copying the bulk."""

    def __init__(
        self, source: Callable[[], tuple[memoryview, Callable[[], None]]]
    ) -> None:
        self.source = source
        self.chunk = memoryview(b"")
        self.release: Callable[[], None] = _nothing
        self.offset = 0
        self.consumed = 0

    def _fill(self) -> bool:
        if self.offset < len(self.chunk):
            return True
        self.chunk = memoryview(b"")
        self.release()  # every view of the old chunk is done with
        self.chunk, self.release = self.source()
        self.offset = 0
        return bool(self.chunk)

    def pieces(self, n: int) -> Iterator[memoryview]:
        """Yield views totalling exactly ``n`` bytes (each valid until the next).

        Raises:
            InputError: the stream ends first (a truncated archive).
        """
        while n > 0:
            if not self._fill():
                msg = "the archive ends in the middle of a member (truncated)"
                raise InputError(msg, where="archive", reason=Reason.MALFORMED_INPUT)
            take = min(n, len(self.chunk) - self.offset)
            yield self.chunk[self.offset : self.offset + take]
            self.offset += take
            self.consumed += take
            n -= take

    def exact(self, n: int) -> bytes:
        return b"".join(bytes(p) for p in self.pieces(n))

    def at_end(self) -> bool:
        return not self._fill()


def _octal_or_base256(field: bytes, what: str) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256, for sizes past 8 GiB
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    if not all(48 <= c <= 55 for c in text):  # noqa: PLR2004 - '0'..'7'
        msg = f"tar header {what} is not octal"
        raise InputError(msg, where="archive")
    return int(text, 8)


def _parse_header(block: bytes) -> tuple[str, int, bytes]:
    """(name, size, type) of a tar header block (POSIX ustar or GNU).

    Raises:
        InputError: a bad checksum, a name that is not UTF-8, a refused type.
    """
    expected = _octal_or_base256(block[148:156], "checksum")
    actual = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    if expected != actual:
        msg = "tar header checksum does not match (a corrupt archive)"
        raise InputError(msg, where="archive")
    name = block[:100].split(b"\x00", 1)[0]
    if block[257:263] == b"ustar\x00":  # POSIX: a prefix may extend the name
        prefix = block[345:500].split(b"\x00", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = "tar member name is not UTF-8"
        raise InputError(msg, where=repr(name[:120])) from exc
    kind = block[156:157]
    refused = _REFUSED_TYPES.get(kind)
    if refused is not None or kind not in (*_REGULAR, _DIRECTORY):
        msg = f"is {refused or f'an unknown tar entry type {kind!r}'}: refused"
        raise InputError(msg, where=f"archive member {text[:200]!r}")
    return text, _octal_or_base256(block[124:136], "size"), kind


class _Reader:
    def __init__(  # noqa: PLR0913 - keyword-only, each named
        self,
        path: Path,
        *,
        limits: ArchiveLimits,
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event,
        tap: Tap | None = None,
        documents: bool = True,
    ) -> None:
        self.path = path
        self.tap = tap
        self.stop_at_ledger = False
        self.limits = limits
        self.on_progress = on_progress
        self.cancel = cancel
        self.intake = Intake(limits, FileSpool(), documents=documents)
        self.read_bytes = 0
        self.members = 0
        self.blob_bytes = 0
        self.total = 0

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    read_bytes=self.read_bytes,
                    total_bytes=self.total,
                    members=self.members,
                    blobs_bytes=self.blob_bytes,
                )
            )

    # -- the file stage ------------------------------------------------------

    def _read_file(self, handle: BinaryIO, out: _Pipe, hasher: Any) -> None:  # noqa: ANN401 - a hashlib object
        pool = _Pool(_DEPTH + 2, CHUNK, self.cancel)
        try:
            while True:
                buffer = pool.take()
                length = handle.readinto(buffer)  # type: ignore[attr-defined] # a raw file
                if not length:
                    break
                view, release = pool.lend(buffer, length)
                hasher.update(view)
                self.read_bytes += length
                out.put((view, release))
            out.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            out.close(_as_input_error(exc, self.path))

    def _decompress(self, source: _Pipe, out: _Pipe) -> None:
        import zstandard  # noqa: PLC0415 - only for .tar.zst

        class _Source:
            """zstd reads the next input only once it consumed the last: then it is released."""

            def __init__(self) -> None:
                self.fed = 0
                self.release: Callable[[], None] = _nothing

            def read(self, _size: int = -1) -> memoryview:
                self.release()
                data, self.release = source.get()
                self.fed += len(data)
                return data

        feed = _Source()
        produced = 0
        pool = _Pool(_DEPTH + 2, CHUNK, self.cancel)
        try:
            # Across frames: anything after the first frame is decompressed
            # too, and then refused by the tar stage unless it is padding.
            reader = zstandard.ZstdDecompressor().stream_reader(
                feed,  # type: ignore[arg-type] # it calls read() only, which _Source has
                read_size=CHUNK,
                read_across_frames=True,
            )
            while True:
                buffer = pool.take()
                length = reader.readinto(buffer)
                if not length:
                    break
                produced += length
                self._check_inflation(produced, feed.fed)
                out.put(pool.lend(buffer, length))
            out.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            out.close(_as_input_error(exc, self.path))

    def _check_inflation(self, produced: int, fed: int) -> None:
        """Stop a zstd bomb as soon as it shows itself."""
        if produced > self.limits.max_total_bytes:
            msg = f"over {self.limits.max_total_bytes} bytes decompressed"
            raise InputError(msg, where="archive", reason=Reason.LIMIT_EXCEEDED)
        if (
            produced > self.limits.ratio_grace_bytes
            and produced > self.limits.max_compression_ratio * max(fed, 1)
        ):
            msg = f"decompresses more than {self.limits.max_compression_ratio} times its size (a compression bomb)"
            raise InputError(msg, where="archive", reason=Reason.LIMIT_EXCEEDED)

    # -- the tar stage ---------------------------------------------------------

    def _members(self, chunks: _Chunks) -> None:
        while True:
            block = chunks.exact(_BLOCK)
            if block == bytes(_BLOCK):
                # End of archive: only zeros may follow (GNU tar pads to 10 KiB).
                while not chunks.at_end():
                    for piece in chunks.pieces(len(chunks.chunk) - chunks.offset):
                        if piece.tobytes().strip(b"\x00"):
                            msg = "data after the end of the tar archive"
                            raise InputError(msg, where="archive")
                return
            name, size, kind = _parse_header(block)
            if kind == _DIRECTORY and name not in layout.DIRECTORIES:
                msg = "a directory outside the layout's shape"
                raise InputError(msg, where=f"archive member {name!r}")
            self._member(name, size, chunks.pieces(size))
            padding = -size % _BLOCK
            if padding:
                chunks.exact(padding)

    def _consume(
        self,
        pieces: Iterator[memoryview],
        hasher: Any,  # noqa: ANN401 - a hashlib object
        kept: bytearray | None,
        sink: Sink | None,
    ) -> int:
        got = 0
        for piece in pieces:
            if self.cancel.is_set():
                raise Cancelled
            hasher.update(piece)
            got += len(piece)
            if kept is not None:
                kept += piece
            if sink is not None:
                sink.write(piece)
        return got

    def _member(self, name: str, size: int, pieces: Iterator[memoryview]) -> None:
        keep = self.intake.begin(name, size)
        hasher = hashlib.sha256()
        kept = bytearray() if keep else None
        digest = layout.blob_digest(name)
        sink = self.tap(digest, size) if self.tap is not None and digest else None
        try:
            got = self._consume(pieces, hasher, kept, sink)
        except BaseException as exc:
            if sink is not None:
                sink.abort(exc)
            raise
        if sink is not None:
            sink.finish("sha256:" + hasher.hexdigest())
        self.members += 1
        self.blob_bytes += got
        # Handed over as it is (a bytearray): a document the intake holds in
        # memory is copied to bytes there, one it spools or parses is not
        # copied at all (a 50 MB ledger: 50 MB less at the peak).
        data = kept
        self.intake.end(
            name, size=got, sha256="sha256:" + hasher.hexdigest(), data=data
        )
        if (
            self.stop_at_ledger
            and data is not None
            and digest
            and self.intake.media_type(digest) == media.LEDGER
        ):
            parsed = self.intake.ledger(digest)
            raise _LedgerFound(parse_ledger(data) if parsed is None else parsed)
        if self.members % 64 == 0 or size > CHUNK:
            self._progress()

    # -- the three inputs --------------------------------------------------------

    def read_stream(self) -> Archive:
        try:
            handle = self.path.open("rb", buffering=0)
        except OSError as exc:
            raise _as_input_error(exc, self.path) from exc
        with handle:
            info = os.fstat(handle.fileno())
            total = info.st_size if stat.S_ISREG(info.st_mode) else 0
            return self._read_handle(handle, total=total, kind=None)

    def read_parts(self, index_file: Path) -> Archive:
        """Stream across the parts an index lists; name the damaged ones if any."""
        from airlock_io.parts import DamagedParts, PartsStream  # noqa: PLC0415

        stream = PartsStream(index_file)  # missing or short parts: named at once
        with stream:
            try:
                archive = self._read_handle(
                    stream, total=stream.index.archive_size, kind="parts"
                )
            except DamagedParts:
                raise
            except ApplianceError as exc:
                # A part altered in the middle shows first as a corrupt stream.
                damage = stream.diagnose()
                raise damage if isinstance(damage, DamagedParts) else exc from exc
        if archive.sha256 != stream.index.archive_sha256:
            msg = f"the parts add up to {archive.sha256}, not the {stream.index.archive_sha256} their index names"
            raise InputError(msg, where=str(index_file))
        return archive

    def _read_handle(self, handle: Any, *, total: int, kind: str | None) -> Archive:  # noqa: ANN401 - a raw file, or a parts stream
        self.total = total
        compressed = handle.read(4) == _ZSTD_MAGIC
        handle.seek(0)
        file_hash = hashlib.sha256()
        raw = _Pipe(_DEPTH, self.cancel)
        threads = [
            threading.Thread(
                target=self._read_file, args=(handle, raw, file_hash), daemon=True
            )
        ]
        tar = raw
        if compressed:
            tar = _Pipe(_DEPTH, self.cancel)
            threads.append(
                threading.Thread(target=self._decompress, args=(raw, tar), daemon=True)
            )
        for thread in threads:
            thread.start()
        try:
            self._members(_Chunks(tar.get))
            contents = self.intake.finish()
        except BaseException:
            self.cancel.set()  # stop the other stages at once
            raise
        finally:
            for thread in threads:
                thread.join(timeout=5)
        self._progress()
        return Archive(
            contents=contents,
            sha256="sha256:" + file_hash.hexdigest(),
            size=self.read_bytes,
            kind=kind or ("tar.zst" if compressed else "tar"),
        )

    def read_directory(self) -> Archive:
        root = self.path
        for name in (layout.OCI_LAYOUT_NAME, layout.INDEX_NAME):
            self._file(root, name)
        while (digest := self.intake.next_wanted()) is not None:
            name = layout.blob_name(digest)
            if not self._file(root, name, optional=True):
                self.intake.absent(digest)
        blobs = root / "blobs" / "sha256"
        try:
            leftovers = (
                sorted(p.name for p in blobs.iterdir()) if blobs.is_dir() else []
            )
            extra = sorted(
                p.name
                for p in root.iterdir()
                if p.name not in {layout.OCI_LAYOUT_NAME, layout.INDEX_NAME, "blobs"}
            )
        except OSError as exc:
            raise _as_input_error(exc, root) from exc
        if extra:
            layout.check_member_name(extra[0])  # raises: outside the shape
        for name in leftovers:
            member = f"blobs/sha256/{name}"
            if not self.intake.received("sha256:" + name):
                self._file(root, member)
        contents = self.intake.finish()
        self._progress()
        return Archive(
            contents=contents, sha256=None, size=self.blob_bytes, kind="directory"
        )

    def _file(self, root: Path, name: str, *, optional: bool = False) -> bool:
        """Take in one member; False if ``optional`` and absent."""
        layout.check_member_name(name)
        path = root.joinpath(*name.split("/"))
        try:
            info = path.lstat()
        except FileNotFoundError as exc:
            if optional:
                return False
            msg = "is missing from the layout"
            raise InputError(msg, where=f"archive member {name}") from exc
        except OSError as exc:
            raise _as_input_error(exc, path) from exc
        if not stat.S_ISREG(info.st_mode):
            msg = "is not a regular file (links, devices and FIFOs are refused)"
            raise InputError(msg, where=f"archive member {name}")
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size

                def pieces(handle: object = handle) -> Iterator[memoryview]:
                    left = size
                    while left > 0:
                        data = handle.read(min(CHUNK, left))  # type: ignore[attr-defined]
                        if not data:
                            msg = "changed while it was read"
                            raise InputError(msg, where=f"archive member {name}")
                        left -= len(data)
                        self.read_bytes += len(data)
                        yield memoryview(data)

                self._member(name, size, pieces())
        except OSError as exc:
            raise _as_input_error(exc, path) from exc
        return True


def _as_input_error(exc: BaseException, path: Path) -> BaseException:
    """Third-party failures (I/O, zstd) become one clear input error."""
    if isinstance(exc, ApplianceError | Cancelled | KeyboardInterrupt):
        return exc
    if isinstance(exc, OSError):
        return InputError(
            f"cannot read the archive: {exc.strerror or exc}",
            where=str(path),
            reason=Reason.INPUT_UNREADABLE,
        )
    return InputError(
        f"the archive is corrupt or truncated ({type(exc).__name__}: {exc})",
        where=str(path),
    )


def read_archive(  # noqa: PLR0913 - keyword-only, each named
    path: Path,
    *,
    limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    tap: Tap | None = None,
    documents: bool = True,
) -> Archive:
    """Read an archive (``.tar.zst``, ``.tar``) or a layout directory in one pass.

    Args:
        path: the archive file or the layout directory.
        limits: caps on the archive.
        on_progress: called as intake advances (from the intake thread).
        cancel: set it to stop intake promptly (raises :class:`Cancelled`).
        tap: asked for each blob (digest, size) as it starts; a sink it
            returns gets the blob's bytes as they are hashed, then the hash.
        documents: keep the documents (False: a second pass over an
            archive already verified, read again only to stream its blobs
            through ``tap`` and to prove its bytes unchanged).

    Raises:
        InputError: unreadable, truncated, corrupt, refused or over a limit.
        VerificationError: a blob that does not hash to its name, a size
            that differs from a descriptor, a missing or unreachable blob.
        Cancelled: ``cancel`` was set.
    """
    reader = _Reader(
        path,
        limits=limits,
        on_progress=on_progress,
        cancel=cancel or threading.Event(),
        tap=tap,
        documents=documents,
    )
    return _read(reader, path)


def _read(reader: _Reader, path: Path) -> Archive:
    """A parts index (or a folder of parts), a layout directory, or an archive file."""
    from airlock_io.parts import find_index  # noqa: PLC0415

    parts = find_index(path)
    if parts is not None:
        return reader.read_parts(parts)
    if path.is_dir() and not path.is_symlink():
        return reader.read_directory()
    return reader.read_stream()


def read_ledger(
    path: Path, *, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS
) -> Ledger:
    """The export ledger alone, read from the start of the archive (it comes first).

    What the exporter says, checked by the same intake up to the ledger and
    trusted for nothing: enough to show an archive before it is verified.

    Raises:
        InputError: unreadable, refused, or no ledger where the export puts it.
    """
    reader = _Reader(path, limits=limits, on_progress=None, cancel=threading.Event())
    reader.stop_at_ledger = True
    try:
        _read(reader, path)
    except _LedgerFound as found:
        if isinstance(found.ledger, InputError):
            raise found.ledger from None
        return found.ledger
    msg = "the archive carries no export ledger"
    raise InputError(msg, where=str(path))
