"""Identities: who signed what, and a policy snippet naming them (``c``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding

from airlock_io.atomic import write_output
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.core.errors import ApplianceError
from appliance.tui import present
from appliance.tui.screens.text import TextModal, TextScreen


class IdentitiesScreen(TextScreen):
    """Every signer with what it signed; ``c`` writes a policy snippet."""

    BINDINGS: ClassVar = [
        Binding("c", "snippet", "policy snippet"),
        Binding("escape,q", "back", "back"),
    ]

    def __init__(self, found: list[present.Identity], lines: list[str]) -> None:
        super().__init__(
            "Identities", lines, keys="c: write a policy snippet naming these signers"
        )
        self.found = found

    def action_snippet(self) -> None:
        """Write the snippet to a file (a serial console has no clipboard)."""

        def save(answer: str | None) -> None:
            if not answer:
                return
            try:
                write_output(Path(answer), present.policy_snippet(self.found).encode())
            except ApplianceError as exc:
                self.app.notify(
                    untrusted(exc.diagnostics(), markup=False, limit=LINE_LIMIT),
                    severity="error",
                    markup=False,
                )
                return
            self.app.notify(f"policy snippet written to {answer}", markup=False)

        self.app.push_screen(
            TextModal("Write the policy snippet to:", "policy-snippet.toml"), save
        )
