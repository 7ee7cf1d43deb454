"""Carry out a push plan against the one registry the operator named.

In order (:mod:`appliance.core.archive.plan` says why):

1. :meth:`Pusher.survey`: ``HEAD`` every planned blob in every repository
   that needs it; what the registry holds is never sent again. A delta's
   layers, left out because the gap holds them, must be in the registry
   already (in the repository, or mountable from another): if one is not,
   nothing at all is pushed;
2. the archive is read a second time (by the caller, through
   :func:`airlock_io.archive.read_archive`'s ``tap``): each blob still to
   send is streamed to the registry *as it is re-hashed*; its last chunk is
   held back until the hash is the blob's name, so an archive changed
   between the two passes cannot slip a byte through (and the registry,
   which checks the digest before committing, refuses it too);
3. :meth:`Pusher.finish_blobs`: every blob streamed, the other repositories
   that need it mounted from the first;
4. manifests, exactly as verified, in the plan's order;
5. referrers: where the registry has the referrers API it lists them
   itself; elsewhere each subject's ``sha256-<hex>`` fallback index is
   merged with what the registry already lists there.

What the registry confirmed (a blob committed or mounted, a manifest put)
is listed as it happens. A push stopped on the way (SIGTERM, Ctrl-C, the
registry failing) says what had been verified and what had reached the
registry, in its error line (a note) and in the audit line (attached facts):
never "nothing was verified". An upload cut short is never committed by the
registry, so nothing half-written is kept there.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from appliance.core.archive import layout, media
from appliance.core.archive.manifest import Descriptor, ImageIndex, digest_of, parse
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from airlock_registry.client import RegistryClient
    from appliance.actions.registry import RegistryAccess
    from appliance.core.archive.plan import Plan, Target

_DONE: Final = object()
_DEPTH: Final = 8  # chunks in flight to one upload


@dataclass
class Pushed:
    """What was sent, held, mounted and put."""

    blobs_sent: int = 0
    bytes_sent: int = 0
    blobs_held: int = 0
    blobs_mounted: int = 0
    manifests: int = 0
    fallback_indexes: int = 0
    images: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # ``repository:tag@digest`` each
    # What the registry confirmed, in order: ``repository@digest`` of each
    # blob committed or mounted, ``repository[:tag]@digest`` of each manifest.
    blobs_reached: list[str] = field(default_factory=list)
    manifests_reached: list[str] = field(default_factory=list)
    # Every host:port contacted: the registry, its token realm, its storage.
    hosts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """For the report and the audit log."""
        return {
            "images": list(self.images),
            "files": list(self.files),
            "blobs_sent": self.blobs_sent,
            "bytes_sent": self.bytes_sent,
            "blobs_already_held": self.blobs_held,
            "blobs_mounted": self.blobs_mounted,
            "manifests": self.manifests,
            "fallback_indexes": self.fallback_indexes,
            "hosts": list(dict.fromkeys(self.hosts)),
            "reached": {
                "blobs": list(self.blobs_reached),
                "manifests": list(self.manifests_reached),
            },
        }

    def stopped(self, plan: Plan, registry: str) -> str:
        """What a push stopped on the way had done, for the operator's line."""
        verified = f"{len(plan.images)} image(s) verified, {len(plan.refused)} refused"
        if plan.files or plan.refused_files:
            verified += (
                f", {len(plan.files)} file(s) verified, "
                f"{len(plan.refused_files)} refused"
            )
        if not self.blobs_reached and not self.manifests_reached:
            return f"{verified}; nothing had reached {registry}"
        return (
            f"{verified}; before it stopped, {registry} received "
            f"{len(self.blobs_reached)} blob(s) and {len(self.manifests_reached)} "
            "manifest(s) (the audit log lists them; nothing half-written is kept); "
            "a re-run resumes"
        )


class _Upload:
    """One blob streaming to the registry from a worker thread, fed by the reader."""

    def __init__(
        self, client: RegistryClient, repository: str, descriptor: Descriptor
    ) -> None:
        self.descriptor = descriptor
        self.repository = repository
        self.queue: queue.Queue[object] = queue.Queue(maxsize=_DEPTH)
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run,
            args=(client, repository),
            daemon=True,
            name=f"upload {descriptor.digest[:19]}",
        )
        self.thread.start()

    def _chunks(self) -> Iterator[bytes]:
        pending: bytes | None = None
        while True:
            item = self.queue.get()
            if item is _DONE:
                if pending is not None:
                    yield pending  # only now: the whole blob hashed to its name
                return
            if isinstance(item, BaseException):
                raise item
            if pending is not None:
                yield pending
            pending = item  # type: ignore[assignment] # only bytes are put besides the two markers

    def _run(self, client: RegistryClient, repository: str) -> None:
        try:
            client.push_blob(repository, self.descriptor, self._chunks())
        except BaseException as exc:  # noqa: BLE001 - handed to the reader's thread
            self.error = exc

    def _put(self, item: object) -> None:
        while True:
            if self.error is not None:
                raise self.error
            if not self.thread.is_alive():
                msg = f"the upload of {self.descriptor.digest} ended early"
                raise InputError(msg, reason=Reason.INPUT_UNREADABLE)
            try:
                self.queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return

    def write(self, piece: memoryview) -> None:
        """Queue the next bytes (copied: the reader recycles its buffers)."""
        self._put(bytes(piece))

    def finish(self, sha256: str) -> None:
        """Release the last chunk if the bytes are the blob's; wait for the registry."""
        if sha256 != self.descriptor.digest:
            msg = f"changed since it was verified: its bytes now hash to {sha256}; not pushed"
            error = VerificationError(
                msg,
                reason=Reason.DIGEST_MISMATCH,
                where=f"blob {self.descriptor.digest}",
            )
            self.abort(error)
            raise error
        self._put(_DONE)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self, error: BaseException) -> None:
        """Make the upload fail: the registry never commits it."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(error)
        self.thread.join(timeout=30)


class Pusher:
    """Pushes one plan through one client.

    Args:
        client: the registry (already confined to the operator's host).
        plan: what to push.
        on_bytes: told of every chunk sent (progress).
        result: where to count what was done (the caller's, to read after a
            failure); a fresh one if not given.
    """

    def __init__(
        self,
        client: RegistryClient,
        plan: Plan,
        on_bytes: Callable[[int], None] | None = None,
        *,
        result: Pushed | None = None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.on_bytes = on_bytes
        self.result = Pushed() if result is None else result
        self._stream: dict[str, str] = {}  # digest -> the repository to stream it into
        # digest -> its planned descriptor (the first, as a scan would find):
        # the second pass looks up every blob it streams, 60,000 at scale.
        self._descriptors: dict[str, Descriptor] = {}
        self._mount: list[tuple[str, str, str]] = []  # (repository, digest, from)
        self._streamed: set[str] = set()
        self._catalog: list[str] | None = None  # the registry's repositories, if asked

    def survey(self) -> None:
        """Ask the registry what it holds; decide what to stream and what to mount."""
        for blob in self.plan.blobs:
            digest = blob.descriptor.digest
            self._descriptors.setdefault(digest, blob.descriptor)
            held = [
                repo for repo in blob.repositories if self.client.has_blob(repo, digest)
            ]
            # A set to test: a shared blob's repositories run to thousands.
            holding = set(held)
            lacking = [repo for repo in blob.repositories if repo not in holding]
            if not lacking:
                self.result.blobs_held += 1
                continue
            source = held[0] if held else lacking.pop(0)
            if not held:
                self._stream[digest] = source
            self._mount.extend((repo, digest, source) for repo in lacking)
        self._survey_held()

    def _survey_held(self) -> None:
        """Find every layer a delta left out; refuse before any push, naming all absent."""
        absent = []
        for blob in self.plan.held:
            digest = blob.descriptor.digest
            lacking = [
                repo
                for repo in blob.repositories
                if not self.client.has_blob(repo, digest)
            ]
            if not lacking:
                self.result.blobs_held += 1
                continue
            source = self._holder(digest, blob.repositories, lacking)
            if source is None:
                absent.append(f"{digest} ({blob.descriptor.size:,} bytes)")
                continue
            self._mount.extend((repo, digest, source) for repo in lacking)
        if absent:
            named = ", ".join(absent[:5]) + (
                f" and {len(absent) - 5} more" if len(absent) > 5 else ""  # noqa: PLR2004 - one line
            )
            msg = (
                f"the archive left out {len(absent)} blob(s) as held by the gap, but this "
                f"registry does not have them: {named}; nothing was pushed: export again "
                "against an inventory of this registry, or without --have"
            )
            raise InputError(
                msg,
                where=f"registry {self.client.host}",
                reason=Reason.INPUT_UNREADABLE,
            )

    def _holder(
        self, digest: str, planned: Sequence[str], lacking: Sequence[str]
    ) -> str | None:
        """A repository of the registry that holds ``digest`` (to mount it from)."""
        # A set: tested for each planned repository and each in the catalog.
        missing = set(lacking)
        for repo in planned:
            if repo not in missing:
                return repo
        if self._catalog is None:
            self._catalog = self.client.repositories()
        for repo in self._catalog:
            if repo not in missing and self.client.has_blob(repo, digest):
                return repo
        return None

    @property
    def to_send(self) -> int:
        """Bytes the second pass will stream."""
        return sum(
            b.descriptor.size
            for b in self.plan.blobs
            if b.descriptor.digest in self._stream
        )

    def tap(self, digest: str, size: int) -> _Counted | None:
        """The sink for a blob of the second pass, if it is to be sent."""
        repository = self._stream.get(digest)
        if repository is None or digest in self._streamed:
            return None
        # Never missing: ``survey`` filed every digest of ``_stream`` here.
        descriptor = self._descriptors[digest]
        if size != descriptor.size:
            return None  # the intake refuses it; nothing is sent
        self._streamed.add(digest)
        return _Counted(
            _Upload(self.client, repository, descriptor), self.on_bytes, self.result
        )

    def finish_blobs(self) -> None:
        """Check every blob was sent; mount the others.

        Raises:
            VerificationError: a blob to send was not in the archive's second
                pass (the archive changed).
            InputError: the registry would not mount a blob.
        """
        missing = sorted(set(self._stream) - self._streamed)
        if missing:
            msg = f"the archive changed since it was verified: {missing[0]} is no longer in it"
            raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="archive")
        self.result.blobs_sent = len(self._streamed)
        for repository, digest, source in self._mount:
            if not self.client.mount_blob(repository, digest, source):
                msg = f"would not mount {digest} from {source} into {repository}; nothing of it was committed"
                raise InputError(
                    msg,
                    where=f"registry {self.client.host}",
                    reason=Reason.INPUT_UNREADABLE,
                )
            self.result.blobs_mounted += 1
            self.result.blobs_reached.append(f"{repository}@{digest}")

    def manifests(self) -> None:
        """Put every manifest, exactly as verified, in order."""
        for item in self.plan.manifests:
            self.client.push_manifest(
                item.repository, item.reference, item.data, item.media_type
            )
            self.result.manifests += 1
            self.result.manifests_reached.append(
                f"{item.repository}@{item.digest}"
                if item.reference == item.digest
                else f"{item.repository}:{item.reference}@{item.digest}"
            )
        self.result.images = [
            f"{i.repository}{':' + i.tag if i.tag else '@' + i.digest}"
            for i in self.plan.images
        ]
        self.result.files = [
            f"{f.repository}{':' + f.tag if f.tag else ''}@{f.digest}"
            for f in self.plan.files
        ]

    def referrers(self) -> None:
        """List referrers under the fallback tag where the registry has no referrers API."""
        for item in self.plan.referrers:
            index = list_referrers(
                self.client, item.repository, item.subject, item.referrers
            )
            if index is not None:
                self.result.fallback_indexes += 1
                tag = "sha256-" + item.subject.removeprefix("sha256:")
                self.result.manifests_reached.append(f"{item.repository}:{tag}@{index}")


def list_referrers(
    client: RegistryClient,
    repository: str,
    subject: str,
    referrers: Sequence[Descriptor],
) -> str | None:
    """Make ``referrers`` of ``subject`` findable; the fallback index's digest if one was written.

    With the referrers API the registry lists them itself. Without it, the
    ``sha256-<hex>`` tag's index (distribution-spec "referrers tag schema")
    is merged with what it already lists, never replaced.

    Raises:
        InputError: the tag holds something that is not an index; the registry failed.
    """
    if client.referrers(repository, subject) is not None:
        return None
    tag = "sha256-" + subject.removeprefix("sha256:")
    existing = client.manifest(repository, tag)
    listed: list[Descriptor] = []
    if existing is not None:
        index = parse(
            existing.data, media_type=existing.media_type, where=f"{repository}:{tag}"
        )
        if not isinstance(index, ImageIndex):
            msg = (
                f"tag {tag} holds something other than a referrers index; not replaced"
            )
            raise InputError(
                msg, where=f"registry {client.host}", reason=Reason.INPUT_UNREADABLE
            )
        listed = list(index.manifests)
    known = {d.digest for d in listed}
    added = [d for d in referrers if d.digest not in known]
    if not added:
        return None
    body = layout.canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_INDEX,
            "manifests": [d.to_json() for d in (*listed, *added)],
        }
    )
    client.push_manifest(repository, tag, body, media.OCI_INDEX)
    return digest_of(body)


class _Counted:
    """An upload that reports its bytes."""

    def __init__(
        self, upload: _Upload, on_bytes: Callable[[int], None] | None, result: Pushed
    ) -> None:
        self.upload = upload
        self.on_bytes = on_bytes
        self.result = result

    def write(self, piece: memoryview) -> None:
        self.upload.write(piece)
        self.result.bytes_sent += len(piece)
        if self.on_bytes is not None:
            self.on_bytes(len(piece))

    def finish(self, sha256: str) -> None:
        self.upload.finish(sha256)
        # Committed: the registry checked the digest and answered 201.
        self.result.blobs_reached.append(
            f"{self.upload.repository}@{self.upload.descriptor.digest}"
        )

    def abort(self, error: BaseException) -> None:
        self.upload.abort(error)


def push_archive(  # noqa: PLR0913 - every input named
    path: Path,
    plan: Plan,
    target: Target,
    *,
    access: RegistryAccess,
    verified_sha256: str | None,
    on_bytes: Callable[[int, int], None] | None = None,
    countersign: Callable[[RegistryClient, Pushed], None] | None = None,
) -> Pushed:
    """The one network action: push ``plan`` from the archive at ``path``.

    Everything runs inside the seal's permit for the target's host and port
    alone, and only for this call.

    Args:
        path: the archive that was verified (read again here).
        plan: what passed, and where it goes.
        target: the registry the operator named.
        access: how to reach the registry (``--allow-http-registry``, the
            login, the TLS files, ``--allow-host``).
        verified_sha256: the archive file's SHA-256 when it was verified.
        on_bytes: told ``(sent so far, at most to send)`` as blob bytes go.
        countersign: run once everything is pushed, with the same client
            (``load --countersign-key``).

    Raises:
        InputError: the registry failed or refused (a re-run resumes).
        VerificationError: the archive changed since it was verified.
        KeyboardInterrupt: SIGINT or SIGTERM.

        Whatever stops it carries what had reached the registry: a note for
        the operator's line, and facts for the audit line.
    """
    from appliance.load.connect import registry  # noqa: PLC0415

    result = Pushed()
    try:
        with registry(target, access=access, contacted=result.hosts) as client:
            pusher = Pusher(client, plan, result=result)
            _push(pusher, path, verified_sha256=verified_sha256, on_bytes=on_bytes)
            if countersign is not None:
                countersign(client, result)
    except BaseException as exc:
        stopped(exc, plan, target, result)
        raise
    return result


def _push(
    pusher: Pusher,
    path: Path,
    *,
    verified_sha256: str | None,
    on_bytes: Callable[[int, int], None] | None,
) -> None:
    """Steps 1 to 5 of the module doc."""
    from airlock_io.archive import read_archive  # noqa: PLC0415

    pusher.survey()
    if on_bytes is not None:
        total, sent = pusher.to_send, [0]

        def counted(n: int) -> None:
            sent[0] += n
            on_bytes(sent[0], total)

        pusher.on_bytes = counted
    second = read_archive(path, tap=pusher.tap, documents=False)
    if verified_sha256 is not None and second.sha256 != verified_sha256:
        msg = (
            "the archive changed between verification and push; nothing more was pushed"
        )
        raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where=str(path))
    pusher.finish_blobs()
    pusher.manifests()
    pusher.referrers()


def stopped(error: BaseException, plan: Plan, target: Target, pushed: Pushed) -> None:
    """Mark ``error`` with what the push had done (its line's note, its audit facts)."""
    from appliance.audit import attach  # noqa: PLC0415

    to = f"{target.host}/{target.prefix}" if target.prefix else target.host
    error.add_note(pushed.stopped(plan, to))
    attach(
        error,
        verified=[
            *(f"{i.repository}@{i.digest}" for i in plan.images),
            *(f"{f.repository}@{f.digest}" for f in plan.files),
        ],
        pushed={"to": to, "complete": False, **pushed.to_json()},
    )
