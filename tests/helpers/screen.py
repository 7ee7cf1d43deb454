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
