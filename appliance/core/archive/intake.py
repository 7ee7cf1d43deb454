"""One-pass intake of a transfer archive: what to keep, and whether it all adds up.

Pure: the edge (:mod:`airlock_io.archive`) streams members through
:class:`Intake` and hashes their bytes; :class:`Intake` decides, member by
member, what is kept in memory (the small documents: manifests, signature
layers, bundles, attestations, SBOMs, the ledger, the capsule, configs) and
what is only hashed and dropped (image layers), and refuses at once:

* any name outside the layout's shape, a name given twice, ``oci-layout`` or
  ``index.json`` out of place;
* a blob whose bytes do not hash to its name, or whose size differs from a
  descriptor naming it (or two descriptors naming it with two sizes);
* anything past :class:`~appliance.core.limits.ArchiveLimits`.

:meth:`Intake.finish` then checks the whole: every descriptor reachable from
``index.json`` has its blob, and every blob is reachable (the archive carries
exactly what the export accounted for, nothing more).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from appliance.core import _json
from appliance.core.archive import layout, media
from appliance.core.archive.ledger import Ledger
from appliance.core.archive.manifest import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    Manifest,
    parse,
)
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.limits import DEFAULT_ARCHIVE_LIMITS, ArchiveLimits

if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Set as AbstractSet

# Blobs kept in memory, by the media type a descriptor gives them.
_DOCUMENTS = frozenset(
    {
        media.OCI_CONFIG,
        media.DOCKER_CONFIG,
        media.EMPTY,
        media.SIMPLESIGNING,
        media.DSSE_ENVELOPE,
        media.CAPSULE_FILE,
        media.SIGSTORE_TRUSTED_ROOT,
        media.CHECKSUMS,
        "application/json",
    }
)
# Kept when small enough to summarise; otherwise hashed like a layer.
_OPTIONAL_DOCUMENTS = media.SBOM_TYPES
# A blob no descriptor has named yet (not our member order): kept provisionally
# up to this size, in case a manifest arriving later names it as a document.
_PROVISIONAL_BYTES = 1024 * 1024


def _is_document(media_type: str) -> bool:
    return (
        media_type in _DOCUMENTS
        or media_type in media.ALL_MANIFEST_TYPES
        or media_type.startswith(media.BUNDLE_PREFIX)
        or media_type == media.LEDGER
    )


# Parsed manifests kept at once: those of the image being judged (its
# signatures', attestations' and platforms'), with room to spare.
_PARSED_KEPT = 64


# Kept documents are held in memory up to this many bytes in all; past it
# (archives of tens of thousands of signatures: 100,000 cosign signatures
# keep about 640 MB of documents), each further document goes to the spool
# the edge gives the intake (an unlinked temporary file,
# :class:`airlock_io.spool.FileSpool`), and only where it lies stays in
# memory. Below the threshold nothing is spooled, so an archive of ordinary
# size writes nothing to disk. Without a spool everything is held in memory.
PLAIN_BYTES = 32 * 1024 * 1024


class Spool(Protocol):
    """Where documents past the threshold wait: bytes in, a place out, the bytes back.

    The spool may store a document compressed; what it gives back is not
    trusted (:class:`Documents` hashes it again).
    """

    def put(self, data: bytes | bytearray) -> tuple[int, int]:
        """Store ``data``; return where it lies (its offset) and how many bytes it takes there."""
        ...

    def get(self, offset: int, stored: int, size: int) -> bytes:
        """The document stored at ``offset`` (``stored`` bytes there): ``size`` bytes, or ``b""``."""
        ...


class Documents(Mapping[str, bytes]):
    """The documents kept, by digest: the exact bytes, some held in a spool.

    A spooled document is hashed again whenever it is read back, so what is
    judged is always what the intake hashed, whatever happened to the spool
    in between (it lives outside the process's memory).

    Args:
        plain_bytes: bytes held in memory before spooling begins.
        spool: where documents go past the threshold (None: nowhere, all
            held in memory).
    """

    def __init__(
        self, plain_bytes: int = PLAIN_BYTES, spool: Spool | None = None
    ) -> None:
        self._plain: dict[str, bytes] = {}
        # digest -> (offset, bytes stored, the document's size)
        self._spooled: dict[str, tuple[int, int, int]] = {}
        self._spool = spool
        self._room = plain_bytes

    def keep(self, digest: str, data: bytes | bytearray) -> None:
        """Keep ``data`` as the document ``digest`` (spooled past the threshold)."""
        if self._spool is None or len(data) <= self._room:
            self._room -= len(data)
            self._plain[digest] = bytes(data)
            return
        offset, stored = self._spool.put(data)
        self._spooled[digest] = (offset, stored, len(data))

    def only(self, digests: AbstractSet[str]) -> Documents:
        """These documents alone (the reachable ones), as held."""
        kept = Documents(0, self._spool)
        kept._plain = {d: v for d, v in self._plain.items() if d in digests}
        kept._spooled = {d: v for d, v in self._spooled.items() if d in digests}
        return kept

    def __getitem__(self, digest: str) -> bytes:
        """The document's exact bytes (KeyError: not kept).

        Raises:
            VerificationError: a spooled document no longer hashes to its
                digest (the spool was altered while the archive was judged).
        """
        data = self._plain.get(digest)
        if data is not None:
            return data
        offset, stored, size = self._spooled[digest]
        assert self._spool is not None  # noqa: S101 - spooled only with a spool
        data = self._spool.get(offset, stored, size)
        if len(data) != size or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            msg = "a document read back from the intake's spool no longer hashes to its name"
            raise VerificationError(
                msg, reason=Reason.DIGEST_MISMATCH, where=f"document {digest}"
            )
        return data

    def __contains__(self, digest: object) -> bool:
        """Whether the document is kept (nothing read)."""
        return digest in self._plain or digest in self._spooled

    def __iter__(self) -> Iterator[str]:
        """The kept documents' digests."""
        return itertools.chain(self._plain, self._spooled)

    def __len__(self) -> int:
        """How many documents are kept."""
        return len(self._plain) + len(self._spooled)

    @property
    def spooled(self) -> int:
        """How many documents are held in the spool, not in memory."""
        return len(self._spooled)


class Manifests(Mapping[str, Manifest]):
    """Every reachable manifest, parsed again when asked.

    The raw bytes are kept (a push or an extract writes them byte for byte,
    and they are what was hashed); keeping each parsed too doubled the
    memory of an archive of many signatures (a cosign ``.sig`` manifest
    holds a certificate, a chain and a Rekor bundle per layer). Each was
    parsed once by the intake, so parsing again cannot fail, and gives the
    same value; the few in use are cached.
    """

    def __init__(
        self,
        documents: Mapping[str, bytes],
        media_types: Mapping[str, str],
        digests: AbstractSet[str],
    ) -> None:
        self._documents = documents
        self._media_types = media_types
        self._digests = frozenset(digests)
        self._parsed = functools.lru_cache(maxsize=_PARSED_KEPT)(self._parse)

    def _parse(self, digest: str) -> Manifest:
        return parse(
            self._documents[digest],
            media_type=self._media_types.get(digest),
            where=f"manifest {digest}",
        )

    def __getitem__(self, digest: str) -> Manifest:
        """The manifest ``digest``, parsed (KeyError: not a manifest of the archive)."""
        if digest not in self._digests:
            raise KeyError(digest)
        return self._parsed(digest)

    def __contains__(self, digest: object) -> bool:
        """Whether ``digest`` is a manifest of the archive (nothing parsed)."""
        return digest in self._digests

    def __iter__(self) -> Iterator[str]:
        """The manifests' digests."""
        return iter(self._digests)

    def __len__(self) -> int:
        """How many manifests."""
        return len(self._digests)


@dataclass(frozen=True, slots=True, kw_only=True)
class Contents:
    """What an archive holds, once every check passed."""

    index: ImageIndex
    manifests: Mapping[str, Manifest]  # every reachable manifest and index
    documents: Mapping[str, bytes]  # kept blobs (manifests included), by digest
    blobs: dict[str, int]  # every blob's size, by digest
    media_types: dict[str, str]  # the media type descriptors give each blob
    order: tuple[str, ...] = field(default_factory=tuple)  # blobs as they came
    # Named by a descriptor, not carried: only what the ledger says was left
    # out on purpose (a platform not asked for, a blob the gap holds) may be.
    missing: frozenset[str] = frozenset()
    # The ledger, parsed as it arrived (or why it does not parse, raised
    # when it is asked for): by its blob digest.
    ledgers: Mapping[str, Ledger | InputError] = field(default_factory=dict)


def parse_ledger(data: bytes | bytearray) -> Ledger | InputError:
    """The ledger, or why it does not parse (raised when it is asked for, :func:`view.ledger`).

    The error is kept without its traceback and chain: they would hold the
    ledger's bytes and its half-parsed document until the run ends.
    """
    try:
        return Ledger.from_bytes(data)
    except InputError as exc:
        kept = InputError(exc.message, where=exc.where, reason=exc.reason)
        exc.__traceback__ = None
        return kept


class Intake:
    """The state of one intake; feed it members in archive order.

    Args:
        limits: caps on the archive (defaults documented in ArchiveLimits).
        spool: where documents past :data:`PLAIN_BYTES` wait (None: memory).
        documents: keep the documents and parse the ledger (False: a second
            pass over an archive already verified, which only hashes it
            again: its contents are never read).
    """

    def __init__(
        self,
        limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
        spool: Spool | None = None,
        *,
        documents: bool = True,
    ) -> None:
        self.limits = limits
        self._keeps_documents = documents
        self._members: set[str] = set()
        self._blobs: dict[str, int] = {}
        self._order: list[str] = []
        self._documents = Documents(PLAIN_BYTES, spool)
        self._kept_bytes = 0
        self._sizes: dict[str, int] = {}  # size each descriptor gives a digest
        self._types: dict[str, str] = {}  # media type each descriptor gives
        # The digests each manifest names (its parsed form is not kept: Manifests).
        self._children: dict[str, tuple[str, ...]] = {}
        self._index: ImageIndex | None = None
        self._layout_seen = False
        self._ledgers: dict[str, Ledger | InputError] = {}
        self._ledger_manifest: str | None = None  # index.json's one ledger entry
        self._ledger_blob: str | None = None  # that manifest's one layer
        # next_wanted's walk, kept between calls (None: start it again), and
        # what the directory does not hold (only ever added to).
        self._walk: list[str] | None = None
        self._walked: set[str] = set()
        self._absent: set[str] = set()

    # -- as members stream by ---------------------------------------------

    def begin(self, name: str, size: int) -> int:
        """A member starts: check it, and say how many of its bytes to keep.

        Returns:
            0 to hash only; otherwise the member is kept whole (its size).

        Raises:
            InputError: the member is refused (the message names it).
        """
        layout.check_member_name(name)
        where = f"archive member {name}"
        self._count(name, size, where)
        if name in layout.DIRECTORIES:
            return 0
        if name == layout.OCI_LAYOUT_NAME:
            if self._members != {name}:
                msg = "must be the archive's first member"
                raise InputError(msg, where=where)
            return self._keep(size, 1024, where)
        if name == layout.INDEX_NAME:
            if not self._layout_seen or self._index is not None:
                msg = "must come right after oci-layout"
                raise InputError(msg, where=where)
            return self._keep(size, self.limits.max_json_bytes, where)
        if self._index is None:
            msg = "a blob before oci-layout and index.json"
            raise InputError(msg, where=where)
        return self._blob_keep(layout.blob_digest(name) or "", size, where)

    def _count(self, name: str, size: int, where: str) -> None:
        if name in self._members:
            msg = "appears twice"
            raise InputError(msg, where=where)
        self._members.add(name)
        if len(self._members) > self.limits.max_members:
            msg = f"more than {self.limits.max_members} members"
            raise InputError(msg, where="archive", reason=Reason.LIMIT_EXCEEDED)
        if size > self.limits.max_member_bytes:
            msg = f"{size} bytes, over the {self.limits.max_member_bytes}-byte member limit"
            raise InputError(msg, where=where, reason=Reason.LIMIT_EXCEEDED)

    def _blob_keep(self, digest: str, size: int, where: str) -> int:
        expected = self._sizes.get(digest)
        if expected is not None and expected != size:
            msg = f"is {size} bytes; its descriptor says {expected}"
            raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where=where)
        media_type = self._types.get(digest)
        if media_type is None:
            return size if size <= _PROVISIONAL_BYTES else 0
        if media_type == media.LEDGER:
            return self._keep(size, self.limits.max_ledger_bytes, where)
        if _is_document(media_type) or (
            media_type in _OPTIONAL_DOCUMENTS and size <= self.limits.max_json_bytes
        ):
            return self._keep(size, self.limits.max_json_bytes, where)
        return 0

    def _keep(self, size: int, cap: int, where: str) -> int:
        if size > cap:
            msg = f"{size} bytes, over the {cap}-byte limit for a document"
            raise InputError(msg, where=where, reason=Reason.LIMIT_EXCEEDED)
        self._kept_bytes += size
        if self._kept_bytes > self.limits.max_kept_bytes:
            msg = f"documents over {self.limits.max_kept_bytes} bytes in all"
            raise InputError(msg, where="archive", reason=Reason.LIMIT_EXCEEDED)
        return size

    def end(
        self, name: str, *, size: int, sha256: str, data: bytes | bytearray | None
    ) -> None:
        """A member ended: its size, SHA-256, and its bytes if :meth:`begin` kept them.

        The export ledger is parsed here, as it arrives (it comes first of
        the blobs): at 10,000 images it is 50 MB of JSON, and its parse
        needs twice that for a moment, better spent before the other
        documents are held than after.

        Raises:
            InputError: a document that does not parse.
            VerificationError: a blob whose bytes do not hash to its name.
        """
        if name in layout.DIRECTORIES:
            return
        if name == layout.OCI_LAYOUT_NAME:
            self._oci_layout(bytes(data or b""))
            return
        if name == layout.INDEX_NAME:
            self._index = layout.parse_index(bytes(data or b""))
            ledgers = [
                e.digest
                for e in self._index.manifests
                if e.annotations.get(media.KIND) == layout.Kind.LEDGER
            ]
            # Only the ledger index.json names (and only if it names one) is
            # parsed as it arrives; anything else is left to the verification
            # (view.ledger), which refuses it without parsing.
            self._ledger_manifest = ledgers[0] if len(ledgers) == 1 else None
            for entry in self._index.manifests:
                self._named(entry, "index.json")
            return
        # One string object per digest, however many tables name it
        # (blobs, sizes, types, order, children): 150,000 blobs, six copies.
        digest = sys.intern(layout.blob_digest(name) or "")
        if sha256 != digest:
            msg = f"holds bytes whose sha256 is {sha256}"
            raise VerificationError(
                msg, reason=Reason.DIGEST_MISMATCH, where=f"archive member {name}"
            )
        self._blobs[digest] = size
        self._order.append(digest)
        if data is None:
            return
        media_type = self._types.get(digest)
        # A second pass (documents=False) keeps only what arrived before
        # anything named it (it may be a manifest named later).
        if self._keeps_documents or media_type is None:
            self._documents.keep(digest, data)
        if media_type in media.ALL_MANIFEST_TYPES:
            self._manifest(digest, bytes(data))
        elif (
            digest == self._ledger_blob
            and media_type == media.LEDGER
            and self._keeps_documents
        ):
            self._ledgers[digest] = parse_ledger(data)

    # -- documents --------------------------------------------------------------

    def _oci_layout(self, data: bytes) -> None:
        doc = _json.obj(_json.loads(data, what="oci-layout"), "oci-layout")
        if doc.get("imageLayoutVersion") != "1.0.0":
            msg = "imageLayoutVersion must be 1.0.0"
            raise InputError(msg, where="oci-layout")
        self._layout_seen = True

    def _named(self, desc: Descriptor, by: str) -> None:
        """A descriptor names a digest: its size and type must agree with others."""
        known = self._sizes.get(desc.digest)
        if known is not None and known != desc.size:
            msg = f"{desc.digest} is named with two sizes ({known} and {desc.size})"
            raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where=by)
        digest = sys.intern(desc.digest)
        self._sizes[digest] = desc.size
        self._types.setdefault(digest, desc.media_type)
        arrived = self._blobs.get(desc.digest)
        if arrived is not None and arrived != desc.size:
            msg = f"{desc.digest} is {arrived} bytes; {by} says {desc.size}"
            raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where=by)
        # Named after it arrived (not our member order): use what was kept.
        data = self._documents.get(desc.digest)
        if (
            data is not None
            and desc.media_type in media.ALL_MANIFEST_TYPES
            and desc.digest not in self._children
        ):
            self._manifest(desc.digest, data)

    def _manifest(self, digest: str, data: bytes) -> None:
        where = f"manifest {digest}"
        manifest = parse(data, media_type=self._types.get(digest), where=where)
        if (
            digest == self._ledger_manifest
            and isinstance(manifest, ImageManifest)
            and manifest.artifact_type == media.LEDGER
            and len(manifest.layers) == 1
        ):
            self._ledger_blob = sys.intern(manifest.layers[0].digest)
        self._learned(digest, tuple(sys.intern(c.digest) for c in manifest.children))
        for child in manifest.children:
            self._named(child, where)

    def _learned(self, digest: str, children: tuple[str, ...]) -> None:
        """The digests manifest ``digest`` names."""
        self._children[digest] = children
        if digest in self._walked:
            # Its children come late (it was first named as something else
            # and kept): next_wanted's walk passed it without them, so the
            # walk starts again.
            self._walk = None

    # -- the whole ----------------------------------------------------------

    def finish(self) -> Contents:
        """Check that the archive adds up, and return what it holds.

        Blobs named but absent are not refused here but reported
        (``Contents.missing``): the ledger says which were left out on
        purpose, and the verification refuses any other.

        Raises:
            InputError: ``oci-layout`` or ``index.json`` is missing, or a
                document needed was too large to keep when it arrived.
            VerificationError: a blob is reached by no descriptor.
        """
        if not self._layout_seen or self._index is None:
            msg = "no oci-layout and index.json: not an OCI image layout"
            raise InputError(msg, where="archive")
        reachable = self._reachable()
        missing = frozenset(d for d in reachable if d not in self._blobs)
        for digest in reachable - missing:
            if (
                self._keeps_documents
                and _is_document(self._types.get(digest, ""))
                and digest not in self._documents
            ):
                msg = (
                    f"{digest} arrived before the manifest naming it, too large to keep"
                )
                raise InputError(msg, where="archive")
        stray = sorted(set(self._blobs) - reachable)
        if stray:
            msg = f"{stray[0]} is reached by no descriptor ({len(stray)} such blob(s)): the archive carries more than its index accounts for"
            raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="archive")
        documents = self._documents.only(reachable)
        return Contents(
            index=self._index,
            manifests=Manifests(
                documents, self._types, {d for d in self._children if d in reachable}
            ),
            documents=documents,
            blobs=dict(self._blobs),
            media_types={d: self._types[d] for d in reachable},
            order=tuple(self._order),
            missing=missing,
            ledgers={d: v for d, v in self._ledgers.items() if d in reachable},
        )

    def _reachable(self) -> set[str]:
        if self._index is None:
            return set()
        seen: set[str] = set()
        stack = [e.digest for e in self._index.manifests]
        while stack:
            digest = stack.pop()
            if digest in seen:
                continue
            seen.add(digest)
            children = self._children.get(digest)
            if children is not None:
                stack.extend(children)
            elif (
                self._types.get(digest) in media.ALL_MANIFEST_TYPES
                and digest in self._blobs
            ):
                msg = f"manifest {digest} arrived before anything named it and was too large to keep"
                raise InputError(msg, where="archive")
        return seen

    def ledger(self, digest: str) -> Ledger | InputError | None:
        """The ledger ``digest`` as parsed when it arrived (or the error it gave).

        None: not parsed as it arrived (it is not the one ledger index.json
        names); the caller parses it if it must (:func:`parse_ledger`).
        """
        return self._ledgers.get(digest)

    def media_type(self, digest: str) -> str | None:
        """The media type the descriptors seen so far give ``digest``."""
        return self._types.get(digest)

    def received(self, digest: str) -> bool:
        """Whether the blob ``digest`` has arrived."""
        return digest in self._blobs

    def absent(self, digest: str) -> None:
        """The layout directory does not hold ``digest`` (directory intake): :meth:`next_wanted` passes it."""
        self._absent.add(digest)

    def next_wanted(self) -> str | None:
        """A digest named but not yet received nor :meth:`absent`, manifests first (directory intake).

        What a directory does not hold is absent, as a member a tar does not
        carry: :meth:`finish` lists it in ``Contents.missing``, and the
        ledger must say why (a platform left out, a layer held by the gap).
        """
        if self._index is None:
            return None
        # layout.member_order's walk (depth-first, pre-order), over digests,
        # resumed where the last call stopped: what it passed has arrived or
        # is absent (neither is ever undone) and has the children it had
        # then, so a walk from the top would pass the same digests again to
        # get here (a walk per blob: 9 minutes at 60,000 blobs). A manifest
        # whose children come after it was passed starts the walk again
        # (_learned).
        if self._walk is None:
            self._walk = [e.digest for e in reversed(self._index.manifests)]
            self._walked = set()
        stack, seen = self._walk, self._walked
        while stack:
            digest = stack[-1]
            if digest in seen:
                stack.pop()
                continue
            if digest not in self._blobs and digest not in self._absent:
                return digest  # left on the stack: passed once it is in or absent
            stack.pop()
            seen.add(digest)
            stack.extend(reversed(self._children.get(digest, ())))
        return None
