"""The TUI's screens, one per file: open, text pages and questions, load confirmation, identities."""

from appliance.tui.screens.identities import IdentitiesScreen
from appliance.tui.screens.load import ConfirmLoad
from appliance.tui.screens.open import ArchiveTree, OpenScreen
from appliance.tui.screens.text import TextModal, TextScreen

__all__ = [
    "ArchiveTree",
    "ConfirmLoad",
    "IdentitiesScreen",
    "OpenScreen",
    "TextModal",
    "TextScreen",
]
