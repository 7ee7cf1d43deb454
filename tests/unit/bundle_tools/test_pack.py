"""The packer: deterministic bytes, every cached blob re-hashed, the disk's errors never lost."""

from __future__ import annotations

import errno
import hashlib
import os
import tarfile
from typing import TYPE_CHECKING

import pytest
import zstandard

from appliance.core.archive import layout
from appliance.core.archive.manifest import Descriptor
from appliance.core.errors import InputError
from bundle_tools import pack

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1024 * 1024
BLOB = "application/vnd.oci.image.layer.v1.tar"


def _blobs(folder: Path, sizes: list[int]) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    out = {}
    for size in sizes:
        data = os.urandom(size)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = folder / digest.removeprefix("sha256:")
        path.write_bytes(data)
        out[digest] = path
    return out


def _write(out: Path, blobs: dict[str, Path]) -> pack.Written:
    order = [
        Descriptor(media_type=BLOB, digest=d, size=p.stat().st_size)
        for d, p in blobs.items()
    ]
    return pack.write_archive(
        out, index=b'{"schemaVersion":2,"manifests":[]}', order=order,
        source=blobs.__getitem__, mtime=1_790_000_000,
    )  # fmt: skip


@pytest.fixture
def blobs(tmp_path: Path) -> dict[str, Path]:
    """Three blobs, one over the 4 MiB read buffer and one of zero bytes."""
    return _blobs(tmp_path / "cache", [9 * MIB + 3, 0, 5000])


def test_the_archive_is_the_blobs_in_order_and_its_hash_is_its_bytes(
    tmp_path: Path, blobs: dict[str, Path]
) -> None:
    written = _write(tmp_path / "a.tar.zst", blobs)
    raw = written.path.read_bytes()
    assert written.sha256 == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert written.size == len(raw)
    assert written.members == 2 + len(blobs)
    tar = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    (tmp_path / "x.tar").write_bytes(tar)
    with tarfile.open(tmp_path / "x.tar") as archive:
        names = archive.getnames()
        assert names == [
            layout.OCI_LAYOUT_NAME, layout.INDEX_NAME,
            *(layout.blob_name(d) for d in blobs),
        ]  # fmt: skip
        for digest, path in blobs.items():
            member = archive.extractfile(layout.blob_name(digest))
            assert member is not None
            assert member.read() == path.read_bytes()


def test_the_write_back_changes_nothing_but_when_the_disk_is_written(
    tmp_path: Path, blobs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _write(tmp_path / "plain.tar.zst", blobs).path.read_bytes()
    calls = []
    real = os.fdatasync

    def counted(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(pack, "_WRITEBACK", 64 * 1024)
    monkeypatch.setattr(os, "fdatasync", counted)
    early = _write(tmp_path / "early.tar.zst", blobs).path.read_bytes()
    assert early == plain
    assert calls  # the disk was written while zstd worked


def test_a_failed_write_back_is_an_error_and_leaves_nothing(
    tmp_path: Path, blobs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(pack, "_WRITEBACK", 64 * 1024)
    monkeypatch.setattr(os, "fdatasync", broken)
    with pytest.raises(
        InputError, match="cannot write the archive: Input/output error"
    ):
        _write(tmp_path / "a.tar.zst", blobs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_cached_blob_that_changed_is_refused_by_name(
    tmp_path: Path, blobs: dict[str, Path], where: str
) -> None:
    digest, path = next(iter(blobs.items()))
    data = bytearray(path.read_bytes())
    data[{"first": 0, "middle": len(data) // 2, "last": -1}[where]] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(pack.CacheDamagedError) as caught:
        _write(tmp_path / "a.tar.zst", blobs)
    assert caught.value.digest == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


@pytest.mark.parametrize("change", [-1, 1, 4 * MIB])
def test_a_cached_blob_of_another_size_is_refused(
    tmp_path: Path, blobs: dict[str, Path], change: int
) -> None:
    digest, path = next(iter(blobs.items()))
    data = path.read_bytes()
    path.write_bytes(data[:change] if change < 0 else data + os.urandom(change))
    with pytest.raises(pack.CacheDamagedError) as caught:
        _write(tmp_path / "a.tar.zst", blobs)
    assert caught.value.digest == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_two_writes_of_the_same_inputs_are_the_same_bytes(
    tmp_path: Path, blobs: dict[str, Path]
) -> None:
    first = _write(tmp_path / "a.tar.zst", blobs)
    second = _write(tmp_path / "b.tar.zst", blobs)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
