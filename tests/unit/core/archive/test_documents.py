"""Kept documents: past the threshold held in the spool, always read back as the exact bytes, re-hashed."""

from __future__ import annotations

import base64
import hashlib
import os
import random
from pathlib import Path

import pytest
import zstandard

from airlock_io import spool as spool_mod
from airlock_io.spool import FileSpool
from appliance.core.archive import intake
from appliance.core.archive.intake import Documents
from appliance.core.errors import InputError, VerificationError

# As a cosign .sig manifest is: the same chain (here 4 KB of base64 noise) in every layer.
_CHAIN = base64.b64encode(
    b"".join(hashlib.sha256(bytes([i])).digest() for i in range(96))
)
SIG_MANIFEST = b'{"layers":[' + b",".join([b'{"chain":"' + _CHAIN + b'"}'] * 10) + b"]}"


def _d(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_under_the_threshold_nothing_is_spooled() -> None:
    spool = FileSpool()
    docs = Documents(plain_bytes=1 << 20, spool=spool)
    docs.keep(_d(SIG_MANIFEST), SIG_MANIFEST)
    assert docs[_d(SIG_MANIFEST)] is SIG_MANIFEST  # held as it came, not a copy
    assert spool.size == 0  # no file was even made
    assert docs.spooled == 0


def test_without_a_spool_everything_is_held_in_memory() -> None:
    docs = Documents(plain_bytes=0)
    docs.keep(_d(SIG_MANIFEST), SIG_MANIFEST)
    assert docs[_d(SIG_MANIFEST)] is SIG_MANIFEST
    assert docs.spooled == 0


def test_past_the_threshold_documents_are_spooled_and_read_back_exactly() -> None:
    spool = FileSpool()
    docs = Documents(plain_bytes=0, spool=spool)
    noise = os.urandom(8000)
    for data in (SIG_MANIFEST, noise, b"small payload"):
        docs.keep(_d(data), data)
    for data in (SIG_MANIFEST, noise, b"small payload"):
        assert docs[_d(data)] == data
    assert docs.spooled == 3
    # Compressed past PACK_FROM (a .sig manifest packs well), the rest as it
    # came; one byte each says which.
    assert len(SIG_MANIFEST) >= spool_mod.PACK_FROM > len(b"small payload")
    assert spool.size < len(SIG_MANIFEST) // 4 + len(noise) + 100 + len(
        b"small payload"
    )
    assert sorted(docs) == sorted(
        _d(x) for x in (SIG_MANIFEST, noise, b"small payload")
    )
    assert len(docs) == 3


def test_a_spooled_document_altered_on_disk_is_refused_not_returned() -> None:
    spool = FileSpool()
    docs = Documents(plain_bytes=0, spool=spool)
    docs.keep(_d(SIG_MANIFEST), SIG_MANIFEST)
    assert spool._fd is not None
    os.pwrite(spool._fd, b"B", 20)  # another process writing to it
    with pytest.raises(VerificationError, match="no longer hashes"):
        docs[_d(SIG_MANIFEST)]


def _rewrite(spool: FileSpool, stored: bytes) -> None:
    """Another process replaces the spool's one document with ``stored``, same length."""
    assert spool._fd is not None
    assert len(stored) <= spool.size
    os.pwrite(spool._fd, stored.ljust(spool.size, b"\0"), 0)


def _frame(
    data: bytes,
    *,
    content_size: bool = True,
    checksum: bool = True,
    dictionary: zstandard.ZstdCompressionDict | None = None,
) -> bytes:
    return zstandard.ZstdCompressor(
        level=3,
        write_content_size=content_size,
        write_checksum=checksum,
        dict_data=dictionary,
    ).compress(data)


def _dictionary() -> zstandard.ZstdCompressionDict:
    """A trained dictionary (it has an ID, which a frame made with it names)."""
    pick = random.Random(26).choice
    samples: list[bytes | bytearray | memoryview[int]] = [
        bytes(pick(b'abcdefgh{}":,') for _ in range(300)) for _ in range(200)
    ]
    return zstandard.train_dictionary(2048, samples)


def test_a_spool_rewritten_to_inflate_without_bound_is_refused_not_inflated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frame claiming another size is not inflated at all (its word would size the buffer)."""
    spool = FileSpool()
    docs = Documents(plain_bytes=0, spool=spool)
    docs.keep(_d(SIG_MANIFEST), SIG_MANIFEST)
    bomb = _frame(b"\0" * (64 << 20))  # 64 MiB in a few KB: fits the slot
    assert zstandard.frame_content_size(bomb) == 64 << 20
    _rewrite(spool, b"Z" + bomb)

    def no_inflating() -> None:
        pytest.fail("a frame claiming another size was inflated")

    monkeypatch.setattr(zstandard, "ZstdDecompressor", no_inflating)
    with pytest.raises(VerificationError, match="no longer hashes"):
        docs[_d(SIG_MANIFEST)]


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(b"not zstd at all", id="garbage"),
        pytest.param(b"Znot zstd at all", id="garbage-marked-packed"),
        pytest.param(b"X" + _frame(SIG_MANIFEST), id="unknown-marker"),
        pytest.param(b"Z", id="marker-alone"),
        # The right bytes, but a frame that does not say its size: its
        # inflation would be bounded only by the frame itself.
        pytest.param(b"Z" + _frame(SIG_MANIFEST, content_size=False), id="no-size"),
        pytest.param(b"Z" + _frame(SIG_MANIFEST) + b"tail", id="bytes-after-frame"),
        pytest.param(b"Z" + _frame(SIG_MANIFEST[:-1]), id="one-byte-short"),
        pytest.param(b"Z" + _frame(SIG_MANIFEST + b" "), id="one-byte-long"),
        pytest.param(
            b"Z" + _frame(SIG_MANIFEST[:100]) + _frame(SIG_MANIFEST[100:]),
            id="two-frames",
        ),
        pytest.param(b"Z" + _frame(SIG_MANIFEST)[:-3], id="frame-cut-short"),
        # The right bytes in a frame put() never writes: nothing to check
        # them against, or a dictionary the spool does not have.
        pytest.param(b"Z" + _frame(SIG_MANIFEST, checksum=False), id="no-checksum"),
        pytest.param(
            b"Z" + _frame(SIG_MANIFEST, dictionary=_dictionary()), id="dictionary"
        ),
        # Stored plain, but longer or shorter than the document.
        pytest.param(b"P" + SIG_MANIFEST + b" ", id="plain-one-byte-long"),
        pytest.param(b"P" + SIG_MANIFEST[:-1], id="plain-one-byte-short"),
    ],
)
def test_stored_bytes_that_are_not_the_document_come_back_empty(stored: bytes) -> None:
    """Whatever a slot of the spool now holds, it inflates to the document's size or not at all."""
    spool = FileSpool()
    spool.put(b"opens the file")
    assert spool._fd is not None
    os.pwrite(spool._fd, stored, 0)
    assert spool.get(0, len(stored), len(SIG_MANIFEST)) == b""


def test_a_packed_document_with_any_byte_changed_never_reads_back_as_other_bytes() -> (
    None
):
    """The frame's checksum refuses a changed byte itself: the read is the document or nothing."""
    spool = FileSpool()
    offset, stored = spool.put(SIG_MANIFEST)
    assert spool._fd is not None
    original = os.pread(spool._fd, stored, offset)
    assert original[:1] == b"Z"
    refused = 0
    for at in range(1, stored):
        for flip in (0x01, 0x80):
            changed = bytearray(original)
            changed[at] ^= flip
            os.pwrite(spool._fd, changed, offset)
            back = spool.get(offset, stored, len(SIG_MANIFEST))
            assert back in (b"", SIG_MANIFEST), (at, flip)
            refused += back == b""
    assert refused >= 2 * (stored - 1) - 16  # a few flips may hit unused bits


def test_a_packed_document_reads_back_whatever_level_packed_it() -> None:
    spool = FileSpool()
    spool.put(b"opens the file")
    assert spool._fd is not None
    stored = b"Z" + _frame(SIG_MANIFEST)  # level 3, not the spool's 1
    os.pwrite(spool._fd, stored, 0)
    assert spool.get(0, len(stored), len(SIG_MANIFEST)) == SIG_MANIFEST


def test_a_spool_holding_garbage_where_a_compressed_document_was_is_refused() -> None:
    spool = FileSpool()
    docs = Documents(plain_bytes=0, spool=spool)
    docs.keep(_d(SIG_MANIFEST), SIG_MANIFEST)
    _rewrite(spool, b"Znot zstd at all")
    with pytest.raises(VerificationError, match="no longer hashes"):
        docs[_d(SIG_MANIFEST)]


def test_a_truncated_spool_is_one_input_error() -> None:
    spool = FileSpool()
    docs = Documents(plain_bytes=0, spool=spool)
    docs.keep(_d(SIG_MANIFEST), SIG_MANIFEST)
    assert spool._fd is not None
    os.ftruncate(spool._fd, 10)
    with pytest.raises(InputError, match="returned 10 of"):
        docs[_d(SIG_MANIFEST)]


def test_the_spool_leaves_nothing_in_tmpdir(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile  # noqa: PLC0415

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spool = FileSpool()
    assert spool.put(b"x" * 10) == (0, 11)  # one byte says how it is stored
    assert list(Path(tmp_path).iterdir()) == []  # unlinked from the moment it exists
    assert spool.get(0, 11, 10) == b"x" * 10


def test_an_unwritable_tmpdir_is_one_input_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tempfile  # noqa: PLC0415

    monkeypatch.setattr(tempfile, "tempdir", "/nonexistent/airlock")
    with pytest.raises(InputError, match=r"/nonexistent/airlock \(TMPDIR\): No such"):
        FileSpool().put(b"x")


def test_a_document_not_kept_is_absent_whichever_way_it_is_asked() -> None:
    docs = Documents(plain_bytes=0, spool=FileSpool())
    docs.keep(_d(SIG_MANIFEST), SIG_MANIFEST)
    assert "sha256:z" not in docs
    assert docs.get("sha256:z") is None
    with pytest.raises(KeyError):
        docs["sha256:z"]


def test_only_keeps_the_named_documents_as_held() -> None:
    a, b, c = SIG_MANIFEST, SIG_MANIFEST + b" ", b"tiny"
    docs = Documents(plain_bytes=len(a), spool=FileSpool())
    docs.keep(_d(a), a)  # in memory: fits the room
    docs.keep(_d(b), b)  # spooled: the room is used up
    docs.keep(_d(c), c)
    kept = docs.only(frozenset({_d(b), _d(c)}))
    assert sorted(kept) == sorted([_d(b), _d(c)])
    assert kept[_d(b)] == b
    assert _d(a) not in kept


def test_the_threshold_is_a_real_archives_size() -> None:
    assert intake.PLAIN_BYTES >= 16 * 1024 * 1024
    assert Documents()._room == intake.PLAIN_BYTES
