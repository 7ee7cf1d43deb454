"""Inventory: what the gap already holds, for the connected side's next delta.

From the appliance's own record of every load (what :mod:`.load` recorded,
from either face), or by walking the in-gap registry's API (the seal admits
its host and port for this verb only). The inventory names this appliance
and is remembered, so that a delta is accepted only against an inventory it
wrote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from airlock_io.atomic import check_output, write_output
from appliance.actions.audited import Audited
from appliance.actions.registry import RegistryAccess
from appliance.core.archive.inventory import Inventory
from appliance.core.archive.plan import Target
from appliance.held import Held
from appliance.load.inventory import read_registry

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryRequest:
    """``appliance inventory``."""

    out: Path  # INVENTORY.json, written atomically
    state_dir: Path
    registry: str | None = None  # read this registry itself, else the record of loads
    access: RegistryAccess = field(default_factory=RegistryAccess)


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryWritten:
    """What was written."""

    inventory: Inventory
    sha256: str  # sha256:<hex> of the file written
    source: str


def inventory(request: InventoryRequest) -> InventoryWritten:
    """Read, write atomically, remember, record.

    Raises:
        InputError: the output cannot be written; a bad registry; the registry failed.
    """
    check_output(request.out)
    held = Held(request.state_dir)
    contacted: list[str] = []
    with Audited("inventory", request.state_dir, registry=request.registry) as audit:
        if request.registry is not None:
            blobs, manifests = read_registry(
                Target.parse(request.registry),
                access=request.access,
                contacted=contacted,
            )
            source = f"registry {request.registry}"
        else:
            blobs, manifests, registries = held.held()
            source = f"the appliance's record of its loads into {', '.join(registries) or 'nothing yet'}"
        written = Inventory(
            appliance=held.identity(),
            created=datetime.now(UTC),
            source=source,
            blobs=blobs,
            manifests=frozenset(manifests),
        )
        data = written.to_bytes()
        write_output(request.out, data)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        held.remember_inventory(digest)
        audit.record(
            {
                "inventory": digest,
                "blobs": len(blobs),
                "manifests": len(manifests),
                "source": source,
                # every host contacted: the registry, its token realm (#21)
                **({"hosts": list(dict.fromkeys(contacted))} if contacted else {}),
                "exit_code": 0,
            }
        )
    return InventoryWritten(inventory=written, sha256=digest, source=source)
