"""Cut a written archive into media-sized parts, or regenerate the parts a re-request names.

The archive is written whole first (deterministic: same inputs, same bytes),
then read once and cut at fixed offsets of the compressed stream: part *n*
is bytes ``[(n-1)*SIZE, n*SIZE)``. Each part is written under a temporary
name, fsynced and renamed, so a part on disk is always whole; the index
(``STEM.parts.json``) is written last. The whole archive is removed after.

For ``--resend``, the archive is exported again from the same inputs and
must hash to what the request says, and every requested part must hash to
what it did the first time: all of that is checked before the first part
is written, so a refused resend writes nothing. Only the requested parts
(and the index) are written then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import TYPE_CHECKING, BinaryIO

from airlock_io.atomic import fsync_dir, temporary_name, write_atomically
from airlock_io.oserrors import write_error
from appliance.core.archive.parts import Part, PartsIndex, Request, part_name
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_CHUNK = 1024 * 1024


def stem_of(out: Path) -> str:
    """``transfer`` for ``transfer.tar.zst`` (parts are ``transfer.part-0001.tar.zst``)."""
    name = out.name
    for suffix in (".tar.zst", ".tzst", ".zst", ".tar"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def index_path(out: Path) -> Path:
    """Where the parts index of ``out`` goes."""
    return out.with_name(f"{stem_of(out)}.parts.json")


def _copy_part(
    source: BinaryIO, destination: Path, size: int, expected: str | None = None
) -> str:
    """Copy ``size`` bytes into ``destination`` (atomically); their SHA-256.

    With ``expected``, bytes of another hash are never renamed into place.
    """
    temp = temporary_name(destination)
    digest = hashlib.sha256()
    try:
        with temp.open("wb") as handle:
            left = size
            while left:
                chunk = source.read(min(_CHUNK, left))
                if not chunk:
                    msg = "the archive ended before its last part"
                    raise OSError(msg)  # noqa: TRY301 - one handler below names the part
                digest.update(chunk)
                handle.write(chunk)
                left -= len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if expected is not None and "sha256:" + digest.hexdigest() != expected:
            msg = f"changed while it was cut: {destination.name} no longer hashes as measured"
            raise InputError(msg, where=str(destination), reason=Reason.DIGEST_MISMATCH)  # noqa: TRY301 - the temporary is removed below
        temp.replace(destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return "sha256:" + digest.hexdigest()


def split(
    whole: Path,
    out: Path,
    *,
    part_size: int,
    archive_sha256: str,
    ledger_digest: str,
) -> PartsIndex:
    """Cut ``whole`` into parts beside ``out``; write the index; return it.

    Args:
        whole: the archive as written.
        out: the name asked for (``STEM.tar.zst``): parts and index go beside it.
        part_size: bytes per part (all but the last).
        archive_sha256: the whole archive's SHA-256.
        ledger_digest: the ledger's digest (recorded in the index).

    Raises:
        InputError: a part cannot be written.
    """
    parts = []
    try:
        with whole.open("rb") as source:
            for number, size in _sizes(whole, part_size):
                destination = out.with_name(part_name(stem_of(out), number))
                digest = _copy_part(source, destination, size)
                parts.append(
                    Part(number=number, name=destination.name, size=size, sha256=digest)
                )
        index = PartsIndex(
            part_size=part_size,
            parts=tuple(parts),
            archive_size=whole.stat().st_size,
            archive_sha256=archive_sha256,
            ledger_digest=ledger_digest,
        )
        _write_index(out, index)
    except BaseException as exc:
        # Parts without their index are of no use: none is kept (and the
        # space a full disk needs back is freed).
        for part in parts:
            out.with_name(part.name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(exc, out) from exc
        raise
    return index


def resend(
    whole: Path,
    out: Path,
    request: Request,
    *,
    archive_sha256: str,
    ledger_digest: str,
) -> PartsIndex:
    """Write the parts ``request`` names again, once every one is known to match.

    Args:
        whole: the archive as exported again.
        out: the name asked for (parts and index go beside it).
        request: the appliance's re-request list.
        archive_sha256: ``whole``'s SHA-256.
        ledger_digest: its ledger's digest.

    Raises:
        InputError: the inputs changed, or a requested part would differ
            (nothing was written); or a part cannot be written.
    """
    index = PartsIndex(
        part_size=request.part_size,
        parts=(),
        archive_size=whole.stat().st_size,
        archive_sha256=archive_sha256,
        ledger_digest=ledger_digest,
    )
    check_resend(request, index, every_part=False)  # another archive: no hashing
    index = dataclasses.replace(
        index,
        parts=tuple(
            Part(
                number=number,
                name=part_name(stem_of(out), number),
                size=size,
                sha256=_hash_range(whole, (number - 1) * request.part_size, size),
            )
            for number, size in _sizes(whole, request.part_size)
        ),
    )
    check_resend(request, index)
    wanted = {p.number for p in request.parts}
    try:
        with whole.open("rb") as source:
            for part in index.parts:
                if part.number not in wanted:
                    source.seek(part.size, os.SEEK_CUR)
                    continue
                _copy_part(
                    source, out.with_name(part.name), part.size, expected=part.sha256
                )
    except OSError as exc:
        raise _write_error(exc, out) from exc
    _write_index(out, index)
    return index


def _sizes(whole: Path, part_size: int) -> Iterator[tuple[int, int]]:
    """``(number, size)`` of every part ``whole`` is cut into."""
    total = whole.stat().st_size
    for number in range(1, max(1, -(-total // part_size)) + 1):
        yield number, min(part_size, total - (number - 1) * part_size)


def _write_index(out: Path, index: PartsIndex) -> None:
    try:
        write_atomically(index_path(out), index.to_bytes())
        fsync_dir(out.parent)
    except OSError as exc:
        raise _write_error(exc, out) from exc


def _write_error(exc: OSError, out: Path) -> InputError:
    return write_error(exc, out.parent, doing="cannot write the parts")


def _hash_range(path: Path, offset: int, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(offset)
        left = size
        while left and (chunk := handle.read(min(_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
    return "sha256:" + digest.hexdigest()


def check_resend(
    request: Request, index: PartsIndex, *, every_part: bool = True
) -> None:
    """The regenerated archive is the one the request is about, and so is every part.

    Args:
        request: the re-request list.
        index: the regenerated archive's parts (none needed without ``every_part``).
        every_part: check each requested part too, not only the archive.

    Raises:
        InputError: the inputs changed (another archive), or a regenerated
            part differs from the one asked for.
    """
    if (
        index.archive_sha256 != request.archive_sha256
        or index.ledger_digest != request.ledger_digest
    ):
        msg = (
            f"this export is {index.archive_sha256}, the request is for {request.archive_sha256}: the inputs "
            "changed (references, registry content, capsule, cache or SOURCE_DATE_EPOCH); export it all again"
        )
        raise InputError(msg, where="--resend", reason=Reason.DIGEST_MISMATCH)
    if not every_part:
        return
    by_number = {p.number: p for p in index.parts}
    for wanted in request.parts:
        made = by_number.get(wanted.number)
        if made is None or (made.name, made.size, made.sha256) != (
            wanted.name,
            wanted.size,
            wanted.sha256,
        ):
            msg = f"part {wanted.number} came out different from the one asked for"
            raise InputError(msg, where="--resend", reason=Reason.DIGEST_MISMATCH)
