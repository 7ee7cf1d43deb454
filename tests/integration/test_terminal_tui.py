"""What the TUI draws when the archive is hostile: Pilot, then a real terminal (tmux).

The committed archive of tests/assets/tui, extracted and edited as an
adversary can (tests/helpers/hostile_text.py: the ledger's free text and
"asked" names, the names index.json claims, names on the media). Each screen is read as
the terminal would show it (the compositor's lines, as Textual's own
screenshot renders them): nothing a terminal obeys, the hostile text
escaped, a refused image refused. Then the sealed entry point in a tmux
pane: the screen read back with capture-pane, and the pane's title
untouched.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input

from appliance.cli.main import _parser
from appliance.cli.tui_cmd import session
from appliance.tui.app import AirlockApp
from appliance.tui.screens import ConfirmLoad, OpenScreen, TextModal, TextScreen
from tests.helpers.archives import extract
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
from tests.helpers.screen import screen_with
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from pathlib import Path

    from textual.pilot import Pilot

ISSUER = "https://oidc.airlock.test"
SIZE = (250, 50)  # wide enough that no cell is cut before its hostile text


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)


def _digests(layout: Layout) -> dict[str, str]:
    """Each image's digest by its repository's last component (``rogue``, ``multi``...)."""
    manifest = layout.read(layout.entry("ledger")["digest"])
    ledger = layout.read(manifest["layers"][0]["digest"])
    return {
        image["reference"].rsplit("/", 1)[-1].split(":")[0]: image["digest"]
        for image in ledger["images"]
    }


def _layout(asset: Callable[[str], Path], base: Path) -> tuple[Layout, dict[str, str]]:
    layout = Layout(extract(asset("tui/transfer.tar.zst"), base))
    return layout, _digests(layout)


def _renamed(asset: Callable[[str], Path], base: Path) -> tuple[Layout, dict[str, str]]:
    """The ledger's free text hostile, and rogue's names in index.json."""
    layout, digests = _layout(asset, base)
    layout.rewrite_ledger(lambda ledger: poison_ledger(ledger, rogue=digests["rogue"]))
    index = layout.index
    poison_names(index, digest=digests["rogue"])
    layout.write_index(index)
    return layout, digests


def _args(asset: Callable[[str], Path], archive: Path | None) -> argparse.Namespace:
    argv = ["tui", *([str(archive)] if archive else [])]
    argv += ["--trusted-root", str(asset("tui/trusted_root.json"))]
    argv += ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]
    return _parser().parse_args(argv)


async def _settled(pilot: Pilot[int]) -> AirlockApp:
    app = pilot.app
    assert isinstance(app, AirlockApp)
    for _ in range(200):
        await pilot.pause(0.05)
        if app.judged is not None or app.error is not None:
            break
    return app


# -- Pilot ---------------------------------------------------------------------------


async def test_the_table_escapes_every_cell_and_a_refused_row_stays_refused(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    layout, digests = _renamed(asset, tmp_path / "layout")
    app = AirlockApp(session(_args(asset, layout.root)))
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        assert app.judged is not None, app.error
        table = app.query_one("#images", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        for row in rows:
            for cell in row:
                assert isinstance(cell, Text)  # never parsed as markup
                assert_nothing_raw(cell.plain)
        rogue = next(r for r in rows if str(r[2]) == digests["rogue"][7:19])
        assert str(rogue[0]) == f"{app.mark.bad} refused"
        assert str(rogue[1]) == shown("reference")
        text = await screen_with(pilot, digests["rogue"][7:19])
        assert_nothing_raw(text)
        line = next(
            r
            for r in text.splitlines()
            if digests["rogue"][7:19] in r
            and r.strip().startswith(f"{app.mark.bad} refused")
        )
        assert shown("reference") in line
        # "✔ verified" only as the name's markup, literally: no row is verified.
        assert "✔ verified" not in text.replace("[green]✔ verified[/green]", "")
        assert "0 of 9 image(s)" in text  # the status line: the verdict's own count


async def test_the_status_line_escapes_an_error(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    """A dangling link on the media, named to draw: the error names it, escaped."""
    archive = tmp_path / f"{hostile('file')}.tar.zst".replace("/", "|")
    archive.symlink_to(tmp_path / "gone")
    app = AirlockApp(session(_args(asset, archive)))
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        assert app.judged is None
        assert app.error is not None
        status = str(app.query_one("#status").render())
        assert_nothing_raw(status)
        assert "file[green]✔ verified[|green]:heavy_check_mark\\:\\x1b[2K" in status
        text = await screen_with(pilot, "cannot read the archive")
        assert_nothing_raw(text)
        assert "\\x1b]0;owned\\x07" in text


async def test_the_detail_page_escapes_the_name(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    layout, digests = _renamed(asset, tmp_path / "layout")
    app = AirlockApp(session(_args(asset, layout.root)))
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        table = app.query_one("#images", DataTable)
        row = next(
            i
            for i in range(table.row_count)
            if str(table.get_row_at(i)[2]) == digests["rogue"][7:19]
        )
        table.move_cursor(row=row)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TextScreen)
        text = await screen_with(pilot, f"Image: {shown('reference')}")
        assert_nothing_raw(text)
        assert f"{app.mark.bad} refused [" in text


async def test_the_open_screen_escapes_names_and_the_ledger(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    name = "layout\x1b]0;owned\x07[bold]:heavy_check_mark:\u202e"
    layout, digests = _layout(asset, media / name)

    def edit(ledger: dict[str, Any]) -> None:
        poison_ledger(ledger, rogue=digests["rogue"])
        poison_asked(ledger)

    layout.rewrite_ledger(edit)
    app = AirlockApp(session(_args(asset, None)), root=media)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, OpenScreen)
        await pilot.press("down", "enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if "image(s)" in str(screen.query_one("#summary").render()):
                break
        text = await screen_with(
            pilot, "layout\\x1b]0;owned\\x07[bold]:heavy_check_mark\\:\\u202e"
        )
        assert_nothing_raw(text)
        summary = str(screen.query_one("#summary").render())
        assert_nothing_raw(summary)
        assert f"exported by {shown('tool')}" in summary
        assert f"trust carried: {shown('kind')}" in summary
        assert f"  {shown('asked')}" in summary


async def test_the_load_dialog_escapes_what_it_lists(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    layout, _ = _renamed(asset, tmp_path / "layout")
    app = AirlockApp(session(_args(asset, layout.root)))
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        await pilot.press("l")
        await pilot.pause(0.1)
        assert isinstance(app.screen, TextModal)
        app.screen.query_one(Input).value = "127.0.0.1:9"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmLoad)
        # The dialog is 76 columns: the names wrap, escaped.
        text = await screen_with(pilot, f"{app.mark.bad} not pushed: reference[green]✔")
        assert_nothing_raw(text)
        assert "nothing passed: nothing to push" in text
        assert "heavy_check_mark\\:\\x1b[2K" in text
        await pilot.press("n")  # nothing is pushed


# -- a real terminal ---------------------------------------------------------------


def _capture(name: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", name],
        capture_output=True,
        text=True,
        check=False,
    ).stdout


def _wait_for(name: str, needle: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = _capture(name)
        if needle in screen:
            return screen
        time.sleep(0.1)
    msg = f"{needle!r} never appeared; the screen was:\n{screen}"
    raise AssertionError(msg)


def _keys(name: str, *keys: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", name, *keys], check=True)


@pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is installed by make test"
)
def test_tmux_draws_the_hostile_archive_escaped_and_keeps_its_title(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    """The sealed entry point at 80x24: the table, then the refused image's page."""
    layout, _ = _renamed(asset, tmp_path / "layout")
    name = f"airlock-{uuid.uuid4().hex[:8]}"
    argv = [
        sys.executable, "-m", "appliance", "tui", str(layout.root),
        "--trusted-root", str(asset("tui/trusted_root.json")),
        "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER,
    ]  # fmt: skip
    command = (
        f"env APPLIANCE_STATE_DIR={shlex.quote(str(tmp_path / 'state'))} "
        f"TERM=xterm-256color LANG=C.UTF-8 {shlex.join(argv)}; sleep 30"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-c", str(tmp_path),
         "-x", "80", "-y", "24", command],
        check=True,
    )  # fmt: skip
    try:
        screen = _wait_for(name, "image(s) verified")
        assert_nothing_raw(screen)
        assert "0 of 9 image(s)" in screen
        line = next(r for r in screen.splitlines() if "reference[green]" in r)
        assert "✖ refused" in line
        assert "reference[green]✔ verified[/green]:heavy_check_mark\\:\\x1b[" in line
        assert "✔ verified" not in screen.replace("[green]✔ verified[/green]", "")
        _keys(name, *["Down"] * 8, "Enter")  # rogue's row sorts last
        page = _wait_for(name, "refused [")
        assert_nothing_raw(page)
        assert "\\x1b[2K\\x0d\\x1b[1A\\x1b]0;owned\\x07" in page
        title = subprocess.run(
            ["tmux", "display-message", "-p", "-t", name, "#{pane_title}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert TITLE not in title
        _keys(name, "q")
    finally:
        subprocess.run(
            ["tmux", "kill-session", "-t", name], capture_output=True, check=False
        )
