"""The export ledger: what the exporter was asked, found, carried and left out.

It travels inside the archive as an artifact (``media.LEDGER``) and is the
exporter's account of the archive. The appliance checks it both ways: every
blob it lists must be in the archive, and every blob in the archive must be
listed (the ledger's own manifest and blob aside, which cannot list
themselves). Nothing is dropped silently: what was not carried is listed
under ``left_out`` with the reason.

The bytes are deterministic (sorted keys, fixed separators, the export time
an input), so that two exports of the same inputs are byte-identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from appliance.core import _json
from appliance.core.archive.inventory import Delta
from appliance.core.archive.manifest import check_digest
from appliance.core.errors import InputError

LEDGER_VERSION = 1
MAX_LEDGER_BYTES = 64 * 1024 * 1024


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        msg = "expected a time"
        raise InputError(msg, where=where)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        msg = f"not a time: {value[:40]!r}"
        raise InputError(msg, where=where) from exc


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = "expected a non-negative integer"
        raise InputError(msg, where=f"{where}.{key}")
    return value


def _bool(obj: dict[str, Any], key: str, where: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        msg = "expected true or false"
        raise InputError(msg, where=f"{where}.{key}")
    return value


def _strings(obj: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _json.member_list(obj, key, where)
    if not all(isinstance(i, str) for i in items):
        msg = "expected a list of strings"
        raise InputError(msg, where=f"{where}.{key}")
    return tuple(items)


# Equal evidence entries parsed from one ledger, shared: a cosign .sig
# manifest of ten signatures repeats one entry per layer, for every image
# (at 10,000 images, most of the parsed ledger). Frozen values, so sharing
# is invisible; emptied after each ledger is parsed.
_SHARED: dict[Evidence, Evidence] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """What offline evidence one signature (a layer or a bundle) carries."""

    blob: str  # the layer or bundle blob
    form: str  # cosign-legacy | sigstore-bundle | dsse-attestation | sbom | unreadable
    signer: str  # certificate | key | none
    set: bool = False
    inclusion_proof: bool = False
    checkpoint: bool = False
    rfc3161: int = 0
    lacks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The evidence as the ledger writes it."""
        return {
            "blob": self.blob,
            "form": self.form,
            "signer": self.signer,
            "set": self.set,
            "inclusionProof": self.inclusion_proof,
            "checkpoint": self.checkpoint,
            "rfc3161": self.rfc3161,
            "lacks": list(self.lacks),
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> Evidence:
        """Parse what :meth:`to_json` wrote (equal entries share one object)."""
        obj = _json.obj(value, where)
        parsed = cls(
            blob=check_digest(obj.get("blob"), f"{where}.blob"),
            form=_json.string(obj, "form", where),
            signer=_json.string(obj, "signer", where),
            set=_bool(obj, "set", where),
            inclusion_proof=_bool(obj, "inclusionProof", where),
            checkpoint=_bool(obj, "checkpoint", where),
            rfc3161=_int(obj, "rfc3161", where),
            lacks=_strings(obj, "lacks", where),
        )
        return _SHARED.setdefault(parsed, parsed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Related:
    """An artifact found upstream about an image digest."""

    kind: str  # signature | attestation | sbom | referrer | referrers-index
    subject: str  # the digest it is about
    found: str  # how: "tag sha256-<hex>.sig", "referrers API", "referrers tag ..."
    repository: str  # registry/repository it was found in
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    evidence: tuple[Evidence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The related artifact as the ledger writes it."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "found": self.found,
            "repository": self.repository,
            "digest": self.digest,
            "mediaType": self.media_type,
            "artifactType": self.artifact_type,
            "size": self.size,
            "evidence": [e.to_json() for e in self.evidence],
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> Related:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        return cls(
            kind=_json.string(obj, "kind", where),
            subject=check_digest(obj.get("subject"), f"{where}.subject"),
            found=_json.string(obj, "found", where),
            repository=_json.string(obj, "repository", where),
            digest=check_digest(obj.get("digest"), f"{where}.digest"),
            media_type=_json.string(obj, "mediaType", where),
            artifact_type=_json.opt_string(obj, "artifactType", where),
            size=_int(obj, "size", where),
            evidence=tuple(
                Evidence.from_json(e, f"{where}.evidence[{i}]")
                for i, e in enumerate(_json.member_list(obj, "evidence", where))
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformEntry:
    """One platform of a multi-arch index: carried, or left out and why."""

    platform: str
    digest: str
    included: bool
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The platform as the ledger writes it."""
        return {
            "platform": self.platform,
            "digest": self.digest,
            "included": self.included,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> PlatformEntry:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        return cls(
            platform=_json.string(obj, "platform", where),
            digest=check_digest(obj.get("digest"), f"{where}.digest"),
            included=_bool(obj, "included", where),
            reason=_json.opt_string(obj, "reason", where),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageEntry:
    """One reference as asked, what it resolved to, and all found about it."""

    asked: str
    reference: str  # normalised, as resolved (tag kept)
    digest: str
    media_type: str
    size: int
    platforms: tuple[PlatformEntry, ...] = ()
    related: tuple[Related, ...] = ()
    left_out: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The image as the ledger writes it."""
        return {
            "asked": self.asked,
            "reference": self.reference,
            "digest": self.digest,
            "mediaType": self.media_type,
            "size": self.size,
            "platforms": [p.to_json() for p in self.platforms],
            "related": [r.to_json() for r in self.related],
            "leftOut": list(self.left_out),
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> ImageEntry:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        return cls(
            asked=_json.string(obj, "asked", where),
            reference=_json.string(obj, "reference", where),
            digest=check_digest(obj.get("digest"), f"{where}.digest"),
            media_type=_json.string(obj, "mediaType", where),
            size=_int(obj, "size", where),
            platforms=tuple(
                PlatformEntry.from_json(p, f"{where}.platforms[{i}]")
                for i, p in enumerate(_json.member_list(obj, "platforms", where))
            ),
            related=tuple(
                Related.from_json(r, f"{where}.related[{i}]")
                for i, r in enumerate(_json.member_list(obj, "related", where))
            ),
            left_out=_strings(obj, "leftOut", where),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustEntry:
    """What trust travels with the artifacts (never trusted for being there)."""

    kind: str  # tuf-capsule | trusted-root | none
    digest: str | None = None  # the trust artifact's manifest in the layout
    root_version: int | None = None
    timestamp_version: int | None = None
    timestamp_expires: datetime | None = None
    trusted_root_sha256: str | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The trust entry as the ledger writes it."""
        return {
            "kind": self.kind,
            "digest": self.digest,
            "rootVersion": self.root_version,
            "timestampVersion": self.timestamp_version,
            "timestampExpires": None
            if self.timestamp_expires is None
            else _iso(self.timestamp_expires),
            "trustedRootSha256": self.trusted_root_sha256,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> TrustEntry:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        digest = obj.get("digest")
        expires = obj.get("timestampExpires")
        return cls(
            kind=_json.string(obj, "kind", where),
            digest=None if digest is None else check_digest(digest, f"{where}.digest"),
            root_version=None
            if obj.get("rootVersion") is None
            else _int(obj, "rootVersion", where),
            timestamp_version=None
            if obj.get("timestampVersion") is None
            else _int(obj, "timestampVersion", where),
            timestamp_expires=None
            if expires is None
            else _time(expires, f"{where}.timestampExpires"),
            trusted_root_sha256=_json.opt_string(obj, "trustedRootSha256", where),
            note=_json.opt_string(obj, "note", where) or "",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Content:
    """One blob the archive carries (manifests included), and what it is."""

    digest: str
    size: int
    role: str  # index | manifest | config | layer | signature | attestation | ...

    def to_json(self) -> dict[str, Any]:
        """The content entry as the ledger writes it."""
        return {"digest": self.digest, "size": self.size, "role": self.role}

    @classmethod
    def from_json(cls, value: object, where: str) -> Content:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        return cls(
            digest=check_digest(obj.get("digest"), f"{where}.digest"),
            size=_int(obj, "size", where),
            role=_json.string(obj, "role", where),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """One tag (or digest) an image-set entry selected, and why."""

    target: str  # a tag, or a sha256 digest
    why: str  # which filters selected it: "tags", "semver >=1.4, <2", "newest 3 (#1)"

    def to_json(self) -> dict[str, Any]:
        """The match as the ledger writes it."""
        return {"target": self.target, "why": self.why}

    @classmethod
    def from_json(cls, value: object, where: str) -> Match:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        return cls(
            target=_json.string(obj, "target", where),
            why=_json.string(obj, "why", where),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """How one ``[[images]]`` entry of an image-set file resolved (``export --set``).

    Every tag the registry listed (None: the entry named only digests, so
    nothing was listed), every match and why. The exporter's account, never
    trusted by the appliance: what is verified is what the archive holds.
    """

    source: str  # FILE:LINE of the entry
    repository: str
    filters: dict[str, Any]  # the entry's keys, as given
    listed: tuple[str, ...] | None
    matched: tuple[Match, ...]
    optional: bool = False

    def to_json(self) -> dict[str, Any]:
        """The resolution as the ledger writes it."""
        return {
            "source": self.source,
            "repository": self.repository,
            "filters": self.filters,
            "listed": None if self.listed is None else list(self.listed),
            "matched": [m.to_json() for m in self.matched],
            "optional": self.optional,
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> Resolution:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        listed = obj.get("listed")
        return cls(
            source=_json.string(obj, "source", where),
            repository=_json.string(obj, "repository", where),
            filters=_json.obj(obj.get("filters"), f"{where}.filters"),
            listed=None if listed is None else _strings(obj, "listed", where),
            matched=tuple(
                Match.from_json(m, f"{where}.matched[{i}]")
                for i, m in enumerate(_json.member_list(obj, "matched", where))
            ),
            optional=_bool(obj, "optional", where),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEntry:
    """A file the export carries (``[[files]]``): its artifact, blob and how it is signed."""

    name: str  # the file name (org.opencontainers.image.title)
    digest: str  # the artifact manifest
    blob: str  # the file's own bytes
    size: int
    source: str  # the path or URL it was read from
    form: str  # bundle | key-signature | checksums
    checksums: str | None = None  # the checksum file's blob, for form "checksums"

    def to_json(self) -> dict[str, Any]:
        """The file as the ledger writes it."""
        return {
            "name": self.name,
            "digest": self.digest,
            "blob": self.blob,
            "size": self.size,
            "source": self.source,
            "form": self.form,
            "checksums": self.checksums,
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> FileEntry:
        """Parse what :meth:`to_json` wrote."""
        obj = _json.obj(value, where)
        checksums = obj.get("checksums")
        return cls(
            name=_json.string(obj, "name", where),
            digest=check_digest(obj.get("digest"), f"{where}.digest"),
            blob=check_digest(obj.get("blob"), f"{where}.blob"),
            size=_int(obj, "size", where),
            source=_json.string(obj, "source", where),
            form=_json.string(obj, "form", where),
            checksums=None
            if checksums is None
            else check_digest(checksums, f"{where}.checksums"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Ledger:
    """The exporter's account of one archive."""

    tool: str
    tool_version: str
    created: datetime
    images: tuple[ImageEntry, ...]
    trust: TrustEntry
    contents: tuple[Content, ...]
    platforms: tuple[str, ...] = ()  # --platform as given; empty: all
    omitted_held: tuple[Content, ...] = field(default_factory=tuple)
    delta: Delta | None = None  # --have: the inventory the omissions come from
    # --revocations: a signed revocation feed, carried as its JSON object.
    # Unsigned here like everything in the ledger: the appliance applies it
    # only when its own signature verifies (appliance.core.revocations).
    revocations: dict[str, Any] | None = None
    resolution: tuple[Resolution, ...] = ()  # --set: how each entry resolved
    files: tuple[FileEntry, ...] = ()  # --set [[files]]: the files carried

    def delta_summary(self) -> str | None:
        """One line on what a delta left out as held, and against which inventory (None: whole)."""
        if self.delta is None:
            return None
        left = self.omitted_held
        return (
            f"delta: {len(left)} layer(s), {sum(c.size for c in left):,} bytes, left out as held "
            f"by the gap (inventory {self.delta.inventory_sha256[:19]} of "
            f"{self.delta.inventory_created:%Y-%m-%d %H:%M})"
        )

    def to_bytes(self) -> bytes:
        """Deterministic JSON: sorted keys, one line per nesting level."""
        doc = {
            "ledgerVersion": LEDGER_VERSION,
            "tool": {"name": self.tool, "version": self.tool_version},
            "created": _iso(self.created),
            "platforms": list(self.platforms),
            "images": [i.to_json() for i in self.images],
            "trust": self.trust.to_json(),
            "contents": [
                c.to_json() for c in sorted(self.contents, key=lambda c: c.digest)
            ],
            "omittedAsHeld": [
                c.to_json() for c in sorted(self.omitted_held, key=lambda c: c.digest)
            ],
        }
        if self.delta is not None:  # absent otherwise: full archives keep their bytes
            doc["delta"] = self.delta.to_json()
        if self.revocations is not None:  # likewise
            doc["revocations"] = self.revocations
        if self.resolution:  # absent without --set, for the same reason
            doc["resolution"] = [r.to_json() for r in self.resolution]
        if self.files:
            doc["files"] = [f.to_json() for f in self.files]
        return (
            json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True).encode()
            + b"\n"
        )

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> Ledger:
        """Parse a ledger.

        Raises:
            InputError: not a ledger of a version we read.
        """
        if len(data) > MAX_LEDGER_BYTES:
            msg = f"ledger is {len(data)} bytes, over the {MAX_LEDGER_BYTES}-byte limit"
            raise InputError(msg, where="ledger")
        doc = _json.versioned(
            data,
            what="ledger",
            key="ledgerVersion",
            version=LEDGER_VERSION,
            where="ledger",
            share=True,  # its evidence repeats for every layer (#26)
        )
        try:
            return cls._from_doc(doc)
        finally:
            _SHARED.clear()

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> Ledger:
        tool = _json.obj(doc.get("tool"), "ledger.tool")
        return cls(
            tool=_json.string(tool, "name", "ledger.tool"),
            tool_version=_json.string(tool, "version", "ledger.tool"),
            created=_time(doc.get("created"), "ledger.created"),
            platforms=_strings(doc, "platforms", "ledger"),
            images=tuple(
                ImageEntry.from_json(i, f"ledger.images[{n}]")
                for n, i in enumerate(_json.member_list(doc, "images", "ledger"))
            ),
            trust=TrustEntry.from_json(doc.get("trust"), "ledger.trust"),
            contents=tuple(
                Content.from_json(c, f"ledger.contents[{n}]")
                for n, c in enumerate(_json.member_list(doc, "contents", "ledger"))
            ),
            omitted_held=tuple(
                Content.from_json(c, f"ledger.omittedAsHeld[{n}]")
                for n, c in enumerate(_json.member_list(doc, "omittedAsHeld", "ledger"))
            ),
            delta=None
            if doc.get("delta") is None
            else Delta.from_json(doc["delta"], "ledger.delta"),
            revocations=_json.opt_obj(doc, "revocations", "ledger"),
            resolution=tuple(
                Resolution.from_json(r, f"ledger.resolution[{n}]")
                for n, r in enumerate(_json.member_list(doc, "resolution", "ledger"))
            ),
            files=tuple(
                FileEntry.from_json(f, f"ledger.files[{n}]")
                for n, f in enumerate(_json.member_list(doc, "files", "ledger"))
            ),
        )
