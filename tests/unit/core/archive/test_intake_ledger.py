"""The intake parses the export ledger as it arrives: only the one ``index.json`` names (#26).

A blob some other descriptor types as a ledger is never parsed (an
adversary could type every layer so, each up to the document limit), and
an index with no ledger entry, or two, leaves the refusal to
:func:`appliance.core.archive.view.ledger`, which parses nothing. A second
pass (``documents=False``) keeps no document and parses nothing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from airlock_io.archive import read_ledger
from airlock_io.spool import FileSpool
from appliance.core.archive import layout, media, view
from appliance.core.archive.intake import Contents, Intake
from appliance.core.archive.ledger import Ledger
from appliance.core.errors import InputError
from tests.helpers import oci
from tests.helpers.archives import Member, tiny_layout, write_tar

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _feed(members: list[Member], *, documents: bool = True) -> Contents:
    intake = Intake(spool=FileSpool(), documents=documents)
    for name, data in members:
        keep = intake.begin(name, len(data))
        intake.end(
            name,
            size=len(data),
            sha256="sha256:" + hashlib.sha256(data).hexdigest(),
            data=bytearray(data) if keep else None,
        )
    return intake.finish()


def _retype_image_layer(members: list[Member], media_type: str) -> list[Member]:
    """The image's layer typed ``media_type`` (its manifest re-filed, index.json re-pointed)."""
    index = json.loads(dict(members)[layout.INDEX_NAME])
    image = next(
        e for e in index["manifests"] if e["annotations"][media.KIND] == "image"
    )
    old_name = layout.blob_name(image["digest"])
    manifest = json.loads(dict(members)[old_name])
    manifest["layers"][0]["mediaType"] = media_type
    body = oci.canonical(manifest)
    image["digest"], image["size"] = oci.digest_of(body), len(body)
    out: list[Member] = []
    for name, data in members:
        if name == layout.INDEX_NAME:
            out.append((name, oci.canonical(index)))
        elif name == old_name:
            out.append((layout.blob_name(image["digest"]), body))
        else:
            out.append((name, data))
    return out


def test_the_ledger_index_json_names_is_parsed_as_it_arrives() -> None:
    contents = _feed(tiny_layout(NOW))
    assert len(contents.ledgers) == 1
    (parsed,) = contents.ledgers.values()
    assert isinstance(parsed, Ledger)
    assert view.ledger(contents)[0] is parsed  # not parsed again


def test_a_layer_typed_as_a_ledger_elsewhere_is_never_parsed() -> None:
    members = _retype_image_layer(tiny_layout(NOW), media.LEDGER)
    contents = _feed(members)
    assert len(contents.ledgers) == 1  # the real one only
    assert isinstance(view.ledger(contents)[0], Ledger)


def test_two_ledger_entries_parse_nothing_and_are_refused() -> None:
    members = tiny_layout(NOW)
    index = json.loads(dict(members)[layout.INDEX_NAME])
    ledger_entry = next(
        e for e in index["manifests"] if e["annotations"][media.KIND] == "ledger"
    )
    index["manifests"].append(ledger_entry)
    members = [
        (n, oci.canonical(index) if n == layout.INDEX_NAME else d) for n, d in members
    ]
    contents = _feed(members)
    assert contents.ledgers == {}
    with pytest.raises(InputError, match="exactly one ledger; this one has 2"):
        view.ledger(contents)


def test_a_ledger_that_does_not_parse_keeps_no_traceback_and_is_raised_when_asked() -> (
    None
):
    members = tiny_layout(NOW)
    contents = _feed(members)
    digest = next(iter(contents.ledgers))
    broken = [
        (n, b'{"ledgerVersion": 1, "tool": 7}' if n == layout.blob_name(digest) else d)
        for n, d in members
    ]
    # Re-filed as the adversary would: the ledger manifest names the new bytes.
    index = json.loads(dict(broken)[layout.INDEX_NAME])
    entry = next(
        e for e in index["manifests"] if e["annotations"][media.KIND] == "ledger"
    )
    manifest = json.loads(dict(broken)[layout.blob_name(entry["digest"])])
    data = dict(broken)[layout.blob_name(digest)]
    manifest["layers"][0].update(digest=oci.digest_of(data), size=len(data))
    body = oci.canonical(manifest)
    old_manifest = layout.blob_name(entry["digest"])
    entry.update(digest=oci.digest_of(body), size=len(body))
    refiled: list[Member] = []
    for n, d in broken:
        if n == layout.INDEX_NAME:
            refiled.append((n, oci.canonical(index)))
        elif n == old_manifest:
            refiled.append((layout.blob_name(entry["digest"]), body))
        elif n == layout.blob_name(digest):
            refiled.append((layout.blob_name(oci.digest_of(data)), data))
        else:
            refiled.append((n, d))
    contents = _feed(refiled)
    (kept,) = contents.ledgers.values()
    assert isinstance(kept, InputError)
    assert kept.__traceback__ is None
    assert kept.__cause__ is None
    assert kept.__context__ is None
    with pytest.raises(InputError, match="expected a JSON object") as raised:
        view.ledger(contents)
    assert raised.value.where == "ledger.tool"


def test_a_second_pass_keeps_no_document_and_parses_nothing() -> None:
    members = tiny_layout(NOW)
    first = _feed(members)
    second = _feed(members, documents=False)
    assert len(first.documents) > 0
    assert len(second.documents) == 0
    assert second.ledgers == {}
    assert second.blobs == first.blobs  # the same archive, hashed again


def test_read_ledger_of_an_index_naming_two_ledgers_reads_the_first_never_a_traceback(
    tmp_path: Path,
) -> None:
    """The intake parsed nothing as it arrived (two entries): ``read_ledger`` parses what it stops at."""
    members = tiny_layout(NOW)
    index = json.loads(dict(members)[layout.INDEX_NAME])
    ledger_entry = next(
        e for e in index["manifests"] if e["annotations"][media.KIND] == "ledger"
    )
    index["manifests"].append(ledger_entry)
    members = [
        (n, oci.canonical(index) if n == layout.INDEX_NAME else d) for n, d in members
    ]
    archive = write_tar(tmp_path / "two.tar.zst", members)
    assert isinstance(read_ledger(archive), Ledger)
