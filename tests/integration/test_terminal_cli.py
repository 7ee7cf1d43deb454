"""What a terminal receives from the CLI when the archive is hostile.

An adversary with the media edits only what nothing signs (the ledger,
``index.json`` annotations, file names) and fills them with markup, emoji
codes, escape sequences, C1 controls, bidi and zero-width characters
(tests/helpers/hostile_text.py). Each command runs as a real process on a
pseudo-terminal (so Rich draws as it does for an operator), and what it
wrote must hold no character a terminal would obey, must show the hostile
text escaped, and must never draw a refused image as verified. The exit
status is what the verdict says.
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
    poison_asked,
    poison_ledger,
    poison_names,
    shown,
)
from tests.helpers.layout_edit import Layout

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.registry

WIDE = 1000  # columns: no cell folds, so each field is found whole
VERDICT = re.compile(r"│ (✔ verified|✖ REFUSED) +│")


@pytest.fixture
def layout(exported: Exported, tmp_path: Path) -> Layout:
    return Layout(extract(exported.archive, tmp_path / "layout"))


@pytest.fixture
def poisoned(exported: Exported, layout: Layout) -> Layout:
    """The ledger's free text hostile (nothing a verdict rests on)."""
    layout.rewrite_ledger(
        lambda ledger: poison_ledger(ledger, rogue=exported.world.rogue.digest)
    )
    return layout


@pytest.fixture
def renamed(exported: Exported, poisoned: Layout) -> Layout:
    """Also the names index.json claims for rogue: markup that draws "✔ verified"."""
    index = poisoned.index
    poison_names(index, digest=exported.world.rogue.digest)
    poisoned.write_index(index)
    return poisoned


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


# -- appliance verify ----------------------------------------------------------------


def test_verify_shows_the_ledgers_words_escaped(
    exported: Exported, poisoned: Layout, tmp_path: Path, verify: Any
) -> None:
    ran = _verify(tmp_path, exported, poisoned.root)
    assert ran.code == 1  # rogue and the troubles are refused
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text  # no OSC at all: title, hyperlink
    assert shown("tool") in ran.plain
    # The exporter's name and version share the title's one cut (256 characters).
    assert shown("version")[:80] in ran.plain
    out = verify(poisoned.root, "--trusted-root", str(exported.root), *KEYLESS)
    passed = sum(1 for image in out.report["images"] if image["verified"])
    assert passed > 0
    assert len(VERDICT.findall(ran.plain)) == len(out.report["images"])
    assert ran.plain.count("│ ✔ verified │") == passed
    assert _row(ran.plain, exported.world.rogue.digest)[3] == "✖ REFUSED"


def test_a_refused_image_named_to_look_verified_stays_refused(
    exported: Exported, renamed: Layout, tmp_path: Path
) -> None:
    ran = _verify(tmp_path, exported, renamed.root)
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text
    cells = _row(ran.plain, exported.world.rogue.digest)
    assert cells[0] == shown("reference")  # the name judged, shown as it is
    assert cells[3] == "✖ REFUSED"
    # "verified" only inside the name's own markup, shown literally (the
    # reason quotes the name too).
    literal = " ".join(cells).replace("[green]✔ verified[/green]", "")
    assert "verified" not in literal
    assert "│ ✔ verified │" not in ran.plain  # an archive that lies is refused whole


def test_at_80_columns_every_row_keeps_its_digest_and_verdict(
    exported: Exported, renamed: Layout, tmp_path: Path, verify: Any
) -> None:
    ran = _verify(tmp_path, exported, renamed.root, columns=80, rows=24)
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    out = verify(renamed.root, "--trusted-root", str(exported.root), *KEYLESS)
    rows = {}
    for line in ran.plain.splitlines():
        digest = re.search(r"│ ([0-9a-f]{12}) │", line)
        verdict = VERDICT.search(line)
        if digest:
            assert verdict, f"the verdict wrapped away from {digest[1]}: {line!r}"
            rows[digest[1]] = verdict[1]
    assert rows == {
        image["digest"][7:19]: "✔ verified" if image["verified"] else "✖ REFUSED"
        for image in out.report["images"]
    }
    table = [line for line in ran.plain.splitlines() if line[:1] in set("┏┃┡│└")]
    assert table
    assert all(len(line) <= 80 for line in table)


def test_hostile_asked_names_are_problems_shown_escaped(
    exported: Exported, layout: Layout, tmp_path: Path
) -> None:
    layout.rewrite_ledger(poison_asked)
    ran = _verify(tmp_path, exported, layout.root)
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    problems = [line for line in ran.plain.splitlines() if "archive: " in line]
    assert any(shown("asked") in line for line in problems)
    assert "│ ✔ verified │" not in ran.plain
    # The table names the reference that was judged, never the ledger's "asked".
    assert not any(
        shown("asked") in line for line in ran.plain.splitlines() if "│" in line
    )


def test_a_hostile_ledger_reference_is_never_shown(
    exported: Exported, layout: Layout, tmp_path: Path
) -> None:
    rogue = exported.world.rogue.digest

    def edit(ledger: dict[str, Any]) -> None:
        image = next(i for i in ledger["images"] if i["digest"] == rogue)
        image["reference"] += hostile("reference")

    layout.rewrite_ledger(edit)
    ran = _verify(tmp_path, exported, layout.root)
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert "[green]" not in ran.plain
    assert _row(ran.plain, rogue)[0] == exported.ref("rogue")


def test_a_long_field_is_cut_with_a_marker(
    exported: Exported, layout: Layout, tmp_path: Path
) -> None:
    layout.rewrite_ledger(lambda ledger: ledger["tool"].update(name="A" * 100_000))
    ran = _verify(tmp_path, exported, layout.root)
    assert ran.code == 1
    assert "A" * 255 + "…" in ran.plain
    assert "A" * 257 not in ran.plain


def test_a_hostile_kind_annotation_is_one_escaped_error_line(
    exported: Exported, layout: Layout, tmp_path: Path
) -> None:
    index = layout.index
    entry = next(
        e for e in index["manifests"] if e["digest"] == exported.world.rogue.digest
    )
    entry["annotations"]["dev.airlock.kind"] = hostile("kind")
    layout.write_index(index)
    ran = _verify(tmp_path, exported, layout.root)
    assert ran.code == 2
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text
    errors = [line for line in ran.plain.splitlines() if line.startswith("appliance:")]
    assert len(errors) == 1
    assert "dev.airlock.kind" in errors[0]
    assert "│" not in ran.plain  # no table: nothing was judged


def test_a_hostile_directory_name_on_the_media_is_escaped(
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
    exported: Exported, renamed: Layout, verify: Any
) -> None:
    """JSON escaping is exact and safe: ``-o json`` is not escaped again."""
    out = verify(renamed.root, "--trusted-root", str(exported.root), *KEYLESS)
    assert out.code == 1
    rogue = next(
        i for i in out.report["images"] if i["digest"] == exported.world.rogue.digest
    )
    assert rogue["reference"] == hostile("reference")
    assert (
        out.report["archive"]["exporter"] == f"{hostile('tool')} {hostile('version')}"
    )


# -- the same table: extract, load ------------------------------------------------------


def test_extract_draws_the_same_table_escaped(
    exported: Exported, poisoned: Layout, tmp_path: Path
) -> None:
    ran = _appliance(
        tmp_path,
        "extract",
        str(poisoned.root),
        "--to",
        str(tmp_path / "out"),
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
    )
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert shown("tool") in ran.plain
    assert _row(ran.plain, exported.world.rogue.digest)[3] == "✖ REFUSED"
    assert "verified image(s) to" in ran.plain


def test_a_dry_run_load_lists_refused_names_escaped(
    exported: Exported, renamed: Layout, tmp_path: Path
) -> None:
    ran = _appliance(
        tmp_path,
        "load",
        str(renamed.root),
        "--to",
        "127.0.0.1:9",
        "--dry-run",
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
    )
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert "dry run: would push 0 image(s)" in ran.plain
    assert _row(ran.plain, exported.world.rogue.digest)[3] == "✖ REFUSED"
    refused = [line for line in ran.plain.splitlines() if "not pushed" in line]
    assert f"not pushed (refused): {shown('reference')}" in refused


# -- bundle-tools inspect ------------------------------------------------------------


def test_inspect_shows_the_ledger_escaped(
    exported: Exported, poisoned: Layout, tmp_path: Path
) -> None:
    rogue = exported.world.rogue.digest

    def more(ledger: dict[str, Any]) -> None:
        poison_asked(ledger)
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
    for tag in ("tool", "asked", "platform", "kind", "lacks"):
        assert shown(tag) in ran.plain, tag
    assert shown("version")[:80] in ran.plain  # cut with the name, at 256
    assert f"1 {shown('related-kind')}" in ran.plain


# -- a file name in an error line, then appliance audit show ---------------------------


def test_a_hostile_file_name_is_escaped_in_the_error_and_the_audit_log(
    tmp_path: Path,
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    # A dangling link on the media: the error names the path it was given.
    archive = media / f"{hostile('file')}.tar.zst".replace("/", "|")
    archive.symlink_to(media / "gone")
    ran = _appliance(tmp_path, "verify", str(archive), *KEYLESS)
    assert ran.code == 2
    assert_nothing_raw(ran.plain)
    assert "\x1b]" not in ran.text
    errors = [line for line in ran.plain.splitlines() if line.startswith("appliance:")]
    assert len(errors) == 1
    assert "\\x1b]0;owned\\x07" in errors[0]
    recorded = json.loads(
        (tmp_path / "state" / "audit.jsonl").read_text().splitlines()[-1]
    )
    assert "\x1b]0;owned\x07" in recorded["error"]  # the log keeps it exact
    shown_log = _appliance(tmp_path, "audit", "show")
    assert shown_log.code == 0
    assert_nothing_raw(shown_log.plain)
    assert "\x1b]" not in shown_log.text
    assert "exit 2: " in shown_log.plain
    assert "file[green]✔ verified[|green]" in shown_log.plain  # cut at 120


def test_the_window_title_is_never_set(
    exported: Exported, renamed: Layout, tmp_path: Path
) -> None:
    """OSC 0 sets a terminal's title, OSC 8 a link: the bytes that would must not be written."""
    ran = _verify(tmp_path, exported, renamed.root)
    assert f"\x1b]0;{TITLE}".encode() not in ran.output
    assert b"\x1b]8;;" not in ran.output
