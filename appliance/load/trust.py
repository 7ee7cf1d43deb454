"""Write the verified trusted roots into the in-gap registry, beside the images (docs/handoff.md §2)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from appliance.core import trust_artifact

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airlock_registry.client import RegistryClient


def push_trusted_roots(
    client: RegistryClient, *, prefix: str, roots: Sequence[tuple[str, bytes]]
) -> dict[str, Any]:
    """Push the trust artifact under ``airlock/trust:trusted-roots``; say what was written.

    Blobs the repository holds are not sent again; the manifest is put by
    tag (the same roots give the same digest).

    Raises:
        InputError: the registry refused or failed.
    """
    image = trust_artifact.trusted_roots(roots)
    repository = trust_artifact.repository(prefix)
    for blob in image.blobs:
        if not client.has_blob(repository, blob.descriptor.digest):
            client.push_blob(repository, blob.descriptor, [blob.data])
    client.push_manifest(
        repository, trust_artifact.TRUSTED_ROOTS_TAG, image.manifest, image.media_type
    )
    return {
        "repository": repository,
        "tag": trust_artifact.TRUSTED_ROOTS_TAG,
        "digest": image.digest,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in roots},
    }
