"""A Textual app's screen as a terminal shows it, as text (tests of what is drawn).

The compositor's lines, rendered the way Textual's own ``export_screenshot``
renders them, exported as plain text instead of SVG.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from textual.app import App
    from textual.pilot import Pilot


def screen_text(app: App[Any]) -> str:
    """The current screen's text, line by line."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def screen_with(pilot: Pilot[Any], needle: str, seconds: float = 10) -> str:
    """The screen's text once ``needle`` is on it (a repaint can lag a busy machine)."""
    text = ""
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)
        text = screen_text(pilot.app)
        if needle in text:
            return text
    msg = f"{needle!r} never appeared; the screen was:\n{text}"
    raise AssertionError(msg)
