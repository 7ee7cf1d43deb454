"""Hand-built transfer archives, valid and otherwise, independent of the packer.

:func:`tiny_layout` gives the members of a minimal valid Airlock layout (an
image, a signature about it, a ledger) in the layout's member order; tests
then reorder, drop, duplicate or corrupt members and write them with
:func:`write_tar` (Python's ``tarfile``, any member type it can express:
links, devices, FIFOs, PAX headers) or :func:`write_dir`.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zstandard

from appliance.core.archive import layout, media
from appliance.core.archive.ledger import Content, Ledger, TrustEntry
from appliance.core.archive.manifest import Descriptor, digest_of
from tests.helpers import oci

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from pathlib import Path

Member = tuple[str, bytes]


@dataclass
class Special:
    """A tar entry that is not a regular file."""

    name: str
    type: bytes  # tarfile.SYMTYPE, LNKTYPE, CHRTYPE, FIFOTYPE, DIRTYPE ...
    linkname: str = ""


def tiny_layout(now: datetime, *, layer: bytes = b"layer bytes\n") -> list[Member]:
    """oci-layout, index.json, ledger, image manifest, config, layer, signature."""
    config = oci.canonical(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    )
    manifest = oci.canonical(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST,
            "config": {
                "mediaType": oci.CONFIG,
                "digest": oci.digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": oci.LAYER_GZIP,
                    "digest": oci.digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    )
    payload = b'{"critical":{}}'
    signature = oci.canonical(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST,
            "config": {
                "mediaType": oci.CONFIG,
                "digest": oci.digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": oci.SIMPLESIGNING,
                    "digest": oci.digest_of(payload),
                    "size": len(payload),
                }
            ],
        }
    )
    image = Descriptor(
        media_type=oci.MANIFEST,
        digest=digest_of(manifest),
        size=len(manifest),
        annotations={media.KIND: "image", media.REF_NAME: "reg.test/app:v1"},
    )
    sig = Descriptor(
        media_type=oci.MANIFEST,
        digest=digest_of(signature),
        size=len(signature),
        annotations={media.KIND: "signature", media.SUBJECT: image.digest},
    )
    blobs = [
        (image.digest, manifest),
        (digest_of(config), config),
        (digest_of(layer), layer),
        (sig.digest, signature),
        (digest_of(payload), payload),
    ]
    ledger = Ledger(
        tool="tests",
        tool_version="0",
        created=now,
        images=(),
        trust=TrustEntry(kind="none"),
        contents=tuple(Content(digest=d, size=len(b), role="blob") for d, b in blobs),
    )
    artifact = layout.file_artifact(
        media.LEDGER, {"ledger.json": ledger.to_bytes()}, media_type=media.LEDGER
    )
    ledger_entry = artifact.descriptor(kind="ledger", artifact_type=media.LEDGER)
    index = layout.index_json([ledger_entry, image, sig])
    members: list[Member] = [
        (layout.OCI_LAYOUT_NAME, layout.OCI_LAYOUT),
        (layout.INDEX_NAME, index),
    ]
    members.append((layout.blob_name(artifact.digest), artifact.manifest))
    members += [
        (layout.blob_name(d), b)
        for d, b in artifact.blobs.items()
        if d != media.EMPTY_DIGEST
    ]
    members.append((layout.blob_name(media.EMPTY_DIGEST), b"{}"))
    seen = {n for n, _ in members}
    for digest, data in blobs:
        name = layout.blob_name(digest)
        if name not in seen:
            members.append((name, data))
            seen.add(name)
    return members


def tar_bytes(
    members: Sequence[Member | Special], *, fmt: int = tarfile.GNU_FORMAT
) -> bytes:
    """A tar of ``members``, in order (duplicates and specials allowed)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for member in members:
            if isinstance(member, Special):
                info = tarfile.TarInfo(member.name)
                info.type = member.type
                info.linkname = member.linkname
                tar.addfile(info)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write_tar(
    path: Path,
    members: Sequence[Member | Special],
    *,
    compress: bool = True,
    fmt: int = tarfile.GNU_FORMAT,
) -> Path:
    """Write the tar (zstd-compressed unless ``compress`` is False)."""
    data = tar_bytes(members, fmt=fmt)
    path.write_bytes(
        zstandard.ZstdCompressor(level=3).compress(data) if compress else data
    )
    return path


def write_dir(root: Path, members: Sequence[Member]) -> Path:
    """Write ``members`` as an extracted layout directory."""
    for name, data in members:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def extract(archive: Path, into: Path) -> Path:
    """Extract a ``.tar.zst`` with tarfile's ``data`` filter (tests only: the product never extracts)."""
    into.mkdir()
    with (
        archive.open("rb") as handle,
        zstandard.ZstdDecompressor().stream_reader(handle) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        tar.extractall(into, filter="data")
    return into
