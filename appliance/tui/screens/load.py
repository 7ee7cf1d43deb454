"""The load confirmation: the registry, what will be pushed, what will not; then ask."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from airlock_io.terminal import untrusted
from appliance.tui.screens.text import shown

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from appliance.tui import present


class ConfirmLoad(ModalScreen[bool]):
    """Name the registry, list what will be pushed and what will not; ask."""

    AUTO_FOCUS = "#no"

    BINDINGS: ClassVar = [
        Binding("y", "yes", "push"),
        Binding("n,escape", "no", "cancel"),
    ]

    def __init__(
        self,
        registry: str,
        pushed: list[str],
        refused: list[str],
        mark: present.Marks,
        *,
        held: int = 0,
    ) -> None:
        super().__init__()
        self.registry, self.pushed, self.refused, self.mark = (
            registry,
            pushed,
            refused,
            mark,
        )
        self.held = held

    def compose(self) -> ComposeResult:  # noqa: D102 - Textual's compose: the widgets, in order
        with Vertical(id="dialog"):
            yield Label(shown(f"Push to {self.registry}?"), markup=False)
            pushed = [
                f"{self.mark.ok} {untrusted(r, markup=False)}" for r in self.pushed
            ] or ["nothing passed: nothing to push"]
            yield Static(Text("\n".join(pushed)), markup=False)
            if self.refused:
                yield Static(
                    Text(
                        "\n".join(
                            f"{self.mark.bad} not pushed: {untrusted(r, markup=False)}"
                            for r in self.refused
                        )
                    ),
                    markup=False,
                )
            if self.held:
                yield Static(
                    f"{self.mark.warn} a delta: {self.held} layer(s) left out as held must "
                    "already be in this registry; checked before anything is pushed",
                    markup=False,
                )
            with Horizontal():
                yield Button("push (y)", id="yes", variant="primary")
                yield Button("cancel (n)", id="no")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        """Push."""
        self.dismiss(result=True)

    def action_no(self) -> None:
        """Do not push."""
        self.dismiss(result=False)
