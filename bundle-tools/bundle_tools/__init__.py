"""Airlock bundle-tools: the connected side.

It pulls images, their signatures, attestations, SBOMs and Sigstore bundles,
the Sigstore trust root refreshed through TUF, and the Rekor evidence needed
offline, and packs them into one deterministic transfer archive. It may use the
appliance's pure verification core (:mod:`appliance.core`) and nothing else of
the appliance.
"""

from __future__ import annotations

from appliance import __version__

__all__ = ["__version__"]
