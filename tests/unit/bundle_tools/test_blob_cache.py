"""The export's blob cache: documents kept whole, a killed run's leftovers swept in one listing."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from bundle_tools.collect.blobs import BlobCache
from tests.helpers.listings import record_listings

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

DEAD = 2**22 + 12345  # above Linux's largest pid_max: never a live process


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_documents_are_kept_once_and_a_dead_runs_temporaries_swept_in_one_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = BlobCache(tmp_path / "cache")
    documents = {_digest(b"doc %d" % i): b"doc %d" % i for i in range(50)}
    first = next(iter(documents))
    cache.path(first).write_bytes(b"kept as it was")  # cached already: not rewritten
    left = [
        cache.blobs / f".{d.removeprefix('sha256:')}.airlock-{DEAD}-0000.tmp"
        for d in list(documents)[1:4]
    ]
    other = cache.blobs / f".{'0' * 64}.airlock-{DEAD}-0000.tmp"  # not in this batch
    for path in [*left, other]:
        path.write_bytes(b"half")
    listed = record_listings(monkeypatch)
    cache.put_all(documents)
    assert listed == [os.fspath(cache.blobs)]
    assert cache.path(first).read_bytes() == b"kept as it was"
    for digest, data in list(documents.items())[1:]:
        assert cache.path(digest).read_bytes() == data
    assert not any(p.exists() for p in left)
    assert other.exists()


def test_nothing_to_keep_lists_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = BlobCache(tmp_path / "cache")
    listed = record_listings(monkeypatch)
    cache.put_all({})
    assert listed == []
    assert list(cache.blobs.iterdir()) == []
