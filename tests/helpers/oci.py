"""Build small OCI image layouts with known digests, byte for byte.

Written independently of the product's archive code so that tests have an
oracle of their own: every blob is content-addressed here, and the manifest
digest a test expects is computed from the exact bytes written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def digest_of(data: bytes) -> str:
    """Return the ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: object) -> bytes:
    """Serialise JSON compactly with sorted keys, as registries expect to hash it."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def tar_layer(files: dict[str, bytes], *, gzipped: bool = True) -> bytes:
    """Return a deterministic layer: fixed mtime, owner and mode for each file."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    if not gzipped:
        return raw.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


@dataclass
class Layout:
    """An OCI image layout being written to ``root``."""

    root: Path
    index_entries: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_bytes(
            canonical({"imageLayoutVersion": "1.0.0"})
        )
        self._write_index()

    def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        """Store ``data`` as a blob and return its descriptor."""
        digest = digest_of(data)
        path = self.root / "blobs" / "sha256" / digest.split(":", 1)[1]
        path.write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(
        self,
        files: dict[str, bytes],
        *,
        tag: str | None = None,
        architecture: str = "amd64",
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Write a one-layer image and return its manifest descriptor."""
        layer_tar = tar_layer(files, gzipped=False)
        layer = self.blob(tar_layer(files), LAYER_GZIP)
        config = {
            "architecture": architecture,
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer_tar)]},
        }
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": self.blob(canonical(config), CONFIG),
            "layers": [layer],
        }
        if annotations:
            manifest["annotations"] = annotations
        desc = self.blob(canonical(manifest), MANIFEST)
        desc["platform"] = {"architecture": architecture, "os": "linux"}
        if tag is not None:
            self.tag(desc, tag)
        return desc

    def index(
        self, manifests: list[dict[str, Any]], *, tag: str | None = None
    ) -> dict[str, Any]:
        """Write an image index over ``manifests`` and return its descriptor."""
        body = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
        desc = self.blob(canonical(body), INDEX)
        if tag is not None:
            self.tag(desc, tag)
        return desc

    def tag(self, desc: dict[str, Any], name: str) -> None:
        """Name ``desc`` in ``index.json`` with the ref-name annotation."""
        entry = {k: v for k, v in desc.items() if k != "platform"}
        entry["annotations"] = {REF_NAME: name}
        self.index_entries = [
            e
            for e in self.index_entries
            if e.get("annotations", {}).get(REF_NAME) != name
        ]
        self.index_entries.append(entry)
        self._write_index()

    def read_blob(self, digest: str) -> bytes:
        """Return a blob's bytes by digest."""
        return (self.root / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()

    def _write_index(self) -> None:
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": self.index_entries,
        }
        (self.root / "index.json").write_bytes(canonical(index))
