"""The trust the appliance verified, as an OCI artifact beside the images it loads.

A consumer inside the gap that reaches only the registry (an admission
controller, ``oras pull``, ``skopeo copy``) finds the trusted roots under one
documented name (docs/handoff.md §2): repository ``airlock/trust`` under the
load's prefix, tag ``trusted-roots``. It is an OCI 1.1 artifact manifest
(image-spec ``manifest.md``, "Guidelines for Artifact Usage": ``artifactType``
set, the empty config), one layer per trust root name, each titled with its
file name (``org.opencontainers.image.title``, which ``oras pull`` writes it
under) and typed as Sigstore types a trusted root
(``application/vnd.dev.sigstore.trustedroot+json;version=0.1``). The layers are
the bytes the appliance verified, unchanged. Nothing in it depends on the time,
so the same roots give the same digest and a second load pushes nothing new.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from appliance.core.archive import layout, media
from appliance.core.archive.manifest import Descriptor, digest_of
from appliance.core.image_signing import ArtifactImage, Blob

if TYPE_CHECKING:
    from collections.abc import Sequence

REPOSITORY: Final = "airlock/trust"
TRUSTED_ROOTS_TAG: Final = "trusted-roots"
ARTIFACT_TYPE: Final = "application/vnd.dev.airlock.trusted-roots.v1+json"
# The published gap-local TUF repository (``trust publish --to``, and ``load``
# once one was published): every file, titled with its path in the repository.
TUF_TAG: Final = "tuf-repository"
TUF_ARTIFACT_TYPE: Final = "application/vnd.dev.airlock.tuf-repository.v1+json"
TUF_FILE: Final = "application/vnd.dev.airlock.tuf-file.v1"


def repository(prefix: str) -> str:
    """Where the trust artifact goes under a load's repository prefix."""
    return f"{prefix}/{REPOSITORY}" if prefix else REPOSITORY


def trusted_roots(roots: Sequence[tuple[str, bytes]]) -> ArtifactImage:
    """The artifact holding ``roots`` (file name, verified bytes), in name order."""
    return _artifact(
        roots, artifact_type=ARTIFACT_TYPE, layer_type=media.SIGSTORE_TRUSTED_ROOT
    )


def tuf_repository(files: Sequence[tuple[str, bytes]]) -> ArtifactImage:
    """The artifact holding a TUF repository's files (path in it, bytes), in path order."""
    return _artifact(files, artifact_type=TUF_ARTIFACT_TYPE, layer_type=TUF_FILE)


def _artifact(
    files: Sequence[tuple[str, bytes]], *, artifact_type: str, layer_type: str
) -> ArtifactImage:
    layers = [
        Blob(
            descriptor=Descriptor(
                media_type=layer_type,
                digest=digest_of(data),
                size=len(data),
                annotations={media.TITLE: name},
            ),
            data=data,
        )
        for name, data in sorted(files)
    ]
    empty = Blob(descriptor=layout.empty_config(), data=layout.EMPTY_CONFIG)
    manifest = layout.canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": empty.descriptor.to_json(),
            "layers": [layer.descriptor.to_json() for layer in layers],
        }
    )
    return ArtifactImage(
        manifest=manifest, media_type=media.OCI_MANIFEST, blobs=(empty, *layers)
    )
