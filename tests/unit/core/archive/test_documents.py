"""Kept documents: past the threshold held compressed, always read back as the exact bytes."""

from __future__ import annotations

import os

import pytest

from appliance.core.archive import intake
from appliance.core.archive.intake import Documents

SIG_MANIFEST = (
    b'{"layers":[' + b",".join([b'{"chain":"' + b"A" * 3000 + b'"}'] * 10) + b"]}"
)


def test_under_the_threshold_nothing_is_packed() -> None:
    docs = Documents(plain_bytes=1 << 20)
    docs.keep("sha256:a", SIG_MANIFEST)
    assert docs["sha256:a"] is SIG_MANIFEST  # held as it came, not a copy


def test_past_the_threshold_documents_are_packed_and_read_back_exactly() -> None:
    docs = Documents(plain_bytes=0)
    noise = os.urandom(8000)  # incompressible: still exact
    docs.keep("sha256:a", SIG_MANIFEST)
    docs.keep("sha256:b", noise)
    docs.keep("sha256:c", b"small payload")  # under PACK_FROM: held as it came
    assert docs["sha256:a"] == SIG_MANIFEST
    assert docs["sha256:b"] == noise
    assert docs["sha256:c"] == b"small payload"
    assert docs._packed
    assert len(docs._packed["sha256:a"]) < len(SIG_MANIFEST) // 4
    assert sorted(docs) == ["sha256:a", "sha256:b", "sha256:c"]
    assert len(docs) == 3


def test_a_document_not_kept_is_absent_whichever_way_it_is_asked() -> None:
    docs = Documents(plain_bytes=0)
    docs.keep("sha256:a", SIG_MANIFEST)
    assert "sha256:z" not in docs
    assert docs.get("sha256:z") is None
    with pytest.raises(KeyError):
        docs["sha256:z"]


def test_only_keeps_the_named_documents_as_held() -> None:
    docs = Documents(plain_bytes=len(SIG_MANIFEST))
    docs.keep("sha256:a", SIG_MANIFEST)  # plain: fits the room
    docs.keep("sha256:b", SIG_MANIFEST + b" ")  # packed: the room is used up
    docs.keep("sha256:c", b"tiny")
    kept = docs.only(frozenset({"sha256:b", "sha256:c"}))
    assert sorted(kept) == ["sha256:b", "sha256:c"]
    assert kept["sha256:b"] == SIG_MANIFEST + b" "
    assert "sha256:a" not in kept


def test_the_threshold_is_a_real_archives_size() -> None:
    assert intake.PLAIN_BYTES >= 64 * 1024 * 1024
    assert Documents()._room == intake.PLAIN_BYTES
