"""Every environment variable the appliance reads, declared in one place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

# Where the appliance keeps its state (trust, rollback versions, audit log).
APPLIANCE_STATE_DIR: Final = "APPLIANCE_STATE_DIR"
# PKCS#11 module path and PIN, named as cosign names them so scripts carry over.
COSIGN_PKCS11_MODULE_PATH: Final = "COSIGN_PKCS11_MODULE_PATH"
COSIGN_PKCS11_PIN: Final = "COSIGN_PKCS11_PIN"

# Password of a cosign encrypted key file (cosign's own variable).
COSIGN_PASSWORD: Final = "COSIGN_PASSWORD"  # noqa: S105 - the variable's name, not a password

ALL: Final = (
    APPLIANCE_STATE_DIR,
    COSIGN_PKCS11_MODULE_PATH,
    COSIGN_PKCS11_PIN,
    COSIGN_PASSWORD,
)


def state_dir() -> Path:
    """``$APPLIANCE_STATE_DIR``, else ``$XDG_DATA_HOME/airlock-appliance``."""
    explicit = os.environ.get(APPLIANCE_STATE_DIR)
    if explicit:
        return Path(explicit)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "airlock-appliance"
