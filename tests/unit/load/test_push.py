"""Carrying out a push plan (appliance.load.push.Pusher) against a registry in memory.

What the registry holds is never sent again: a blob held nowhere is streamed
into the first repository that needs it and mounted into the others, in the
plan's order; a delta's left-out layer is mounted from a repository that
holds it, asked in the plan's order, then the catalog's. The second pass
streams each planned blob once, described as planned (the first, were a
digest planned twice). The real registry's side is tests/integration/test_load.py.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from airlock_registry.client import RegistryClient
from appliance.core.archive.manifest import Descriptor
from appliance.core.archive.plan import BlobPush, Plan
from appliance.core.errors import InputError
from appliance.load.push import Pusher

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class _Registry(RegistryClient):
    """Which repository holds which blob; every question and every change logged."""

    def __init__(self, holds: dict[str, set[str]], catalog: list[str]) -> None:
        super().__init__("gap.example", plain_http=True)
        self.holds = holds  # repository -> digests
        self.catalog = catalog
        self.asked: list[tuple[str, str]] = []
        self.catalog_asked = 0
        self.mounted: list[tuple[str, str, str]] = []  # (repository, digest, from)
        self.received: list[tuple[str, Descriptor, bytes]] = []

    def has_blob(self, repository: str, digest: str) -> bool:
        self.asked.append((repository, digest))
        return digest in self.holds.get(repository, set())

    def repositories(self) -> list[str]:
        self.catalog_asked += 1
        return list(self.catalog)

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        self.mounted.append((repository, digest, source))
        return True

    def push_blob(
        self, repository: str, descriptor: Descriptor, chunks: Iterable[bytes]
    ) -> None:
        self.received.append((repository, descriptor, b"".join(chunks)))


@pytest.fixture
def registry() -> Iterator[_Registry]:
    client = _Registry({}, [])
    yield client
    client.close()


def _blob(data: bytes, **annotations: str) -> Descriptor:
    return Descriptor(
        media_type=LAYER,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        size=len(data),
        annotations=annotations,
    )


def _plan(*blobs: BlobPush, held: tuple[BlobPush, ...] = ()) -> Plan:
    return Plan(images=(), blobs=blobs, manifests=(), referrers=(), held=held)


def _second_pass(pusher: Pusher, blobs: dict[bytes, Descriptor]) -> None:
    """What ``read_archive``'s tap does with each blob, in archive order."""
    for data, descriptor in blobs.items():
        sink = pusher.tap(descriptor.digest, len(data))
        if sink is not None:
            sink.write(memoryview(data))
            sink.finish(descriptor.digest)


def test_a_blob_held_nowhere_is_streamed_into_the_first_repository_and_mounted_in_order(
    registry: _Registry,
) -> None:
    a, b, c = b"held nowhere", b"held in two", b"held everywhere"
    da, db, dc = _blob(a), _blob(b), _blob(c)
    registry.holds.update(
        {"r-b": {db.digest, dc.digest}, "r-a": {dc.digest}, "r-d": {db.digest}}
    )
    plan = _plan(
        BlobPush(descriptor=da, repositories=("r-c", "r-a", "r-b")),
        BlobPush(descriptor=db, repositories=("r-c", "r-b", "r-a", "r-d")),
        BlobPush(descriptor=dc, repositories=("r-b", "r-a")),
    )
    pusher = Pusher(registry, plan)
    pusher.survey()
    assert pusher.to_send == len(a)
    _second_pass(pusher, {c: dc, b: db, a: da})
    pusher.finish_blobs()
    assert registry.received == [("r-c", da, a)]
    assert registry.mounted == [
        ("r-a", da.digest, "r-c"),
        ("r-b", da.digest, "r-c"),
        ("r-c", db.digest, "r-b"),
        ("r-a", db.digest, "r-b"),
    ]
    assert (pusher.result.blobs_sent, pusher.result.blobs_held) == (1, 1)
    assert pusher.result.blobs_mounted == 4


def test_the_second_pass_streams_each_blob_once_as_first_planned(
    registry: _Registry,
) -> None:
    one, two = b"one", b"two"
    first, again, other = _blob(one, n="first"), _blob(one, n="again"), _blob(two)
    plan = _plan(
        BlobPush(descriptor=other, repositories=("r",)),
        BlobPush(descriptor=first, repositories=("r",)),
        BlobPush(descriptor=again, repositories=("r",)),
    )
    pusher = Pusher(registry, plan)
    assert pusher.tap(first.digest, len(one)) is None  # nothing surveyed yet
    pusher.survey()
    assert pusher.tap(_blob(b"not planned").digest, 11) is None
    assert pusher.tap(first.digest, len(one) + 1) is None  # the intake refuses it
    _second_pass(pusher, {one: first, two: other})
    assert pusher.tap(first.digest, len(one)) is None  # sent already
    pusher.finish_blobs()
    assert registry.received == [("r", first, one), ("r", other, two)]
    assert registry.received[0][1] is first


def test_a_left_out_layer_is_mounted_from_a_planned_holder_else_the_catalog(
    registry: _Registry,
) -> None:
    planned, catalogued = _blob(b"in the plan"), _blob(b"in the catalog")
    registry.holds.update(
        {"r-y": {planned.digest}, "q": {catalogued.digest}, "r-x": set()}
    )
    registry.catalog[:] = ["r-x", "p", "r-y", "q"]
    plan = _plan(
        held=(
            BlobPush(descriptor=planned, repositories=("r-x", "r-y", "r-z")),
            BlobPush(descriptor=catalogued, repositories=("r-x", "r-y")),
        )
    )
    pusher = Pusher(registry, plan)
    pusher.survey()
    # The catalog is scanned past the repositories that lack it, unasked.
    assert registry.asked == [
        ("r-x", planned.digest),
        ("r-y", planned.digest),
        ("r-z", planned.digest),
        ("r-x", catalogued.digest),
        ("r-y", catalogued.digest),
        ("p", catalogued.digest),
        ("q", catalogued.digest),
    ]
    assert registry.catalog_asked == 1
    pusher.finish_blobs()
    assert registry.mounted == [
        ("r-x", planned.digest, "r-y"),
        ("r-z", planned.digest, "r-y"),
        ("r-x", catalogued.digest, "q"),
        ("r-y", catalogued.digest, "q"),
    ]


def test_a_left_out_layer_held_nowhere_stops_the_push_before_anything(
    registry: _Registry,
) -> None:
    gone = _blob(b"nowhere")
    registry.catalog[:] = ["r-x", "p"]
    pusher = Pusher(
        registry, _plan(held=(BlobPush(descriptor=gone, repositories=("r-x",)),))
    )
    with pytest.raises(InputError, match=gone.digest):
        pusher.survey()
    assert registry.asked == [("r-x", gone.digest), ("p", gone.digest)]
    assert registry.mounted == []
