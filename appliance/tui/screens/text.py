"""Pages and one-line questions: the TUI's text screens (detail, trust, identities, audit, help).

Every line a page shows is escaped (:func:`~airlock_io.terminal.untrusted`)
and drawn as one ``rich.text.Text`` (never parsed as markup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, Static

from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.tui import present

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual.app import ComposeResult


def shown(text: str, *, limit: int = LINE_LIMIT) -> Text:
    """Untrusted text as a widget's content: escaped, and never parsed as markup."""
    return Text(untrusted(text, markup=False, limit=limit))


def back(screen: Screen[Any]) -> None:
    """Close ``screen`` if it is the one on top (a key repeated never pops the main screen)."""
    if screen.is_current:
        screen.dismiss()


class TextModal(ModalScreen[str | None]):
    """One line of input (a path, a registry); ``password`` masks it (a PIN)."""

    AUTO_FOCUS = "#answer"

    BINDINGS: ClassVar = [Binding("escape", "cancel", "cancel")]

    def __init__(self, prompt: str, value: str = "", *, password: bool = False) -> None:
        super().__init__()
        self.prompt, self.value, self.password = prompt, value, password

    def compose(self) -> ComposeResult:  # noqa: D102 - Textual's compose: the widgets, in order
        with Vertical(id="dialog"):
            yield Label(self.prompt, markup=False)
            yield Input(value=self.value, password=self.password, id="answer")
            yield Label("enter: confirm   escape: cancel", markup=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)


class TextScreen(Screen[None]):
    """A scrollable page of lines (detail, trust, identities, audit, help)."""

    AUTO_FOCUS = "#page"

    BINDINGS: ClassVar = [Binding("escape,q", "back", "back")]

    def __init__(
        self, title: str, lines: Iterable[present.Line | str], *, keys: str = ""
    ) -> None:
        super().__init__()
        self.title_text = title
        self.lines = [
            line if isinstance(line, present.Line) else present.Line(line)
            for line in lines
        ]
        self.keys = keys

    def action_back(self) -> None:
        """Back to where the operator was."""
        back(self)

    def compose(self) -> ComposeResult:  # noqa: D102 - Textual's compose: the widgets, in order
        # No Header or Footer here: they cost a screen switch ~60 ms at 80x24
        # (the footer rebuilds a widget per key); one line says the keys.
        yield Label(
            shown(
                f"{self.title_text}   (escape: back{'; ' + self.keys if self.keys else ''})"
            ),
            id="title",
            markup=False,
        )
        # One widget for the whole page: a screen opens in a few milliseconds
        # even with hundreds of checks (one widget per line cost ~80 ms).
        page = Text()
        for number, line in enumerate(self.lines):
            if number:
                page.append("\n")
            page.append(
                untrusted(line.text, markup=False, limit=LINE_LIMIT),
                style="bold" if line.failed else "",
            )
        with VerticalScroll(id="page"):
            yield Static(page, id="text")
