"""The registry fixture: a real docker-registry, digests preserved both ways."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.helpers import oci
from tests.helpers.registry import Registry, RegistryError

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.registry


def _layout(tmp_path: Path) -> tuple[oci.Layout, dict[str, object]]:
    layout = oci.Layout(tmp_path / "layout")
    desc = layout.image({"hello.txt": b"hello air-gap\n"}, tag="v1")
    return layout, desc


def test_pushed_image_comes_back_with_the_same_digest(
    registry: Registry, tmp_path: Path
) -> None:
    layout, desc = _layout(tmp_path)
    registry.push_layout(layout.root, "v1", "demo/hello:v1")
    served = registry.get_manifest("demo/hello", "v1")
    assert served.digest == desc["digest"]
    assert served.header_digest == desc["digest"]
    assert served.body == layout.read_blob(str(desc["digest"]))
    assert served.media_type == oci.MANIFEST
    for layer in json.loads(served.body)["layers"]:
        assert registry.get_blob("demo/hello", layer["digest"]) == layout.read_blob(
            layer["digest"]
        )


def test_image_pulls_back_into_a_layout_with_the_same_digest(
    registry: Registry, tmp_path: Path
) -> None:
    layout, desc = _layout(tmp_path)
    registry.push_layout(layout.root, "v1", "demo/roundtrip:v1")
    back = tmp_path / "back"
    registry.pull_layout("demo/roundtrip:v1", back, "v1")
    index = json.loads((back / "index.json").read_bytes())
    assert [m["digest"] for m in index["manifests"]] == [desc["digest"]]


def test_multi_arch_index_keeps_its_digest(registry: Registry, tmp_path: Path) -> None:
    layout = oci.Layout(tmp_path / "multi")
    amd64 = layout.image({"arch": b"amd64"}, architecture="amd64")
    arm64 = layout.image({"arch": b"arm64"}, architecture="arm64")
    index = layout.index([amd64, arm64], tag="v2")
    registry.push_layout(layout.root, "v2", "demo/multi:v2")
    assert registry.get_manifest("demo/multi", "v2").digest == index["digest"]
    assert (
        registry.get_manifest("demo/multi", str(arm64["digest"])).digest
        == arm64["digest"]
    )


def test_missing_tag_is_an_error(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="HTTP 404"):
        registry.get_manifest("demo/absent", "nope")


def test_blob_with_other_bytes_is_caught(registry: Registry, tmp_path: Path) -> None:
    """The helper hashes what it reads; a corrupted store is detected, not trusted."""
    layout, _ = _layout(tmp_path)
    registry.push_layout(layout.root, "v1", "demo/corrupt:v1")
    layer = json.loads(registry.get_manifest("demo/corrupt", "v1").body)["layers"][0][
        "digest"
    ]
    hex_ = layer.split(":", 1)[1]
    data = (
        registry.workdir
        / "storage/docker/registry/v2/blobs/sha256"
        / hex_[:2]
        / hex_
        / "data"
    )
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        with pytest.raises(RegistryError, match="other bytes"):
            registry.get_blob("demo/corrupt", layer)
    finally:
        data.write_bytes(original)


def test_umoci_reads_our_layout(tmp_path: Path) -> None:
    """umoci (an independent OCI implementation) unpacks what our helper writes."""
    layout, _ = _layout(tmp_path)
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout.root}:v1", str(bundle)],
        check=True,
        capture_output=True,
    )
    assert (bundle / "rootfs" / "hello.txt").read_bytes() == b"hello air-gap\n"
