"""What a terminal receives from the CLI when the archive is hostile.

An adversary with the media edits only what nothing signs (the ledger,
``index.json`` annotations, file names) and fills every shown field with
markup, emoji codes, escape sequences, C1 controls, bidi and zero-width
characters (tests/helpers/hostile_text.py). Each command runs as a real
process on a pseudo-terminal (so Rich draws as it does for an operator), and
what it wrote must hold no character a terminal would obey, must show the
hostile text escaped, and must never draw a refused image as verified. The
exit status is what the verdict says.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import pty_run
from tests.helpers.archives import extract
from tests.helpers.exported import KEYLESS, Exported
from tests.helpers.hostile_text import (
    TITLE,
    assert_nothing_raw,
    hostile,
    poison_ledger,
    shown,
)
from tests.helpers.layout_edit import Layout

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.registry

WIDE = 1000  # columns: no cell folds, so each field is found whole
VERDICT = re.compile(r"│ (✔ verified|✖ REFUSED) +│")


@pytest.fixture
def poisoned(exported: Exported, tmp_path: Path) -> Layout:
    """The exported archive, every shown ledger field hostile."""
    layout = Layout(extract(exported.archive, tmp_path / "layout"))
    layout.rewrite_ledger(
        lambda ledger: poison_ledger(
            ledger,
            rogue=exported.world.rogue.digest,
            multi=exported.world.multi.digest,
        )
    )
    return layout


def _appliance(
    tmp_path: Path, *args: str, columns: int = WIDE, rows: int = 50
) -> pty_run.Ran:
    env = pty_run.terminal_env(tmp_path / "state")
    return pty_run.run(
        "appliance", *args, env=env, cwd=tmp_path, columns=columns, rows=rows
    )


def _verify(
    tmp_path: Path, exported: Exported, archive: Path, **size: int
) -> pty_run.Ran:
    return _appliance(
        tmp_path,
        "verify",
        str(archive),
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
        **size,
    )


def _row(plain: str, digest: str) -> list[str]:
    """The table row of ``digest``, as its stripped cells."""
    line = next(line for line in plain.splitlines() if f"│ {digest[7:19]} │" in line)
    return [cell.strip() for cell in line.split("│")[1:-1]]


def _without_shown(text: str) -> str:
    for tag in ("platform", "rogue-platform", "tool", "version", "asked"):
        text = text.replace(shown(tag), "")
    return text


# -- appliance verify ----------------------------------------------------------------


def test_verify_shows_every_hostile_field_escaped(
    exported: Exported, poisoned: Layout, tmp_path: Path
) -> None:
    ran = _verify(tmp_path, exported, poisoned.root)
    assert ran.code == 1  # rogue and the troubles are refused
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text  # no OSC at all: title, hyperlink
    for tag in ("tool", "platform", "rogue-platform"):
        assert shown(tag) in ran.plain, tag
    # The exporter's name and version share the title's one cut (256 characters).
    assert shown("version")[:80] in ran.plain
    # The table names the reference that was judged, never the ledger's "asked".
    assert "asked[green]" not in ran.plain


def test_a_refused_image_is_drawn_refused_whatever_its_fields_say(
    exported: Exported, poisoned: Layout, tmp_path: Path
) -> None:
    ran = _verify(tmp_path, exported, poisoned.root)
    cells = _row(ran.plain, exported.world.rogue.digest)
    assert cells[0] == exported.ref("rogue")  # the judged reference
    assert cells[3] == "✖ REFUSED"
    assert cells[2] == shown("rogue-platform")
    assert "verified" not in _without_shown(" ".join(cells))


def test_at_80_columns_every_row_keeps_its_digest_and_verdict(
    exported: Exported, poisoned: Layout, tmp_path: Path, verify: Any
) -> None:
    ran = _verify(tmp_path, exported, poisoned.root, columns=80, rows=24)
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    report = verify(poisoned.root, "--trusted-root", str(exported.root), *KEYLESS)
    rows = {}
    for line in ran.plain.splitlines():
        digest = re.search(r"│ ([0-9a-f]{12}) │", line)
        verdict = VERDICT.search(line)
        if digest:
            assert verdict, f"the verdict wrapped away from {digest[1]}: {line!r}"
            rows[digest[1]] = verdict[1]
    assert rows == {
        image["digest"][7:19]: "✔ verified" if image["verified"] else "✖ REFUSED"
        for image in report.report["images"]
    }
    table = [line for line in ran.plain.splitlines() if line[:1] in set("┏┃┡│└")]
    assert table
    assert all(len(line) <= 80 for line in table)


def test_a_long_field_is_cut_with_a_marker(exported: Exported, tmp_path: Path) -> None:
    layout = Layout(extract(exported.archive, tmp_path / "layout"))
    layout.rewrite_ledger(lambda ledger: ledger["tool"].update(name="A" * 100_000))
    ran = _verify(tmp_path, exported, layout.root)
    assert ran.code == 1
    assert "A" * 255 + "…" in ran.plain
    assert "A" * 257 not in ran.plain


def test_a_hostile_reference_is_one_escaped_error_line(
    exported: Exported, tmp_path: Path
) -> None:
    layout = Layout(extract(exported.archive, tmp_path / "layout"))
    rogue = exported.world.rogue.digest

    def edit(ledger: dict[str, Any]) -> None:
        image = next(i for i in ledger["images"] if i["digest"] == rogue)
        image["reference"] = exported.ref("rogue") + hostile("reference")

    layout.rewrite_ledger(edit)
    ran = _verify(tmp_path, exported, layout.root)
    assert ran.code == 2
    assert_nothing_raw(ran.plain)
    errors = [line for line in ran.plain.splitlines() if line.startswith("appliance:")]
    assert len(errors) == 1
    # An error line is one line: its whitespace (CR included) folds to spaces.
    assert shown("reference").replace("\\x0d", " ") in errors[0]
    assert "Traceback" not in ran.plain


def test_a_hostile_annotation_is_one_escaped_error_line(
    exported: Exported, tmp_path: Path
) -> None:
    layout = Layout(extract(exported.archive, tmp_path / "layout"))
    index = layout.index
    entry = next(
        e for e in index["manifests"] if e["digest"] == exported.world.rogue.digest
    )
    entry["annotations"] = {
        key: hostile(key.rsplit(".", 1)[-1]) for key in entry["annotations"]
    }
    layout.write_index(index)
    ran = _verify(tmp_path, exported, layout.root)
    assert ran.code == 2
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text
    errors = [line for line in ran.plain.splitlines() if line.startswith("appliance:")]
    assert len(errors) == 1
    assert "dev.airlock.kind" in errors[0]
    assert "│" not in ran.plain  # no table: nothing was judged


def test_a_hostile_file_name_on_the_media_is_escaped(
    exported: Exported, tmp_path: Path
) -> None:
    name = "media\x1b]0;owned\x07[bold]:heavy_check_mark:\u202e"
    layout = extract(exported.archive, tmp_path / name)
    ran = _verify(tmp_path, exported, layout)
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text
    assert "media\\x1b]0;owned\\x07[bold]:heavy_check_mark\\:\\u202e" in ran.plain


def test_json_output_keeps_the_hostile_values_exact(
    exported: Exported, poisoned: Layout, verify: Any
) -> None:
    """JSON escaping is exact and safe: ``-o json`` is not escaped again."""
    out = verify(poisoned.root, "--trusted-root", str(exported.root), *KEYLESS)
    assert out.code == 1
    multi = next(
        i for i in out.report["images"] if i["digest"] == exported.world.multi.digest
    )
    assert {p["platform"] for p in multi["platforms"]} == {hostile("platform")}
    assert (
        out.report["archive"]["exporter"] == f"{hostile('tool')} {hostile('version')}"
    )


# -- appliance extract (the same table) ------------------------------------------------


def test_extract_draws_the_same_table_escaped(
    exported: Exported, tmp_path: Path
) -> None:
    layout = Layout(extract(exported.archive, tmp_path / "layout"))
    layout.rewrite_ledger(
        lambda ledger: poison_ledger(
            ledger,
            rogue=exported.world.rogue.digest,
            multi=exported.world.multi.digest,
            related=False,
        )
    )
    ran = _appliance(
        tmp_path,
        "extract",
        str(layout.root),
        "--to",
        str(tmp_path / "out"),
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
    )
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert shown("rogue-platform") in ran.plain
    assert _row(ran.plain, exported.world.rogue.digest)[3] == "✖ REFUSED"
    assert "verified image(s) to" in ran.plain


def test_a_dry_run_load_draws_the_same_table_escaped(
    exported: Exported, tmp_path: Path
) -> None:
    layout = Layout(extract(exported.archive, tmp_path / "layout"))
    layout.rewrite_ledger(
        lambda ledger: poison_ledger(
            ledger,
            rogue=exported.world.rogue.digest,
            multi=exported.world.multi.digest,
            related=False,
        )
    )
    ran = _appliance(
        tmp_path,
        "load",
        str(layout.root),
        "--to",
        "127.0.0.1:9",
        "--dry-run",
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
    )
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert "dry run: would push" in ran.plain
    assert _row(ran.plain, exported.world.rogue.digest)[3] == "✖ REFUSED"
    refused = [line for line in ran.plain.splitlines() if "not pushed" in line]
    assert refused
    # The plan lists refused images by the ledger's "asked": escaped.
    assert all(line.endswith(shown("asked")) for line in refused)


# -- bundle-tools inspect ------------------------------------------------------------


def test_inspect_shows_the_ledger_escaped(
    exported: Exported, poisoned: Layout, tmp_path: Path
) -> None:
    rogue = exported.world.rogue.digest

    def more(ledger: dict[str, Any]) -> None:
        image = next(i for i in ledger["images"] if i["digest"] == rogue)
        for related in image["related"]:
            related["kind"] = hostile("related-kind")
            for evidence in related["evidence"]:
                evidence["lacks"] = [hostile("lacks")]

    poisoned.rewrite_ledger(more)
    ran = pty_run.run(
        "bundle_tools",
        "inspect",
        str(poisoned.root),
        env=pty_run.terminal_env(tmp_path / "state"),
        cwd=tmp_path,
        columns=WIDE,
        rows=50,
    )
    assert ran.code == 0
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text
    for tag in ("tool", "asked", "platform", "rogue-platform", "kind"):
        assert shown(tag) in ran.plain, tag
    assert shown("version")[:80] in ran.plain  # cut with the name, at 256
    assert f"1 {shown('related-kind')}" in ran.plain
    assert shown("lacks") in ran.plain


# -- appliance audit show ----------------------------------------------------------------


def test_audit_show_escapes_what_was_recorded(
    exported: Exported, tmp_path: Path
) -> None:
    layout = Layout(extract(exported.archive, tmp_path / "layout"))
    rogue = exported.world.rogue.digest

    def edit(ledger: dict[str, Any]) -> None:
        image = next(i for i in ledger["images"] if i["digest"] == rogue)
        image["reference"] = exported.ref("rogue") + hostile("ref")

    layout.rewrite_ledger(edit)
    assert _verify(tmp_path, exported, layout.root).code == 2
    recorded = json.loads(
        (tmp_path / "state" / "audit.jsonl").read_text().splitlines()[-1]
    )
    assert hostile("ref")[:20] in recorded["error"]  # the log keeps it exact
    ran = _appliance(tmp_path, "audit", "show", columns=WIDE)
    assert ran.code == 0
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text
    assert "exit 2" in ran.plain
    assert shown("ref").replace("\\x0d", " ")[:60] in ran.plain


def test_the_window_title_is_never_set(
    exported: Exported, poisoned: Layout, tmp_path: Path
) -> None:
    """OSC 0 sets a terminal's title: the bytes that would must not be written."""
    ran = _verify(tmp_path, exported, poisoned.root)
    assert f"\x1b]0;{TITLE}".encode() not in ran.output
    assert b"\x1b]8;;" not in ran.output
