"""The parts index, the re-request list, sizes, inventories and the ledger's delta: read strictly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from appliance.core.archive.inventory import Delta, Inventory
from appliance.core.archive.ledger import Ledger, TrustEntry
from appliance.core.archive.parts import (
    Part,
    PartsIndex,
    Request,
    parse_size,
    part_name,
)
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Callable

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
MIB = 1024 * 1024


def _index(*sizes: int, part_size: int = 2 * MIB) -> PartsIndex:
    parts = tuple(
        Part(number=n, name=part_name("t", n), size=s, sha256=D1)
        for n, s in enumerate(sizes, 1)
    )
    return PartsIndex(
        part_size=part_size,
        parts=parts,
        archive_size=sum(sizes),
        archive_sha256=D2,
        ledger_digest=D3,
    )


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 * 2**30), ("700MiB", 700 * MIB), ("4700MB", 4_700_000_000),
     ("1048576", MIB), (" 2 MiB ", 2 * MIB)],
)  # fmt: skip
def test_sizes_read_as_written(text: str, size: int) -> None:
    assert parse_size(text, where="--split") == size


@pytest.mark.parametrize(
    "text", ["", "4G", "-1MiB", "1.5GiB", "1023KiB", "1000000", "4 GiBs", "GiB"]
)
def test_sizes_not_understood_or_too_small_are_usage_errors(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_size(text, where="--split")
    assert caught.value.reason is Reason.USAGE
    assert caught.value.where == "--split"


def test_an_index_round_trips() -> None:
    index = _index(2 * MIB, 2 * MIB, 5)
    assert PartsIndex.from_bytes(index.to_bytes(), where="i") == index


def _broken(edit: Any) -> bytes:
    doc = json.loads(_index(2 * MIB, 2 * MIB, 5).to_bytes())
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(partsVersion=2),
        lambda d: d["parts"][1].update(number=3),  # numbering
        lambda d: d["parts"][1].update(name=d["parts"][0]["name"]),  # a name twice
        lambda d: d["parts"][0].update(size=2 * MIB - 1),  # a short part in the middle
        lambda d: d["parts"][2].update(size=0),  # an empty last part
        lambda d: d["archive"].update(size=1),  # sizes that do not add up
        lambda d: d.update(parts=[]),
        lambda d: d["parts"][0].update(name="../etc/passwd"),  # outside the folder
        lambda d: d["parts"][0].update(name="t.tar.zst"),  # not a part's name
        lambda d: d["parts"][0].update(sha256="md5:00"),
        lambda d: d.pop("ledger"),
        lambda d: d["parts"][0].update(extra=1) or d.update(partSize="big"),
    ],
)
def test_an_index_that_does_not_add_up_is_refused(edit: Any) -> None:
    with pytest.raises(InputError):
        PartsIndex.from_bytes(_broken(edit), where="t.parts.json")


def test_a_request_round_trips_and_names_its_reasons() -> None:
    index = _index(2 * MIB, 2 * MIB, 5)
    request = Request(
        archive_sha256=D2,
        ledger_digest=D3,
        part_size=index.part_size,
        parts=index.parts[1:],
        reasons=("missing", "altered"),
    )
    assert Request.from_bytes(request.to_bytes(), where="r") == request


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(requestVersion=0),
        lambda d: d.update(resend=[]),
        lambda d: d["resend"][0].update(reason="lost"),
        lambda d: d["resend"][0].pop("reason"),
        lambda d: d["archive"].update(sha256="sha256:short"),
    ],
)
def test_a_malformed_request_is_refused(edit: Any) -> None:
    index = _index(2 * MIB, 5)
    doc = json.loads(
        Request(
            archive_sha256=D2,
            ledger_digest=D3,
            part_size=index.part_size,
            parts=index.parts[:1],
            reasons=("truncated",),
        ).to_bytes()
    )
    edit(doc)
    with pytest.raises(InputError):
        Request.from_bytes(json.dumps(doc).encode(), where="r")


INVENTORY = Inventory(
    appliance="urn:airlock:appliance:" + "a" * 32,
    created=datetime(2026, 12, 1, 8, tzinfo=UTC),
    source="registry gap:5000",
    blobs={D1: 10, D2: 20},
    manifests=frozenset({D3}),
)


def test_an_inventory_round_trips_byte_for_byte() -> None:
    data = INVENTORY.to_bytes()
    assert Inventory.from_bytes(data, where="i") == INVENTORY
    assert Inventory.from_bytes(data, where="i").to_bytes() == data


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(inventoryVersion="1"),
        lambda d: d["blobs"].append({"digest": "sha256:zz", "size": 1}),
        lambda d: d["blobs"][0].update(size=-1),
        lambda d: d["blobs"][0].update(size=True),
        lambda d: d.update(manifests=["nope"]),
        lambda d: d.update(created="2026-12-01"),
        lambda d: d.pop("appliance"),
        lambda d: d.update(blobs={}),
    ],
)
def test_a_malformed_inventory_is_refused(edit: Any) -> None:
    doc = json.loads(INVENTORY.to_bytes())
    edit(doc)
    with pytest.raises(InputError):
        Inventory.from_bytes(json.dumps(doc).encode(), where="inv.json")


def test_a_delta_round_trips_and_refuses_a_bad_time() -> None:
    delta = Delta(
        inventory_sha256=D1,
        appliance=INVENTORY.appliance,
        inventory_created=INVENTORY.created,
    )
    assert Delta.from_json(delta.to_json(), "ledger.delta") == delta
    with pytest.raises(InputError, match="inventoryCreated"):
        Delta.from_json({**delta.to_json(), "inventoryCreated": "now"}, "ledger.delta")
    with pytest.raises(InputError):
        Delta.from_json({**delta.to_json(), "inventory": "sha256:"}, "ledger.delta")


def _ledger_bytes() -> bytes:
    return Ledger(
        tool="bundle-tools",
        tool_version="0",
        created=datetime(2026, 12, 1, 8, tzinfo=UTC),
        images=(),
        trust=TrustEntry(kind="none"),
        contents=(),
    ).to_bytes()


# Our four own documents, each read by one versioned reader: (key, bytes, parse).
DOCUMENTS: list[tuple[str, Callable[[], bytes], Callable[[bytes], object]]] = [
    ("partsVersion", lambda: _index(2 * MIB, 5).to_bytes(), lambda b: PartsIndex.from_bytes(b, where="p")),
    ("requestVersion",
     lambda: Request(archive_sha256=D2, ledger_digest=D3, part_size=2 * MIB,
                     parts=_index(2 * MIB, 5).parts[:1], reasons=("missing",)).to_bytes(),
     lambda b: Request.from_bytes(b, where="r")),
    ("inventoryVersion", INVENTORY.to_bytes, lambda b: Inventory.from_bytes(b, where="i")),
    ("ledgerVersion", _ledger_bytes, Ledger.from_bytes),
]  # fmt: skip


@pytest.mark.parametrize(("key", "make", "parse"), DOCUMENTS)
@pytest.mark.parametrize("version", [True, 1.0, "1", None, 0, 2, -1, [1]])
def test_a_document_of_another_version_is_refused_by_name(
    key: str,
    make: Callable[[], bytes],
    parse: Callable[[bytes], object],
    version: object,
) -> None:
    doc = json.loads(make())
    parse(json.dumps(doc).encode())  # the untouched document reads
    if version is None:
        del doc[key]
    else:
        doc[key] = version
    with pytest.raises(InputError, match=r"unknown .* version"):
        parse(json.dumps(doc).encode())
