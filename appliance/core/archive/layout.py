"""The transfer archive's layout: one OCI image layout, in a fixed order.

Members, and nothing else (docs/archive.md §1, §3; our design):

* ``oci-layout``: ``{"imageLayoutVersion":"1.0.0"}``;
* ``index.json``: every entry of the archive, each annotated with what it is
  (``dev.airlock.kind``), what it is about (``dev.airlock.subject``), where it
  came from (``dev.airlock.repository``) and, for images, the reference as
  asked (``org.opencontainers.image.ref.name``). The ledger comes first, then
  the trust capsule, then each image followed by what was found about it;
* ``blobs/sha256/<hex>``: every manifest and blob, once, in depth-first order
  from ``index.json``: each manifest before the blobs it names, so that one
  pass knows what each blob is before it arrives;
* the directories ``blobs/`` and ``blobs/sha256/`` may appear (tools that
  re-pack a layout add them); they carry nothing.

Pure: this module builds and checks the layout's documents and order; writing
and reading the tar stream are the edges' job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from appliance.core.archive import media
from appliance.core.archive.manifest import (
    Descriptor,
    ImageIndex,
    Manifest,
    digest_of,
)
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

OCI_LAYOUT: Final = b'{"imageLayoutVersion":"1.0.0"}'
OCI_LAYOUT_NAME: Final = "oci-layout"
INDEX_NAME: Final = "index.json"
DIRECTORIES: Final = frozenset({"blobs", "blobs/", "blobs/sha256", "blobs/sha256/"})
_BLOB = re.compile(r"blobs/sha256/([0-9a-f]{64})")
EMPTY_CONFIG: Final = b"{}"


class Kind:
    """Values of the ``dev.airlock.kind`` annotation in ``index.json``."""

    LEDGER: Final = "ledger"
    TRUST: Final = "trust"
    IMAGE: Final = "image"
    SIGNATURE: Final = "signature"  # cosign .sig
    ATTESTATION: Final = "attestation"  # cosign .att
    SBOM: Final = "sbom"  # cosign .sbom
    REFERRER: Final = "referrer"  # an OCI 1.1 referrer (bundles among them)
    REFERRERS_INDEX: Final = "referrers-index"  # the sha256-<hex> fallback tag
    FILE: Final = "file"  # a file (export --set [[files]]) as an OCI artifact
    ALL: Final = frozenset(
        {
            LEDGER,
            TRUST,
            IMAGE,
            SIGNATURE,
            ATTESTATION,
            SBOM,
            REFERRER,
            REFERRERS_INDEX,
            FILE,
        }
    )


def blob_name(digest: str) -> str:
    """The member name of a blob: ``blobs/sha256/<hex>``."""
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def blob_digest(name: str) -> str | None:
    """``sha256:<hex>`` if ``name`` is a blob member, else None."""
    match = _BLOB.fullmatch(name)
    return None if match is None else "sha256:" + match.group(1)


def check_member_name(name: str) -> None:
    """Refuse a member outside the layout's shape (no other name is ever read).

    Raises:
        InputError: absolute, ``..``, or any name but the layout's own.
    """
    if name in (OCI_LAYOUT_NAME, INDEX_NAME) or name in DIRECTORIES:
        return
    if blob_digest(name) is None:
        msg = "member outside the layout's shape (only oci-layout, index.json and blobs/sha256/<hex>)"
        raise InputError(msg, where=repr(name[:200]), reason=Reason.MALFORMED_INPUT)


def canonical(doc: object) -> bytes:
    """Compact JSON with sorted keys: how we write every document of our own."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()


def index_json(entries: Iterable[Descriptor]) -> bytes:
    """The layout's ``index.json`` over ``entries``, in the order given."""
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_INDEX,
            "manifests": [e.to_json() for e in entries],
        }
    )


def empty_config() -> Descriptor:
    """The OCI 1.1 empty descriptor (``{}``), as artifacts use for config."""
    return Descriptor(media_type=media.EMPTY, digest=media.EMPTY_DIGEST, size=2)


def artifact_manifest(
    artifact_type: str,
    layers: Iterable[Descriptor],
    *,
    annotations: dict[str, str] | None = None,
) -> bytes:
    """An OCI 1.1 artifact manifest: empty config, ``artifactType``, layers."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty_config().to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        doc["annotations"] = dict(sorted(annotations.items()))
    return canonical(doc)


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """A manifest we write ourselves and the blobs it names."""

    manifest: bytes
    blobs: dict[str, bytes]  # digest -> bytes (the empty config included)

    @property
    def digest(self) -> str:
        """The manifest's digest."""
        return digest_of(self.manifest)

    def descriptor(
        self, *, kind: str, artifact_type: str, **annotations: str
    ) -> Descriptor:
        """The entry of this artifact in ``index.json``."""
        return Descriptor(
            media_type=media.OCI_MANIFEST,
            digest=self.digest,
            size=len(self.manifest),
            artifact_type=artifact_type,
            annotations={media.KIND: kind, **annotations},
        )


def file_artifact(
    artifact_type: str, files: Mapping[str, bytes], *, media_type: str
) -> Artifact:
    """An artifact holding named files, one layer each, sorted by name."""
    layers = [
        Descriptor(
            media_type=media_type,
            digest=digest_of(data),
            size=len(data),
            annotations={media.TITLE: name},
        )
        for name, data in sorted(files.items())
    ]
    blobs = {digest_of(data): data for data in files.values()}
    blobs[media.EMPTY_DIGEST] = EMPTY_CONFIG
    return Artifact(manifest=artifact_manifest(artifact_type, layers), blobs=blobs)


def member_order(
    entries: Iterable[Descriptor], manifests: Mapping[str, Manifest]
) -> list[Descriptor]:
    """Every descriptor reachable from ``entries``, once, depth-first, pre-order.

    A manifest comes before the blobs (and child manifests) it names, so a
    one-pass reader knows each blob's role before the blob arrives.

    Args:
        entries: ``index.json``'s entries, in order.
        manifests: every manifest (and index) reachable, parsed, by digest.
    """
    order: list[Descriptor] = []
    seen: set[str] = set()
    stack = list(reversed(list(entries)))
    while stack:
        desc = stack.pop()
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        order.append(desc)
        manifest = manifests.get(desc.digest)
        if manifest is not None:
            stack.extend(reversed(manifest.children))
    return order


def parse_index(data: bytes) -> ImageIndex:
    """Parse the layout's ``index.json``; every entry must say what it is.

    Raises:
        InputError: not an index, or an entry without a known kind.
    """
    from appliance.core.archive.manifest import parse  # noqa: PLC0415 - cycle-free at use

    index = parse(data, media_type=None, where="index.json")
    if not isinstance(index, ImageIndex):
        msg = "is not an image index"
        raise InputError(msg, where="index.json")
    for i, entry in enumerate(index.manifests):
        kind = entry.annotations.get(media.KIND)
        if kind not in Kind.ALL:
            msg = f"entry {i} has no known {media.KIND} annotation ({str(kind)[:40]!r})"
            raise InputError(msg, where="index.json")
    return index
