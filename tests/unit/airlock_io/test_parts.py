"""PartsStream: parts read as one stream, every part hashed, damage named part by part."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

import pytest

from airlock_io.parts import DamagedParts, PartsStream, find_index
from appliance.core.errors import InputError
from bundle_tools.split import split

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1024 * 1024
LEDGER = "sha256:" + "3" * 64


@pytest.fixture
def parted(tmp_path: Path) -> tuple[Path, bytes]:
    """5 MiB + 7 bytes of random data in 2 MiB parts (three: 2, 2, 1 MiB + 7)."""
    data = os.urandom(5 * MIB + 7)
    whole = tmp_path / "whole"
    whole.write_bytes(data)
    folder = tmp_path / "media"
    folder.mkdir()
    split(
        whole,
        folder / "t.tar.zst",
        part_size=2 * MIB,
        archive_sha256="sha256:" + hashlib.sha256(data).hexdigest(),
        ledger_digest=LEDGER,
    )
    return folder / "t.parts.json", data


def _read_all(index: Path) -> bytes:
    out = bytearray()
    buffer = bytearray(300_000)  # not a divisor of the part size: reads straddle parts
    with PartsStream(index) as stream:
        while length := stream.readinto(buffer):
            out += buffer[:length]
    return bytes(out)


def test_the_parts_read_back_as_the_whole(parted: tuple[Path, bytes]) -> None:
    index, data = parted
    assert sorted(p.name for p in index.parent.iterdir()) == [
        "t.part-0001.tar.zst",
        "t.part-0002.tar.zst",
        "t.part-0003.tar.zst",
        "t.parts.json",
    ]
    assert _read_all(index) == data


def test_the_stream_rewinds_to_its_start_only(parted: tuple[Path, bytes]) -> None:
    index, data = parted
    with PartsStream(index) as stream:
        assert stream.read(4) == data[:4]
        assert stream.seek(0) == 0
        assert stream.read(4) == data[:4]
        with pytest.raises(OSError, match="rewinds"):
            stream.seek(10)


def test_a_missing_part_is_named_before_any_byte_is_read(
    parted: tuple[Path, bytes],
) -> None:
    index, _ = parted
    (index.parent / "t.part-0002.tar.zst").unlink()
    with pytest.raises(DamagedParts) as caught:
        PartsStream(index)
    assert [p.name for p in caught.value.request.parts] == ["t.part-0002.tar.zst"]
    assert caught.value.request.reasons == ("missing",)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda b: b[:-1], "truncated"),
        (lambda b: b + b"x", "altered"),
        (lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:], "altered"),
    ],
)
def test_a_damaged_part_is_named_with_why(
    parted: tuple[Path, bytes], edit: object, reason: str
) -> None:
    index, _ = parted
    part = index.parent / "t.part-0003.tar.zst"
    part.write_bytes(edit(part.read_bytes()))  # type: ignore[operator]
    with pytest.raises(DamagedParts) as caught:
        _read_all(index)
    assert [(p.name, r) for p, r in zip(caught.value.request.parts, caught.value.request.reasons, strict=True)] == [
        ("t.part-0003.tar.zst", reason)
    ]  # fmt: skip
    assert "t.part-0003.tar.zst" in str(caught.value)


def test_two_parts_swapped_are_both_named(parted: tuple[Path, bytes]) -> None:
    index, _ = parted
    one, two = (index.parent / f"t.part-000{n}.tar.zst" for n in (1, 2))
    first, second = one.read_bytes(), two.read_bytes()
    one.write_bytes(second)
    two.write_bytes(first)
    with pytest.raises(DamagedParts) as caught:
        _read_all(index)
    assert [p.name for p in caught.value.request.parts] == [one.name, two.name]
    assert caught.value.request.reasons == ("altered", "altered")


def test_a_part_replaced_by_a_symlink_is_missing(parted: tuple[Path, bytes]) -> None:
    index, _ = parted
    part = index.parent / "t.part-0001.tar.zst"
    real = index.parent.parent / "elsewhere"
    real.write_bytes(part.read_bytes())
    part.unlink()
    part.symlink_to(real)
    with pytest.raises(DamagedParts) as caught:
        PartsStream(index)
    assert caught.value.request.reasons == ("missing",)


def test_the_index_is_found_in_a_folder_of_parts(
    parted: tuple[Path, bytes], tmp_path: Path
) -> None:
    index, _ = parted
    assert find_index(index) == index
    assert find_index(index.parent) == index
    assert find_index(tmp_path / "nothing") is None
    (index.parent / "u.parts.json").write_bytes(index.read_bytes())
    with pytest.raises(InputError, match="more than one parts index"):
        find_index(index.parent)


def test_a_layout_folder_is_not_a_folder_of_parts(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (tmp_path / "stray.parts.json").write_text("{}")
    assert find_index(tmp_path) is None
