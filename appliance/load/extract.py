"""``appliance extract``: a verified subset of the archive as an OCI image layout.

Only the images that passed, with every artifact about them (the same
closure ``load`` pushes), for skopeo, oras, umoci or ``podman load``. The
layout is built in a temporary directory beside the target and renamed into
place only when whole (``fsync`` of every file and directory first): the
target never holds a half-written layout. The temporary is named as
:mod:`airlock_io.atomic` names its own, and removed on any error or
interruption; one left by a killed run (it can be gigabytes) is swept by the
next extract into the same directory, once its process is gone. Blobs come from a second pass over
the archive, each re-hashed as it is written; manifests are the bytes that
were verified. ``index.json`` is written anew from the verified view, never
copied from the archive's (whose annotations nothing signs): each image under
the name that passed its rule (``org.opencontainers.image.ref.name``), what
travels with it under cosign's tag for it, referrers by digest. The trusted
roots the appliance verified travel too, as the artifact ``load`` pushes
(``airlock/trust:trusted-roots``, docs/handoff.md §2), kind ``trust``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING, BinaryIO

from airlock_io.atomic import fsync_dir, sweep_directory, temporary_name
from airlock_io.oserrors import write_error
from appliance.core.archive import layout, media
from appliance.core.archive.layout import Kind
from appliance.core.archive.manifest import Descriptor
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.core.archive.gate import Document, VerifiedView
    from appliance.core.archive.plan import Plan
    from appliance.core.image_signing import ArtifactImage


def _entry(document: Document, annotations: dict[str, str]) -> Descriptor:
    return Descriptor(
        media_type=document.media_type,
        digest=document.digest,
        size=len(document.data),
        annotations=annotations,
    )


def index_entries(view: VerifiedView) -> list[Descriptor]:
    """``index.json``'s entries for the verified view: names from verified facts only."""
    entries: list[Descriptor] = []
    seen: set[tuple[str, str]] = set()

    def add(document: Document, annotations: dict[str, str]) -> None:
        key = (document.digest, annotations.get(media.REF_NAME, ""))
        if key not in seen:
            seen.add(key)
            entries.append(_entry(document, annotations))

    for image in view.images:
        add(
            image.documents[-1],
            {media.KIND: Kind.IMAGE, media.REF_NAME: image.reference},
        )
        for attached in image.attached:
            annotations = {
                media.KIND: Kind.REFERRER
                if attached.kind == "referrer"
                else attached.kind,
                media.SUBJECT: attached.subject,
            }
            if attached.tag is not None:
                annotations[media.REF_NAME] = f"{image.name.name}:{attached.tag}"
            add(attached.document, annotations)
    return entries


class _BlobFile:
    """A blob written as it streams by, kept only if it hashes to its name.

    A write that fails (a full disk) is one line naming the layout the
    operator asked for, raised from inside the archive reader; the reader
    then aborts this file.
    """

    def __init__(self, root: Path, digest: str, target: Path) -> None:
        self.digest = digest
        self.target = target
        self.final = root / layout.blob_name(digest)
        self.part = self.final.with_name(self.final.name + ".part")
        try:
            self.handle: BinaryIO = self.part.open("wb")
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> InputError:
        return write_error(
            exc, self.target, doing=f"cannot write the layout (blob {self.digest})"
        )

    def write(self, piece: memoryview) -> None:
        try:
            self.handle.write(piece)
        except OSError as exc:
            raise self._error(exc) from exc

    def finish(self, sha256: str) -> None:
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
        except OSError as exc:
            raise self._error(exc) from exc
        if sha256 != self.digest:  # the reader hashed exactly the bytes written
            self.part.unlink(missing_ok=True)
            msg = f"changed since it was verified: its bytes now hash to {sha256}; not written"
            raise VerificationError(
                msg, reason=Reason.DIGEST_MISMATCH, where=f"blob {self.digest}"
            )
        try:
            self.part.replace(self.final)
        except OSError as exc:
            raise self._error(exc) from exc

    def abort(self, error: BaseException) -> None:
        del error
        with contextlib.suppress(OSError):  # closing flushes: a full disk again
            self.handle.close()
        self.part.unlink(missing_ok=True)


def check_target(target: Path) -> None:
    """Refuse a target that exists; sweep what killed extracts left beside it.

    Raises:
        InputError: the target exists (extract never merges into a directory).
    """
    if target.exists() or target.is_symlink():
        msg = "exists: extract writes a new directory and never merges into one"
        raise InputError(msg, where=str(target), reason=Reason.USAGE)
    sweep_directory(target.parent)


class LayoutWriter:
    """Writes the plan's closure into a new layout at ``target``.

    Raises (at construction):
        InputError: the target exists, or its directory cannot be written.
    """

    def __init__(
        self,
        target: Path,
        plan: Plan,
        view: VerifiedView,
        *,
        trust: tuple[str, ArtifactImage] | None = None,
    ) -> None:
        if target.exists() or target.is_symlink():
            msg = "exists: extract writes a new directory and never merges into one"
            raise InputError(msg, where=str(target), reason=Reason.USAGE)
        if not target.parent.is_dir():
            msg = "its directory does not exist"
            raise InputError(msg, where=str(target), reason=Reason.INPUT_UNREADABLE)
        self.target = target
        self.plan = plan
        self.view = view
        self.trust = trust  # (its ref name, the trusted roots artifact)
        self.temp = temporary_name(target)
        self.wanted = {b.descriptor.digest for b in plan.blobs}
        self.written: set[str] = set()
        try:
            (self.temp / "blobs" / "sha256").mkdir(parents=True)
        except OSError as exc:
            raise write_error(exc, target, doing="cannot write there") from exc

    def tap(self, digest: str, size: int) -> _BlobFile | None:
        """The file for a blob of the second pass, if it belongs in the layout."""
        del size
        if digest not in self.wanted or digest in self.written:
            return None
        self.written.add(digest)
        return _BlobFile(self.temp, digest, self.target)

    def finish(self) -> int:
        """Write manifests and ``index.json``, then rename into place; return the blob count.

        Raises:
            VerificationError: a blob was not in the second pass (the archive changed).
            InputError: the layout cannot be written.
        """
        missing = sorted(self.wanted - self.written)
        if missing:
            msg = f"the archive changed since it was verified: {missing[0]} is no longer in it"
            raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="archive")
        manifests = {m.digest: m.data for m in self.plan.manifests}
        entries = index_entries(self.view)
        extra: dict[str, bytes] = {}
        if self.trust is not None:
            name, image = self.trust
            extra = {b.descriptor.digest: b.data for b in image.blobs}
            extra[image.digest] = image.manifest
            entries.append(
                Descriptor(
                    media_type=image.media_type,
                    digest=image.digest,
                    size=len(image.manifest),
                    annotations={media.KIND: Kind.TRUST, media.REF_NAME: name},
                )
            )
        try:
            for digest, data in {**extra, **manifests}.items():
                self._write(self.temp / layout.blob_name(digest), data)
            self._write(self.temp / layout.OCI_LAYOUT_NAME, layout.OCI_LAYOUT)
            self._write(self.temp / layout.INDEX_NAME, layout.index_json(entries))
            for directory in (
                self.temp / "blobs" / "sha256",
                self.temp / "blobs",
                self.temp,
            ):
                fsync_dir(directory)
            self.temp.rename(self.target)
            fsync_dir(self.target.parent)
        except OSError as exc:
            raise write_error(
                exc, self.target, doing="cannot write the layout"
            ) from exc
        return len(self.wanted) + len(manifests) + len(extra)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        with path.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def discard(self) -> None:
        """Remove the temporary directory (on any failure)."""
        with contextlib.suppress(OSError):
            shutil.rmtree(self.temp)
