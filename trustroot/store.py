"""Read the trust material sealed into the package (the only I/O in trustroot).

Files are read through ``importlib.resources`` so that they work the same from
a source tree, a wheel and the PyInstaller build.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

PUBLIC_GOOD: Final = "public-good"
STAGING: Final = "staging"
INSTANCES: Final = (PUBLIC_GOOD, STAGING)


def read_embedded(instance: str, name: str) -> bytes:
    """Return the bytes of ``data/<instance>/<name>``.

    Raises:
        FileNotFoundError: no such embedded file.
    """
    if instance not in INSTANCES:
        msg = f"no embedded trust material for instance {instance!r}"
        raise FileNotFoundError(msg)
    return resources.files("trustroot").joinpath("data", instance, name).read_bytes()
