"""What this appliance has put into the gap, who it is, and which inventories it wrote.

``$APPLIANCE_STATE_DIR``:

* ``appliance-id``: a random identity, made once; every inventory names it;
* ``held.json``: per registry, the blobs (digest, size) and manifests every
  successful ``load`` left there: what ``appliance inventory`` reports when
  no registry is asked;
* ``inventories.json``: the SHA-256 of every inventory written here. A delta
  archive names the inventory it was made against; one this appliance did
  not write is refused unless the operator allows it.

Written atomically under one lock (airlock_io.atomic).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from airlock_io.atomic import locked, write_atomically
from airlock_io.oserrors import write_error
from appliance.core import _json
from appliance.core.errors import InputError, Reason
from trustroot import strict_json

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


class Held:
    """The appliance's record of what it holds."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._lock = state_dir / ".held.lock"

    def _read(self, name: str) -> dict[str, Any]:
        path = self.state_dir / name
        if not path.exists():
            return {}
        try:
            doc = strict_json.loads(
                inputs.read_file(
                    path, what="appliance state", max_bytes=inputs.MAX_STATE_BYTES
                )
            )
        except ValueError as exc:
            msg = f"is damaged ({exc}): move it aside to start afresh"
            raise InputError(
                msg, where=str(path), reason=Reason.INPUT_UNREADABLE
            ) from exc
        if not isinstance(doc, dict):
            msg = "is damaged (not an object): move it aside to start afresh"
            raise InputError(msg, where=str(path), reason=Reason.INPUT_UNREADABLE)
        return doc

    def _write(self, name: str, doc: dict[str, Any]) -> None:
        try:
            write_atomically(
                self.state_dir / name,
                _json.document(doc),
                secret=True,
            )
        except OSError as exc:
            raise write_error(
                exc, self.state_dir / name, doing="cannot write the appliance's state"
            ) from exc

    def identity(self) -> str:
        """The appliance's identity (made on first use)."""
        path = self.state_dir / "appliance-id"
        with locked(self._lock):
            if path.exists():
                return (
                    inputs.read_file(path, what="appliance id", max_bytes=256)
                    .decode("ascii")
                    .strip()
                )
            value = f"urn:airlock:appliance:{secrets.token_hex(16)}"
            write_atomically(path, value.encode() + b"\n", secret=True)
            return value

    def record_load(
        self, registry: str, blobs: Iterable[tuple[str, int]], manifests: Iterable[str]
    ) -> None:
        """Remember what a successful load left in ``registry``."""
        with locked(self._lock):
            doc = self._read("held.json")
            entry = doc.setdefault("registries", {}).setdefault(
                registry, {"blobs": {}, "manifests": []}
            )
            entry["blobs"].update(dict(blobs))
            entry["manifests"] = sorted(set(entry["manifests"]) | set(manifests))
            self._write("held.json", doc)

    def held(self) -> tuple[dict[str, int], set[str], list[str]]:
        """(blobs, manifests, registries) of every load recorded here."""
        doc = self._read("held.json")
        blobs: dict[str, int] = {}
        manifests: set[str] = set()
        registries = sorted(doc.get("registries", {}))
        for entry in doc.get("registries", {}).values():
            blobs.update({str(k): int(v) for k, v in entry.get("blobs", {}).items()})
            manifests.update(str(m) for m in entry.get("manifests", []))
        return blobs, manifests, registries

    def remember_inventory(self, sha256: str) -> None:
        """Record an inventory written here."""
        with locked(self._lock):
            doc = self._read("inventories.json")
            doc["written"] = sorted({*doc.get("written", []), sha256})
            self._write("inventories.json", doc)

    def written(self) -> frozenset[str]:
        """The SHA-256 of every inventory this appliance wrote."""
        return frozenset(
            str(d) for d in self._read("inventories.json").get("written", [])
        )
