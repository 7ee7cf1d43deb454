"""Load the trust material the appliance verifies against.

Two sources today: a ``trusted_root.json`` the operator names (reported as
"not TUF-backed"), or the public-good root sealed into the appliance. The
offline TUF replay (trust import) will add a third, persisted in the state
directory, and become the default when present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.core.errors import InputError
from appliance.core.trust import TrustMaterial
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
    # The sealed copy was verified against its TUF chain when it was pinned
    # (trustroot/data/README.md), so it is TUF-backed, as of that date.
    return TrustMaterial.from_bytes(data, source=EMBEDDED_SOURCE, tuf_backed=True)


def load_current(trusted_root: Path | None = None) -> TrustMaterial:
    """The operator's file if given, else the appliance's current root."""
    return load_file(trusted_root) if trusted_root is not None else load_embedded()
