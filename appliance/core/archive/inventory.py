"""What the gap already holds: the inventory an appliance writes for the connected side.

``appliance inventory -o INVENTORY.json`` lists blob digests and sizes and
manifest digests, with the appliance's identity and the time. Carried out,
``bundle-tools export --have INVENTORY.json`` leaves out every image layer
and config the gap holds (never a manifest, a signature, an attestation or
the trust), and its ledger names the inventory (:class:`Delta`): the
appliance accepts a delta only against an inventory it wrote itself, unless
the operator says otherwise. An inventory saves bytes; it is trusted for
nothing else: signatures still cover manifests, and manifests name blobs by
digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from appliance.core import _json
from appliance.core.archive.manifest import check_digest
from appliance.core.errors import InputError

INVENTORY_VERSION: Final = 1
MAX_ENTRIES: Final = 10_000_000


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """Blobs (digest, size) and manifests the gap holds, by whom and when."""

    appliance: str  # the appliance's identity (its state's id)
    created: datetime
    source: str  # where it was read: the appliance's record, or a registry
    blobs: dict[str, int]
    manifests: frozenset[str]

    def to_bytes(self) -> bytes:
        """Deterministic JSON."""
        doc = {
            "inventoryVersion": INVENTORY_VERSION,
            "appliance": self.appliance,
            "created": _iso(self.created),
            "source": self.source,
            "blobs": [{"digest": d, "size": s} for d, s in sorted(self.blobs.items())],
            "manifests": sorted(self.manifests),
        }
        return _json.document(doc)

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> Inventory:
        """Parse an inventory.

        Raises:
            InputError: not an inventory of a version we read.
        """
        doc = _json.versioned(
            data,
            what="inventory",
            key="inventoryVersion",
            version=INVENTORY_VERSION,
            where=where,
        )
        blobs: dict[str, int] = {}
        for i, item in enumerate(_json.member_list(doc, "blobs", where)):
            obj = _json.obj(item, f"{where}.blobs[{i}]")
            blobs[check_digest(obj.get("digest"), f"{where}.blobs[{i}].digest")] = (
                _json.int64(obj, "size", f"{where}.blobs[{i}]", maximum=2**60)
            )
        manifests = frozenset(
            check_digest(m, f"{where}.manifests")
            for m in _json.member_list(doc, "manifests", where)
        )
        if len(blobs) + len(manifests) > MAX_ENTRIES:
            msg = "too many entries for an inventory"
            raise InputError(msg, where=where)
        created = _json.string(doc, "created", where)
        try:
            when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError as exc:
            msg = "created is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)"
            raise InputError(msg, where=f"{where}.created") from exc
        return cls(
            appliance=_json.string(doc, "appliance", where),
            created=when,
            source=_json.string(doc, "source", where),
            blobs=blobs,
            manifests=manifests,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Delta:
    """What a delta archive's ledger says of the inventory it was made against."""

    inventory_sha256: str
    appliance: str
    inventory_created: datetime

    def to_json(self) -> dict[str, Any]:
        """The ledger's ``delta`` object."""
        return {
            "inventory": self.inventory_sha256,
            "appliance": self.appliance,
            "inventoryCreated": _iso(self.inventory_created),
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> Delta:
        """Parse what :meth:`to_json` wrote.

        Raises:
            InputError: a field is missing or malformed.
        """
        obj = _json.obj(value, where)
        try:
            created = datetime.strptime(
                _json.string(obj, "inventoryCreated", where), "%Y-%m-%dT%H:%M:%SZ"
            ).replace(tzinfo=UTC)
        except ValueError as exc:
            msg = "inventoryCreated is not a UTC time"
            raise InputError(msg, where=where) from exc
        return cls(
            inventory_sha256=check_digest(obj.get("inventory"), f"{where}.inventory"),
            appliance=_json.string(obj, "appliance", where),
            inventory_created=created,
        )
