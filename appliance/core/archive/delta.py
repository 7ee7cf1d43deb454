"""Whether a delta archive is accepted here: only against an inventory this appliance wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core.archive.ledger import Ledger


def foreign_delta(ledger: Ledger, inventories: frozenset[str] | None) -> str | None:
    """Why a delta is not accepted here (None: a full archive, or an inventory we wrote).

    A delta leaves layers out because an inventory said the gap holds them.
    Taken against an inventory this appliance did not write, it would load
    images whose layers are wherever that inventory came from: the
    operator must say so (``--allow-foreign-inventory``).
    """
    delta = ledger.delta
    if delta is None or inventories is None or delta.inventory_sha256 in inventories:
        return None
    return (
        f"a delta against inventory {delta.inventory_sha256} (of {delta.appliance}), "
        "which this appliance did not write: pass --allow-foreign-inventory to accept it"
    )
