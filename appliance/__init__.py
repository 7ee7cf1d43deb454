"""Airlock appliance: the sealed, offline side.

It reads transfer archives with no network, verifies every byte against the
trust it holds, and loads only verified images into the in-gap registry. The
console script enters through :mod:`appliance.__main__`, which seals the
process against network access before anything else runs.
"""

from __future__ import annotations

# The single source of the version: hatch reads it from here for the wheel.
# A literal, not importlib.metadata, which costs ~40 ms at every start.
__version__ = "0.1.0"

__all__ = ["__version__"]
