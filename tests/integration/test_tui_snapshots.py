"""The TUI's main screens pinned as snapshots: 80x24 and 120x40, dark and light.

The archive is the committed one of tests/assets/tui, so what is drawn does
not move between runs; `pytest --snapshot-update` after a deliberate change
(and a look at the new SVGs) refreshes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from appliance.cli.main import _parser
from appliance.cli.tui_cmd import session
from appliance.tui.app import AirlockApp
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from textual.pilot import Pilot

SIZES = [(80, 24), (120, 40)]
THEMES = ["textual-dark", "textual-light"]
SCREENS = {
    "images": [],
    "failure": ["slash", *"rogue", "enter", "enter"],
    "help": ["question_mark"],
}


def _app(asset: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> AirlockApp:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    args = _parser().parse_args(
        ["tui", str(asset("tui/transfer.tar.zst")), "--trusted-root", str(asset("tui/trusted_root.json")),
         "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", "https://oidc.airlock.test"]
    )  # fmt: skip
    return AirlockApp(session(args))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    screen: str,
    theme: str,
    size: tuple[int, int],
    asset: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    snap_compare: Any,
) -> None:
    app = _app(asset, monkeypatch)

    async def verified(pilot: Pilot[int]) -> None:
        app.theme = theme
        for _ in range(200):
            await pilot.pause(0.05)
            if app.judged is not None:
                break
        for key in SCREENS[screen]:
            await pilot.press(key)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=verified)
