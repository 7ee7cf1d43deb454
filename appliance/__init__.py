"""Airlock appliance: the sealed, offline side.

It reads transfer archives with no network, verifies every byte against the
trust it holds, and loads only verified images into the in-gap registry. The
console script enters through :mod:`appliance.__main__`, which seals the
process against network access before anything else runs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _version() -> str:
    try:
        return version("airlock")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


__version__ = _version()

__all__ = ["__version__"]
