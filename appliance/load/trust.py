"""Write the verified trusted roots into the in-gap registry, beside the images (docs/handoff.md §2)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from appliance.core import trust_artifact

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airlock_registry.client import RegistryClient
    from appliance.core.image_signing import ArtifactImage


def push_trusted_roots(
    client: RegistryClient, *, prefix: str, roots: Sequence[tuple[str, bytes]]
) -> dict[str, Any]:
    """Push the trust artifact under ``airlock/trust:trusted-roots``; say what was written.

    Blobs the repository holds are not sent again; the manifest is put by
    tag (the same roots give the same digest).

    Raises:
        InputError: the registry refused or failed.
    """
    return _push(
        client,
        prefix=prefix,
        tag=trust_artifact.TRUSTED_ROOTS_TAG,
        image=trust_artifact.trusted_roots(roots),
        files=roots,
    )


def push_tuf_repository(
    client: RegistryClient, *, prefix: str, files: Sequence[tuple[str, bytes]]
) -> dict[str, Any]:
    """Push a published TUF repository under ``airlock/trust:tuf-repository``; say what was written.

    Raises:
        InputError: the registry refused or failed.
    """
    return _push(
        client,
        prefix=prefix,
        tag=trust_artifact.TUF_TAG,
        image=trust_artifact.tuf_repository(files),
        files=files,
    )


def _push(
    client: RegistryClient,
    *,
    prefix: str,
    tag: str,
    image: ArtifactImage,
    files: Sequence[tuple[str, bytes]],
) -> dict[str, Any]:
    repository = trust_artifact.repository(prefix)
    for blob in image.blobs:
        if not client.has_blob(repository, blob.descriptor.digest):
            client.push_blob(repository, blob.descriptor, [blob.data])
    client.push_manifest(repository, tag, image.manifest, image.media_type)
    return {
        "repository": repository,
        "tag": tag,
        "digest": image.digest,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files},
    }
