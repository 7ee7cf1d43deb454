"""Load the trust material the appliance verifies against.

In order of precedence: a ``trusted_root.json`` the operator names (reported
as "not TUF-backed"); the trusted root last imported through the offline TUF
replay (``appliance trust import``), from the state directory; otherwise the
public-good root sealed into the appliance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from appliance.core.errors import InputError
from appliance.core.trust import TrustMaterial
from appliance.trust.state import StateStore
from trustroot import store

if TYPE_CHECKING:
    from pathlib import Path

EMBEDDED_SOURCE = "embedded public-good trusted root (sealed into the appliance)"


def load_file(path: Path) -> TrustMaterial:
    """Trust material from a ``trusted_root.json`` file the operator named.

    Raises:
        InputError: the file cannot be read.
        TrustRootError: it is not a usable trusted root.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read trusted root: {exc.strerror}", where=str(path)
        ) from exc
    return TrustMaterial.from_bytes(
        data, source=f"{path} (not TUF-backed)", tuf_backed=False
    )


def load_embedded(instance: str = store.PUBLIC_GOOD) -> TrustMaterial:
    """The trusted root sealed into the appliance.

    Raises:
        TrustRootError: the embedded root is unusable (a broken build).
    """
    data = store.read_embedded(instance, "trusted_root.json")
    # The sealed copy was checked against its TUF chain when it was pinned
    # (trustroot/data/README.md), so it is TUF-backed, as of that date.
    return TrustMaterial.from_bytes(data, source=EMBEDDED_SOURCE, tuf_backed=True)


def load_imported(
    state_dir: Path, *, now: datetime | None = None
) -> TrustMaterial | None:
    """The trusted root of the last ``trust import``, or None if none was done.

    Raises:
        TrustRootError: the stored state is damaged (fail closed, never a
            silent fall-back to the sealed root).
    """
    state = StateStore(state_dir).load()
    if state is None:
        return None
    data = state.read("trusted_root.json")
    stale = state.stale_since(now or datetime.now(UTC))
    freshness = f"; stale since {stale:%Y-%m-%dT%H:%M:%SZ}" if stale else ""
    source = f"TUF root v{state.root_version}, imported {state.imported_at:%Y-%m-%dT%H:%M:%SZ} from {state.source}{freshness}"
    return TrustMaterial.from_bytes(data, source=source, tuf_backed=True)


def load_current(
    *, trusted_root: Path | None, state_dir: Path, now: datetime
) -> TrustMaterial:
    """The operator's file if given, else the imported root, else the sealed one."""
    if trusted_root is not None:
        return load_file(trusted_root)
    return load_imported(state_dir, now=now) or load_embedded()
