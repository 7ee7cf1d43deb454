"""What an in-gap registry holds: every repository, tag, manifest and blob, read through its API.

For ``appliance inventory --registry``: a read of the one registry the
operator names, inside the seal's permit for it. Manifests are fetched
byte-exact and digest-checked; blobs are taken from the descriptors that
name them (configs and layers, with their sizes), which is what a delta
needs: the exporter leaves out a blob only if digest and size both match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.core.archive.manifest import ImageIndex, ImageManifest, parse
from appliance.load.connect import registry

if TYPE_CHECKING:
    from appliance.actions.registry import RegistryAccess
    from appliance.core.archive.plan import Target


def read_registry(
    target: Target, *, access: RegistryAccess, contacted: list[str] | None = None
) -> tuple[dict[str, int], set[str]]:
    """(blobs by digest with sizes, manifest digests) of every tagged image of the registry."""
    blobs: dict[str, int] = {}
    manifests: set[str] = set()
    with registry(target, access=access, contacted=contacted) as client:
        for repository in client.repositories():
            pending = list(client.tags(repository))
            seen: set[str] = set()
            while pending:
                reference = pending.pop()
                fetched = client.manifest(repository, reference)
                if fetched is None or fetched.digest in seen:
                    continue
                seen.add(fetched.digest)
                manifests.add(fetched.digest)
                manifest = parse(
                    fetched.data,
                    media_type=fetched.media_type,
                    where=f"{repository}@{fetched.digest}",
                )
                if isinstance(manifest, ImageIndex):
                    pending.extend(d.digest for d in manifest.manifests)
                elif isinstance(manifest, ImageManifest):
                    blobs.update({d.digest: d.size for d in manifest.children})
    return blobs, manifests
