"""``bundle-tools export``'s summary: a registry's words, shown escaped.

Names, platforms (an index's ``platform`` objects are the registry's JSON)
and the reasons something was left out (a registry's error body) reach the
exporter's terminal through ``untrusted``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.core.archive.ledger import ImageEntry, Ledger, PlatformEntry, TrustEntry
from bundle_tools.export import Summary
from bundle_tools.export_cmd import _print_summary
from tests.helpers.hostile_text import assert_nothing_raw, hostile, shown

if TYPE_CHECKING:
    import pytest

DIGEST = "sha256:" + "ab" * 32


def _summary() -> Summary:
    image = ImageEntry(
        asked=hostile("asked"),
        reference="registry.test/app:v1",
        digest=DIGEST,
        media_type="application/vnd.oci.image.index.v1+json",
        size=1,
        platforms=(
            PlatformEntry(platform=hostile("kept"), digest=DIGEST, included=True),
            PlatformEntry(
                platform=hostile("dropped"),
                digest=DIGEST,
                included=False,
                reason=hostile("because"),
            ),
        ),
        left_out=(hostile("left"),),
    )
    ledger = Ledger(
        tool="bundle-tools",
        tool_version="0",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        images=(image,),
        trust=TrustEntry(kind=hostile("trust")),
        contents=(),
    )
    return Summary(
        archive=Path("out.tar.zst"),
        size=1,
        sha256="sha256:" + "cd" * 32,
        ledger=ledger,
        blobs=1,
        blob_bytes=1,
        fetched=1,
    )


def test_the_summary_shows_the_registrys_words_escaped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    _print_summary(_summary())
    out = capsys.readouterr().out
    assert_nothing_raw(out)
    for tag in ("asked", "kept", "left", "dropped", "because", "trust"):
        assert shown(tag) in out, tag
