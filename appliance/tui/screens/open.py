"""Open an archive: a file picker over mounted media, and the ledger shown before verifying.

The ledger is the exporter's unsigned word: shown (escaped) so the operator
knows what the media claims before anything is verified, never trusted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DirectoryTree, Header, Label, Static

from airlock_io.archive import read_ledger
from airlock_io.parts import read_index
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.core.errors import ApplianceError
from appliance.tui.screens.text import shown

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual.app import ComposeResult

ARCHIVE_SUFFIXES = (".tar.zst", ".tar", ".parts.json")
_PART = re.compile(r"\.part-\d{4,}\.tar\.zst$")  # a part: read through its index
_KIB = 1024
_SHOWN = 12  # images listed before verifying


def human_size(size: float) -> str:
    """A size for people: ``1.2 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < _KIB or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GiB"


def _title(path: Path) -> str:
    """The archive's name and size; a split one's parts and their total."""
    if path.name.endswith(".parts.json"):
        index = read_index(path)
        return (
            f"{path.name}  {len(index.parts)} part(s), {human_size(index.archive_size)}"
        )
    size = path.stat().st_size if path.is_file() else 0
    return f"{path.name}  {human_size(size)}" if size else path.name


class ArchiveTree(DirectoryTree):
    """Directories, and the archives among the files (and extracted layouts)."""

    def process_label(self, label: str | Text) -> Text:
        """A file's name is the media's: shown escaped."""
        return super().process_label(shown(str(label)))

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        """Keep directories and archives (a split one by its index); hide dotfiles."""
        return [
            p
            for p in paths
            if not p.name.startswith(".")
            and (p.is_dir() or p.name.endswith(ARCHIVE_SUFFIXES))
            and not _PART.search(p.name)
        ]


class OpenScreen(Screen[Path | None]):
    """Pick an archive on mounted media; see its ledger before verifying."""

    AUTO_FOCUS = "#tree"

    BINDINGS: ClassVar = [
        Binding("v", "choose", "verify this"),
        Binding("escape", "back", "back"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.chosen: Path | None = None

    def compose(self) -> ComposeResult:  # noqa: D102 - Textual's compose: the widgets, in order
        yield Header()
        with Horizontal():
            yield ArchiveTree(self.root, id="tree")
            yield Static(
                "Select an archive (.tar.zst, .tar) or a layout directory.",
                id="summary",
                markup=False,
            )
        yield Label(
            "enter: show the ledger; enter again or v: verify; escape: back",
            markup=False,
        )

    @on(DirectoryTree.FileSelected)
    @on(DirectoryTree.DirectorySelected)
    def _selected(
        self, event: DirectoryTree.FileSelected | DirectoryTree.DirectorySelected
    ) -> None:
        path = Path(event.path)
        if path.is_dir() and not (path / "oci-layout").exists():
            return
        if path == self.chosen:
            self.dismiss(path)  # selected twice: verify it
            return
        self.chosen = path
        self.query_one("#summary", Static).update("reading the ledger...")
        self._summarise(path)

    @work(thread=True, exclusive=True, group="summary")
    def _summarise(self, path: Path) -> None:
        try:
            ledger = read_ledger(path)
            title = _title(path)
        except ApplianceError as exc:
            text = untrusted(
                f"{path.name}: {exc.diagnostics()}", markup=False, limit=LINE_LIMIT
            )
        else:
            lines = [
                title,
                f"exported by {ledger.tool} {ledger.tool_version} at {ledger.created:%Y-%m-%d %H:%M}Z",
                f"trust carried: {ledger.trust.kind}",
                *([delta] if (delta := ledger.delta_summary()) else []),
                f"{len(ledger.images)} image(s) (the exporter's word, not yet verified):",
                *(f"  {i.asked}" for i in ledger.images[:_SHOWN]),
                *(["  ..."] if len(ledger.images) > _SHOWN else []),
                "",
                "enter (again) or v: verify this archive",
            ]
            # The ledger's words, each line escaped (the exporter's, unverified).
            text = "\n".join(
                untrusted(line, markup=False, limit=LINE_LIMIT) for line in lines
            )
        self.app.call_from_thread(self.query_one("#summary", Static).update, Text(text))

    def action_back(self) -> None:
        """Leave without choosing."""
        if self.is_current:
            self.dismiss(None)

    def action_choose(self) -> None:
        """Verify the selected archive."""
        if self.chosen is not None:
            self.dismiss(self.chosen)
