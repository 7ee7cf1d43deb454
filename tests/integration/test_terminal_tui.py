"""What the TUI draws when the archive is hostile: Pilot, then a real terminal (tmux).

The committed archive of tests/assets/tui, extracted and edited as an
adversary can (tests/helpers/hostile_text.py: every shown ledger field,
the reference, the directory's name on the media). Each screen is read as
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
from appliance.tui.app import AirlockApp, ConfirmLoad, OpenScreen, TextModal, TextScreen
from tests.helpers.archives import extract
from tests.helpers.hostile_text import (
    TITLE,
    assert_nothing_raw,
    hostile,
    poison_ledger,
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


def _poisoned(
    asset: Callable[[str], Path], base: Path, *, related: bool = True
) -> tuple[Layout, dict[str, str]]:
    layout = Layout(extract(asset("tui/transfer.tar.zst"), base))
    digests = _digests(layout)
    layout.rewrite_ledger(
        lambda ledger: poison_ledger(
            ledger, rogue=digests["rogue"], multi=digests["multi"], related=related
        )
    )
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
    layout, digests = _poisoned(asset, tmp_path / "layout")
    app = AirlockApp(_args(asset, layout.root))
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
        assert "heavy_check_mark\\:\\x1b[2K\\x0d\\x1b[1A\\x1b]0;owned\\x07" in str(
            rogue[3]
        )
        text = await screen_with(pilot, digests["rogue"][7:19])
        assert_nothing_raw(text)
        line = next(r for r in text.splitlines() if digests["rogue"][7:19] in r)
        assert f"{app.mark.bad} refused" in line
        assert "✔ verified" not in line.replace("[green]✔ verified[/green]", "")
        assert "\\x1b]0;owned\\x07" in line
        assert "4 of 9 image(s)" in text  # the status line: the verdict's own count


async def test_the_status_line_escapes_an_error(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    layout = Layout(extract(asset("tui/transfer.tar.zst"), tmp_path / "layout"))
    rogue = _digests(layout)["rogue"]

    def edit(ledger: dict[str, Any]) -> None:
        image = next(i for i in ledger["images"] if i["digest"] == rogue)
        image["reference"] += hostile("reference")

    layout.rewrite_ledger(edit)
    app = AirlockApp(_args(asset, layout.root))
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        assert app.judged is None
        assert app.error is not None
        status = str(app.query_one("#status").render())
        assert_nothing_raw(status)
        assert shown("reference").replace("\\x0d", " ") in status
        text = await screen_with(pilot, "heavy_check_mark\\:\\x1b[2K")
        assert_nothing_raw(text)


async def test_the_detail_page_escapes_the_asked_name(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    layout, _ = _poisoned(asset, tmp_path / "layout")
    app = AirlockApp(_args(asset, layout.root))
    async with app.run_test(size=SIZE) as pilot:
        await _settled(pilot)
        await pilot.press("slash", *"rogue", "enter", "enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TextScreen)
        text = await screen_with(pilot, f"asked as {shown('asked')}")
        assert_nothing_raw(text)
        assert f"{app.mark.bad} refused [identity-mismatch]" in text
        assert "Image: 127.0.0.1:34639/tui/rogue:v1" in text  # the judged reference


async def test_the_open_screen_escapes_names_and_the_ledger(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    name = "layout\x1b]0;owned\x07[bold]:heavy_check_mark:\u202e"
    _poisoned(asset, media / name)
    app = AirlockApp(_args(asset, None), root=media)
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
    layout, _ = _poisoned(asset, tmp_path / "layout", related=False)
    app = AirlockApp(_args(asset, layout.root))
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
        text = await screen_with(pilot, f"{app.mark.ok} asked[green]✔")
        assert_nothing_raw(text)
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


@pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is installed by make test"
)
def test_tmux_draws_the_hostile_archive_escaped_and_keeps_its_title(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    """The sealed entry point at 80x24: the table, then the refused image's page."""
    layout, digests = _poisoned(asset, tmp_path / "layout")
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
        screen = _wait_for(name, "image(s) from")
        assert_nothing_raw(screen)
        assert "4 of 9 image(s)" in screen
        line = next(r for r in screen.splitlines() if digests["rogue"][7:19] in r)
        assert "✖ refused" in line
        assert "heavy_check_mark\\:\\x1b[" in line
        subprocess.run(
            ["tmux", "send-keys", "-t", name, "/", "rogue", "Enter"], check=True
        )
        time.sleep(0.3)
        subprocess.run(["tmux", "send-keys", "-t", name, "Enter"], check=True)
        page = _wait_for(name, "refused [identity-mismatch]")
        assert_nothing_raw(page)
        assert "\\x1b[2K\\x0d\\x1b[1A\\x1b]0;owned\\x07" in page
        title = subprocess.run(
            ["tmux", "display-message", "-p", "-t", name, "#{pane_title}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert TITLE not in title
        subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=True)
    finally:
        subprocess.run(
            ["tmux", "kill-session", "-t", name], capture_output=True, check=False
        )
