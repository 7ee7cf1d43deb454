"""Media types, annotation keys and artifact types the archive model names.

Sources: image-spec ``media-types.md``, ``annotations.md``; cosign
``pkg/types/media.go``, ``specs/BUNDLE_SPEC.md`` (docs/oci.md §3). The
``dev.airlock.*`` names are ours: they mark what each layout entry is, so
that no reader has to guess.
"""

from __future__ import annotations

from typing import Final

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ALL_MANIFEST_TYPES: Final = INDEX_TYPES | MANIFEST_TYPES

OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
EMPTY: Final = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST: Final = (
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
)
LAYOUT_HEADER: Final = "application/vnd.oci.layout.header.v1+json"

# cosign legacy layers (docs/cosign.md §2, §6)
SIMPLESIGNING: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE: Final = "application/vnd.dsse.envelope.v1+json"
SBOM_TYPES: Final = frozenset(
    {
        "text/spdx",
        "text/spdx+json",
        "text/spdx+xml",
        "application/spdx+json",
        "application/vnd.cyclonedx",
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+xml",
        "application/vnd.syft+json",
    }
)
# Sigstore bundles as OCI 1.1 referrers (cosign v3, docs/cosign.md §9)
BUNDLE_PREFIX: Final = "application/vnd.dev.sigstore.bundle"
BUNDLE_V03: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIGN_PREDICATE: Final = "https://sigstore.dev/cosign/sign/v1"
# in-toto predicate types the appliance writes and reads (docs/attestations.md §4)
VSA: Final = "https://slsa.dev/verification_summary/v1"  # SLSA verification summary

# Annotations
REF_NAME: Final = "org.opencontainers.image.ref.name"
TITLE: Final = "org.opencontainers.image.title"
CREATED: Final = "org.opencontainers.image.created"
KIND: Final = "dev.airlock.kind"
SUBJECT: Final = "dev.airlock.subject"
REPOSITORY: Final = "dev.airlock.repository"
REFERENCE: Final = "dev.airlock.reference"  # an image's reference as resolved
BUNDLE_CONTENT: Final = "dev.sigstore.bundle.content"
BUNDLE_PREDICATE: Final = "dev.sigstore.bundle.predicateType"

# Artifacts only an Airlock archive carries
LEDGER: Final = "application/vnd.dev.airlock.export-ledger.v1+json"
TRUST_CAPSULE: Final = "application/vnd.dev.airlock.trust-capsule.v1+json"
# On a trust entry: the named root whose chain a further capsule continues
# (appliance/trust/held.py). Unsigned: it only picks which held root the
# capsule is replayed from, so a wrong name can only fail the replay.
TRUST_NAME: Final = "dev.airlock.trust.name"
TRUSTED_ROOT: Final = "application/vnd.dev.airlock.trusted-root.v1+json"
CAPSULE_FILE: Final = "application/vnd.dev.airlock.trust-capsule.file"
# A file carried as an OCI artifact (one blob, titled with its name) and,
# when it is signed through a checksum file, that file as a second layer
# (docs/image-sets.md §7).
FILE_ARTIFACT: Final = "application/vnd.dev.airlock.file.v1"
FILE_CONTENT: Final = "application/octet-stream"
CHECKSUMS: Final = "application/vnd.dev.airlock.file.checksums.v1"
SIGSTORE_TRUSTED_ROOT: Final = (
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
)
