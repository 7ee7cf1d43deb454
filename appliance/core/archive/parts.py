"""An archive in media-sized parts, and the request for the parts that arrived damaged.

``OUT.parts.json`` (written by ``bundle-tools export --split SIZE``) names
each part (``OUT.part-0001.tar.zst`` ...), its size and SHA-256, the whole
archive's size and SHA-256, and the ledger's digest. Parts are cut from the
compressed stream at a fixed size, so every part but the last is exactly
``part_size`` bytes and any part can be regenerated bit for bit from the
same inputs. ``REQUEST.json`` (``appliance verify --request-out``) names the
parts to send again, with what they must hash to; ``bundle-tools export
--resend`` answers it.

Both documents are read strictly and trusted for nothing: a part is accepted
only if it hashes to what the index says, and the index only if the whole
stream then hashes to the archive's SHA-256 and verifies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from appliance.core import _json
from appliance.core.archive.manifest import check_digest
from appliance.core.errors import InputError, Reason

PARTS_VERSION: Final = 1
REQUEST_VERSION: Final = 1
MAX_PARTS: Final = 100_000
MIN_PART_BYTES: Final = 1024 * 1024  # a part of less than 1 MiB is a mistake
REASONS: Final = frozenset({"missing", "truncated", "altered"})
_PART_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}\.part-[0-9]{4,6}\.tar\.zst")
_SIZE = re.compile(r"([0-9]{1,9})\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?")
_UNITS = {
    "B": 1,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
}


def parse_size(text: str, *, where: str) -> int:
    """``4GiB``, ``700MiB``, ``4700MB``: the part size in bytes (at least 1 MiB).

    Raises:
        InputError: not a size, or under 1 MiB.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        msg = "expected a size such as 4GiB, 700MiB or 4700MB"
        raise InputError(msg, where=where, reason=Reason.USAGE)
    size = int(match.group(1)) * _UNITS[match.group(2) or "B"]
    if size < MIN_PART_BYTES:
        msg = "a part must be at least 1 MiB"
        raise InputError(msg, where=where, reason=Reason.USAGE)
    return size


def part_name(stem: str, number: int) -> str:
    """``STEM.part-0001.tar.zst`` (numbered from 1)."""
    return f"{stem}.part-{number:04d}.tar.zst"


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One part: its file name, size and SHA-256."""

    number: int
    name: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        """The part as the index writes it."""
        return {
            "number": self.number,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
        }


def _part(value: object, where: str) -> Part:
    obj = _json.obj(value, where)
    name = _json.string(obj, "name", where)
    if not _PART_NAME.fullmatch(name):
        msg = "a part's name must be STEM.part-NNNN.tar.zst, in the index's folder"
        raise InputError(msg, where=f"{where}.name")
    return Part(
        number=_json.int64(obj, "number", where, maximum=MAX_PARTS),
        name=name,
        size=_json.int64(obj, "size", where, maximum=2**50),
        sha256=check_digest(obj.get("sha256"), f"{where}.sha256"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PartsIndex:
    """What ``OUT.parts.json`` says."""

    part_size: int
    parts: tuple[Part, ...]
    archive_size: int
    archive_sha256: str
    ledger_digest: str

    def to_bytes(self) -> bytes:
        """Deterministic JSON."""
        doc = {
            "partsVersion": PARTS_VERSION,
            "partSize": self.part_size,
            "parts": [p.to_json() for p in self.parts],
            "archive": {"size": self.archive_size, "sha256": self.archive_sha256},
            "ledger": self.ledger_digest,
        }
        return _json.document(doc)

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> PartsIndex:
        """Parse and check an index: numbered 1..n, sizes that add up, all but the last full.

        Raises:
            InputError: anything else.
        """
        doc = _json.versioned(
            data,
            what="parts index",
            key="partsVersion",
            version=PARTS_VERSION,
            where=where,
        )
        archive = _json.obj(doc.get("archive"), f"{where}.archive")
        index = cls(
            part_size=_json.int64(doc, "partSize", where, maximum=2**50),
            parts=tuple(
                _part(p, f"{where}.parts[{i}]")
                for i, p in enumerate(_json.member_list(doc, "parts", where))
            ),
            archive_size=_json.int64(
                archive, "size", f"{where}.archive", maximum=2**60
            ),
            archive_sha256=check_digest(
                archive.get("sha256"), f"{where}.archive.sha256"
            ),
            ledger_digest=check_digest(doc.get("ledger"), f"{where}.ledger"),
        )
        problems = [
            not index.parts,
            len(index.parts) > MAX_PARTS,
            [p.number for p in index.parts] != list(range(1, len(index.parts) + 1)),
            len({p.name for p in index.parts}) != len(index.parts),
            sum(p.size for p in index.parts) != index.archive_size,
            any(p.size != index.part_size for p in index.parts[:-1]),
            bool(index.parts) and not 0 < index.parts[-1].size <= index.part_size,
        ]
        if any(problems):
            msg = "the parts do not add up (numbering, names, sizes or count)"
            raise InputError(msg, where=where)
        return index


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """The parts to send again: what arrived missing, short or altered."""

    archive_sha256: str
    ledger_digest: str
    part_size: int
    parts: tuple[Part, ...]  # as the index says they must be
    reasons: tuple[str, ...]  # one per part: missing | truncated | altered

    def to_bytes(self) -> bytes:
        """Deterministic JSON."""
        doc = {
            "requestVersion": REQUEST_VERSION,
            "archive": {"sha256": self.archive_sha256},
            "ledger": self.ledger_digest,
            "partSize": self.part_size,
            "resend": [
                {**p.to_json(), "reason": r}
                for p, r in zip(self.parts, self.reasons, strict=True)
            ],
        }
        return _json.document(doc)

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> Request:
        """Parse a request.

        Raises:
            InputError: not a request of a version we read.
        """
        doc = _json.versioned(
            data,
            what="re-request list",
            key="requestVersion",
            version=REQUEST_VERSION,
            where=where,
        )
        items = _json.member_list(doc, "resend", where)
        if not items:
            msg = "asks for no part"
            raise InputError(msg, where=where, reason=Reason.USAGE)
        parts = tuple(_part(p, f"{where}.resend[{i}]") for i, p in enumerate(items))
        reasons = tuple(
            _json.string(_json.obj(p, where), "reason", where) for p in items
        )
        if not set(reasons) <= REASONS:
            msg = f"a part's reason must be one of {', '.join(sorted(REASONS))}"
            raise InputError(msg, where=f"{where}.resend")
        archive = _json.obj(doc.get("archive"), f"{where}.archive")
        return cls(
            archive_sha256=check_digest(
                archive.get("sha256"), f"{where}.archive.sha256"
            ),
            ledger_digest=check_digest(doc.get("ledger"), f"{where}.ledger"),
            part_size=_json.int64(doc, "partSize", where, maximum=2**50),
            parts=parts,
            reasons=reasons,
        )
