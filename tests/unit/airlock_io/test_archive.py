"""One-pass intake: what is refused, how, and that a valid archive reads whole.

Refusals outnumber acceptances: traversal, links of every kind, devices,
FIFOs, PAX and GNU long-name records, duplicates, names outside the layout,
members out of place, a blob that does not hash to its name or whose size
differs from its descriptor, a blob no descriptor reaches, truncation,
corruption, trailing data, and a zstd bomb stopped early.
"""

from __future__ import annotations

import dataclasses
import tarfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import zstandard

from airlock_io.archive import read_archive
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.limits import ArchiveLimits
from tests.helpers.archives import Special, tiny_layout, write_dir, write_tar

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def members() -> list[tuple[str, bytes]]:
    return tiny_layout(NOW)


@pytest.mark.parametrize("form", ["tar.zst", "tar", "directory"])
def test_a_valid_archive_reads_whole(
    tmp_path: Path, members: list[tuple[str, bytes]], form: str
) -> None:
    if form == "directory":
        path = write_dir(tmp_path / "layout", members)
    else:
        path = write_tar(
            tmp_path / f"a.{form}", list(members), compress=form == "tar.zst"
        )
    archive = read_archive(path)
    assert archive.kind == form
    contents = archive.contents
    assert len(contents.blobs) == len(members) - 2
    assert contents.missing == frozenset()
    # Manifests and signature payloads are kept; the layer only hashed.
    layer = next(d for d, t in contents.media_types.items() if t.endswith("tar+gzip"))
    assert layer not in contents.documents
    assert all(d in contents.documents for d in contents.manifests)


def _refused(path: Path, needle: str, error: type[Exception] = InputError) -> Exception:
    with pytest.raises(error, match=needle) as caught:
        read_archive(path)
    return caught.value


@pytest.mark.parametrize(
    ("special", "needle"),
    [
        (
            Special("blobs/sha256/" + "a" * 64, tarfile.SYMTYPE, "/etc/passwd"),
            "a symbolic link",
        ),
        (
            Special("blobs/sha256/" + "b" * 64, tarfile.LNKTYPE, "index.json"),
            "a hard link",
        ),
        (Special("blobs/sha256/" + "c" * 64, tarfile.CHRTYPE), "a character device"),
        (Special("blobs/sha256/" + "d" * 64, tarfile.BLKTYPE), "a block device"),
        (Special("blobs/sha256/" + "e" * 64, tarfile.FIFOTYPE), "a FIFO"),
        (Special("blobs/sha256/" + "f" * 64, tarfile.CONTTYPE), "a contiguous file"),
        (Special("etc", tarfile.DIRTYPE), "a directory outside the layout's shape"),
    ],
)
def test_special_members_are_refused(
    tmp_path: Path, members: list[tuple[str, bytes]], special: Special, needle: str
) -> None:
    archive = write_tar(tmp_path / "a.tar.zst", [*members[:3], special, *members[3:]])
    _refused(archive, needle)


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "../outside",
        "blobs/sha256/../../../etc/passwd",
        "blobs/sha256/" + "A" * 64,
        "blobs/sha512/" + "a" * 128,
        "blobs/sha256/" + "a" * 63,
        "manifest.json",
        "./index.json",
        "blobs/sha256/" + "a" * 64 + "/x",
    ],
)
def test_names_outside_the_layout_are_refused(
    tmp_path: Path, members: list[tuple[str, bytes]], name: str
) -> None:
    archive = write_tar(
        tmp_path / "a.tar.zst", [*members[:2], (name, b"x"), *members[2:]]
    )
    _refused(archive, "outside the layout's shape|GNU long name")


def test_pax_and_gnu_long_names_are_refused(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    long_name = "blobs/sha256/" + "a" * 64 + "/" + "x" * 120
    _refused(
        write_tar(
            tmp_path / "pax.tar",
            [*members, (long_name, b"x")],
            compress=False,
            fmt=tarfile.PAX_FORMAT,
        ),
        "PAX header",
    )
    _refused(
        write_tar(tmp_path / "gnu.tar", [*members, (long_name, b"x")], compress=False),
        "GNU long name",
    )


def test_a_member_given_twice_is_refused(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    _refused(
        write_tar(tmp_path / "a.tar.zst", [*members, members[-1]]), "appears twice"
    )


def test_oci_layout_and_index_must_come_first(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    _refused(
        write_tar(tmp_path / "a.tar.zst", [members[1], members[0], *members[2:]]),
        "must be the archive's first member|must come right after",
    )
    _refused(
        write_tar(
            tmp_path / "b.tar.zst", [members[0], members[2], members[1], *members[3:]]
        ),
        "a blob before oci-layout and index.json",
    )
    _refused(write_tar(tmp_path / "c.tar.zst", members[2:]), "a blob before")
    _refused(write_tar(tmp_path / "d.tar.zst", members[:1]), "not an OCI image layout")


def test_a_blob_that_is_not_its_digest(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    name, data = members[-3]
    tampered = [*members[:-3], (name, data[:-1] + bytes([data[-1] ^ 1])), *members[-2:]]
    error = _refused(
        write_tar(tmp_path / "a.tar.zst", tampered),
        "holds bytes whose sha256 is",
        VerificationError,
    )
    assert isinstance(error, VerificationError)
    assert error.reason is Reason.DIGEST_MISMATCH


def test_a_blob_whose_size_differs_from_its_descriptor(tmp_path: Path) -> None:
    members = tiny_layout(NOW, layer=b"layer bytes\n")
    longer = tiny_layout(NOW, layer=b"layer bytes!!\n")
    layer_name = next(n for n, d in members if d == b"layer bytes\n")
    swapped = [
        (n, d) if n != layer_name else (n, b"layer bytes\n\x00") for n, d in members
    ]
    del longer
    _refused(
        write_tar(tmp_path / "a.tar.zst", swapped),
        "its descriptor says 12",
        VerificationError,
    )


def test_a_blob_no_descriptor_reaches(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    import hashlib  # noqa: PLC0415

    stray = b"smuggled"
    name = "blobs/sha256/" + hashlib.sha256(stray).hexdigest()
    _refused(
        write_tar(tmp_path / "a.tar.zst", [*members, (name, stray)]),
        "reached by no descriptor",
        VerificationError,
    )
    _refused(
        write_dir(tmp_path / "dir", [*members, (name, stray)]),
        "reached by no descriptor",
        VerificationError,
    )


def test_a_blob_named_but_absent_is_reported_missing(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    layer = next(n for n, d in members if d == b"layer bytes\n")
    contents = read_archive(
        write_tar(tmp_path / "a.tar.zst", [m for m in members if m[0] != layer])
    ).contents
    assert contents.missing == {"sha256:" + layer.rsplit("/", 1)[1]}


@pytest.mark.parametrize("cut", [1, 100, 511, 512, 1024, -1, -600])
def test_truncated_archives(
    tmp_path: Path, members: list[tuple[str, bytes]], cut: int
) -> None:
    from tests.helpers.archives import tar_bytes  # noqa: PLC0415

    data = tar_bytes(list(members))
    # Where the last member's data ends (the end-of-archive blocks follow).
    content_end = sum(512 + -(-len(d) // 512) * 512 for _, d in members)
    cut_at = cut if cut > 0 else content_end + cut
    (tmp_path / "a.tar").write_bytes(data[:cut_at])
    error = _refused(
        tmp_path / "a.tar", "truncated|checksum|not an OCI image layout|not valid JSON"
    )
    assert not isinstance(error, VerificationError)
    compressed = zstandard.ZstdCompressor().compress(data)
    (tmp_path / "a.tar.zst").write_bytes(
        compressed[: len(compressed) * cut_at // len(data)]
        if cut > 0
        else compressed[:cut]
    )
    _refused(
        tmp_path / "a.tar.zst",
        "truncated|corrupt|checksum|not an OCI image layout|not valid JSON",
    )


def test_corrupt_header_checksum(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    from tests.helpers.archives import tar_bytes  # noqa: PLC0415

    data = bytearray(tar_bytes(list(members)))
    data[1024 + 10] ^= 0xFF  # inside index.json's header (oci-layout takes 1 KiB)
    (tmp_path / "a.tar").write_bytes(bytes(data))
    _refused(tmp_path / "a.tar", "checksum")


def test_data_after_the_end(tmp_path: Path, members: list[tuple[str, bytes]]) -> None:
    from tests.helpers.archives import tar_bytes  # noqa: PLC0415

    data = tar_bytes(list(members)) + b"\x00" * 512 + b"trailing secrets"
    (tmp_path / "a.tar").write_bytes(data)
    _refused(tmp_path / "a.tar", "data after the end")
    (tmp_path / "b.tar.zst").write_bytes(
        zstandard.ZstdCompressor().compress(tar_bytes(list(members)))
        + b"not zstd at all"
    )
    _refused(tmp_path / "b.tar.zst", "corrupt")


def test_a_zstd_bomb_stops_early(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    """A layer of zeros that decompresses a million times its size."""
    from tests.helpers.archives import tar_bytes  # noqa: PLC0415

    bomb = bytes(64 * 1024 * 1024)
    data = tar_bytes([*members[:2], ("blobs/sha256/" + "0" * 64, bomb)])
    (tmp_path / "bomb.tar.zst").write_bytes(
        zstandard.ZstdCompressor(level=19).compress(data)
    )
    assert (tmp_path / "bomb.tar.zst").stat().st_size < 64 * 1024
    limits = ArchiveLimits(max_compression_ratio=100, ratio_grace_bytes=4 * 1024 * 1024)
    with pytest.raises(InputError, match="compression bomb") as caught:
        read_archive(tmp_path / "bomb.tar.zst", limits=limits)
    assert caught.value.reason is Reason.LIMIT_EXCEEDED


@pytest.mark.parametrize(
    ("limit", "needle"),
    [
        ({"max_members": 3}, "more than 3 members"),
        ({"max_member_bytes": 10}, "member limit"),
        ({"max_json_bytes": 100}, "limit for a document"),
        ({"max_kept_bytes": 500}, "documents over 500 bytes"),
        ({"max_total_bytes": 100}, "bytes decompressed"),
    ],
)
def test_limits(
    tmp_path: Path, members: list[tuple[str, bytes]], limit: dict[str, int], needle: str
) -> None:
    archive = write_tar(tmp_path / "a.tar.zst", list(members))
    with pytest.raises(InputError, match=needle) as caught:
        read_archive(archive, limits=dataclasses.replace(ArchiveLimits(), **limit))
    assert caught.value.reason is Reason.LIMIT_EXCEEDED


def test_directory_links_and_strays_are_refused(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    root = write_dir(tmp_path / "layout", members)
    blob = root / members[-1][0]
    blob.unlink()
    blob.symlink_to("/etc/passwd")
    _refused(root, "not a regular file")
    blob.unlink()
    blob.write_bytes(members[-1][1])
    (root / "notes.txt").write_text("x")
    _refused(root, "outside the layout's shape")


def test_the_archive_hash_is_of_the_file(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    import hashlib  # noqa: PLC0415

    path = write_tar(tmp_path / "a.tar.zst", list(members))
    assert (
        read_archive(path).sha256
        == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert read_archive(write_dir(tmp_path / "d", members)).sha256 is None
