"""``appliance tui``: review a transfer archive and act on it at an 80x24 console.

Keyboard first: every action is a key shown in the footer, ``?`` lists them.
Verification runs in a worker thread (the UI stays responsive and ``escape``
cancels it); every screen is a view over the CLI's own functions
(:func:`appliance.cli.verify_cmd.judge`, the load and signing functions):
nothing here decides what is verified (an import contract keeps the
verification modules out of this package).

Every string from the archive, a registry or a certificate reaches a widget
through :func:`~airlock_io.terminal.untrusted` and as a ``rich.text.Text``
(or a widget that parses no markup): table cells, the status line, pages,
dialogs, notifications and the file picker's names.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    DataTable,
    DirectoryTree,
    Header,
    Input,
    Label,
    ProgressBar,
    Static,
)

from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.core.errors import ApplianceError
from appliance.tui import present

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable

    from airlock_io.parts import DamagedParts
    from appliance.cli.verify_cmd import Judged
    from appliance.core.archive.parts import Request

ARCHIVE_SUFFIXES = (".tar.zst", ".tar", ".parts.json")
_PART = re.compile(r"\.part-\d{4,}\.tar\.zst$")  # a part: read through its index
_KIB = 1024
_SHOWN = 12  # images listed before verifying


def _shown(text: str, *, limit: int = LINE_LIMIT) -> Text:
    """Untrusted text as a widget's content: escaped, and never parsed as markup."""
    return Text(untrusted(text, markup=False, limit=limit))


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < _KIB or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GiB"


def _title(path: Path) -> str:
    """The archive's name and size; a split one's parts and their total."""
    if path.name.endswith(".parts.json"):
        from airlock_io.parts import read_index  # noqa: PLC0415

        index = read_index(path)
        return f"{path.name}  {len(index.parts)} part(s), {_human(index.archive_size)}"
    size = path.stat().st_size if path.is_file() else 0
    return f"{path.name}  {_human(size)}" if size else path.name


class ArchiveTree(DirectoryTree):
    """Directories, and the archives among the files (and extracted layouts)."""

    def process_label(self, label: str | Text) -> Text:
        """A file's name is the media's: shown escaped."""
        return super().process_label(_shown(str(label)))

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
        from airlock_io.archive import read_ledger  # noqa: PLC0415

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
        _back(self)

    def compose(self) -> ComposeResult:  # noqa: D102 - Textual's compose: the widgets, in order
        # No Header or Footer here: they cost a screen switch ~60 ms at 80x24
        # (the footer rebuilds a widget per key); one line says the keys.
        yield Label(
            _shown(
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


def _back(screen: Screen[Any]) -> None:
    """Close ``screen`` if it is the one on top (a key repeated never pops the main screen)."""
    if screen.is_current:
        screen.dismiss()


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
            yield Label(_shown(f"Push to {self.registry}?"), markup=False)
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


KEYS = "q quit  ? help  o open  v verify  / filter  t trust  i signers  r report  l load  a audit"
HELP = [
    "Airlock appliance: review a transfer archive, then act on it.",
    "",
    "o      open an archive (file picker over mounted media)",
    "v      verify (again); escape cancels a running verification",
    "enter  the selected image's signatures, attestations and every check",
    "/      filter the images (any column); escape clears",
    "s      sort: failures first, or by reference",
    "t      trust: root version, expiries, what --trust-max-age would need",
    "i      identities: who signed what; c writes a policy snippet",
    "r      save the JSON report",
    "w      write the re-request list, when parts arrived damaged",
    "l      load the verified images into a registry (asks first)",
    "k      countersign loaded images with the HSM (PIN in a masked field)",
    "a      the audit log and its chain",
    "ctrl+t light / dark",
    "q      quit (a running verification is cancelled)",
    "",
    "Verdicts are marks and words, never colour alone.",
]


class AirlockApp(App[int]):
    """The appliance's terminal UI."""

    TITLE = "Airlock appliance"
    ENABLE_COMMAND_PALETTE = False  # every action is a key; ? lists them
    AUTO_FOCUS = "#images"
    CSS = """
    #summary { width: 1fr; padding: 0 1; }
    #tree { width: 40%; }
    #status { height: auto; padding: 0 1; }
    #filter { height: 1; border: none; padding: 0 1; }
    #dialog { width: 76; height: auto; padding: 1 2; border: thick $accent; background: $surface; }
    ConfirmLoad, TextModal { align: center middle; }
    .failed { text-style: bold; }
    """
    BINDINGS: ClassVar = [
        Binding("q", "quit_app", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("o", "open", "open"),
        Binding("v", "verify", "verify"),
        Binding("escape", "cancel", "cancel", show=False),
        # Priority: handled as it arrives, before the next key is routed, so that
        # a fast typist's (or tmux's) "/rogue" lands whole in the filter.
        Binding("slash", "filter", "filter", priority=True),
        Binding("s", "sort", "sort", show=False),
        Binding("t", "trust", "trust"),
        Binding("i", "identities", "signers"),
        Binding("r", "save_report", "report"),
        Binding("w", "write_request", "re-request", show=False),
        Binding("l", "load", "load"),
        Binding("k", "countersign", "countersign", show=False),
        Binding("a", "audit", "audit"),
        Binding("ctrl+t", "toggle_theme", "theme", show=False),
    ]

    def __init__(self, args: argparse.Namespace, *, root: Path | None = None) -> None:
        super().__init__()
        self.args = args
        self.root = root or Path.cwd()
        self.mark = present.marks()
        self.judged: Judged | None = None
        self.error: str | None = None
        self.cancel = threading.Event()
        self.progress: dict[str, float] = {}
        self.failures_first = True
        self.needle = ""
        self.loaded: tuple[Any, Any] | None = None  # (target, plan) of the last load
        self.damaged: Request | None = (
            None  # the re-request list, when parts arrived damaged
        )

    # -- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:  # noqa: D102 - Textual's compose: the widgets, in order
        yield Header()
        yield Label("No archive yet: o opens one.", id="status", markup=False)
        yield ProgressBar(id="progress", show_eta=True)
        yield Input(placeholder="/ filters the images (escape clears)", id="filter")
        table: DataTable[Text] = DataTable(
            id="images", cursor_type="row", zebra_stripes=True
        )
        yield table
        # A line of keys, not Textual's Footer: that one rebuilds a widget per
        # binding on every screen switch (~60 ms at 80x24), too slow at 3 a.m.
        yield Label(KEYS, id="keys", markup=False)

    def on_mount(self) -> None:
        """Columns; verify the archive given on the command line."""
        table = self.query_one("#images", DataTable)
        for column in (
            "verdict",
            "image",
            "digest",
            "platforms",
            "reason",
            "signer",
            "signed at",
        ):
            table.add_column(column, key=column)
        self.query_one("#progress", ProgressBar).display = False
        if self.args.archive is not None:
            self.action_verify()

    def status(self, text: str) -> None:
        """The one status line under the header (it quotes policies, errors, names: escaped)."""
        self.query_one("#status", Label).update(_shown(text))

    # -- open and verify -------------------------------------------------------------

    def action_open(self) -> None:
        """Pick an archive."""

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.args.archive = path
                self.action_verify()

        self.push_screen(OpenScreen(self.root), chosen)

    def action_verify(self) -> None:
        """Verify the archive in a worker."""
        if self.args.archive is None:
            self.action_open()
            return
        self.cancel = threading.Event()
        self.judged, self.error, self.damaged = None, None, None
        self.query_one("#images", DataTable).clear()
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.status(f"verifying {self.args.archive} ... (escape cancels)")
        self._verify()

    @work(thread=True, exclusive=True, group="verify")
    def _verify(self) -> None:
        from airlock_io.parts import DamagedParts  # noqa: PLC0415
        from appliance.cli.verify_cmd import judge  # noqa: PLC0415

        started = time.monotonic()

        def on_progress(progress: Any) -> None:  # noqa: ANN401 - airlock_io.archive.Progress
            self.progress = {
                "read": progress.read_bytes,
                "total": progress.total_bytes,
                "members": progress.members,
                "seconds": time.monotonic() - started,
            }
            self.call_from_thread(self._show_progress)

        try:
            judged = judge(
                self.args, on_progress=on_progress, cancel=self.cancel, review=True
            )
        except DamagedParts as exc:
            self.call_from_thread(self._damaged, exc)
            return
        except ApplianceError as exc:
            self.call_from_thread(self._failed, exc.diagnostics())
            return
        except Exception as exc:  # noqa: BLE001 - the reader's Cancelled, and anything else: one line
            if type(exc).__name__ == "Cancelled":
                self.call_from_thread(
                    self._failed, "verification cancelled: nothing was verified"
                )
            else:
                self.call_from_thread(
                    self._failed, f"internal error: {type(exc).__name__}: {exc}"
                )
            return
        self.call_from_thread(self._verified, judged)

    def _show_progress(self) -> None:
        p = self.progress
        bar = self.query_one("#progress", ProgressBar)
        if p.get("total"):
            bar.update(total=p["total"], progress=p["read"])
        rate = p["read"] / max(p["seconds"], 1e-3)
        left = (p["total"] - p["read"]) / rate if p.get("total") and rate else 0
        self.status(
            f"verifying: {_human(p['read'])} of {_human(p.get('total', 0))}, {int(p['members'])} blobs, "
            f"{_human(rate)}/s, {left:.0f} s left (escape cancels)"
        )

    def _failed(self, message: str) -> None:
        self.error = message
        self.query_one("#progress", ProgressBar).display = False
        self.status(f"{self.mark.bad} {message}")

    def _damaged(self, damaged: DamagedParts) -> None:
        self.damaged = damaged.request
        self._failed(f"{damaged.diagnostics()}; w writes the re-request list")

    def _verified(self, judged: Judged) -> None:
        self.judged = judged
        self.query_one("#progress", ProgressBar).display = False
        passed = sum(1 for i in judged.verdict.images if i.verified)
        total = len(judged.verdict.images)
        problems = (
            f"  {self.mark.warn} {judged.verdict.problems[0]}"
            if judged.verdict.problems
            else ""
        )
        mark = self.mark.ok if judged.verdict.verified else self.mark.bad
        registry = present.registry_of(judged.verdict)
        source = f" from {registry}" if registry else ""
        self.status(
            f"{mark} {passed} of {total} image(s){source} verified (policy: {judged.policy}){problems}"
        )
        self._fill()

    def _fill(self) -> None:
        table = self.query_one("#images", DataTable)
        table.clear()
        if self.judged is None:
            return
        found = present.rows(self.judged.verdict, self.mark)
        if not self.failures_first:
            found.sort(key=lambda r: r.reference)
        for row in found:
            if self.needle and not present.matches(row, self.needle):
                continue
            # Text cells: a str cell is parsed as markup by the DataTable.
            table.add_row(
                Text(row.verdict),
                _shown(row.reference, limit=200),
                _shown(row.digest, limit=12),
                _shown(row.platforms, limit=200),
                _shown(row.reason),
                _shown(row.signer, limit=200),
                Text(row.signed_at),
                key=row.key,
            )

    def action_cancel(self) -> None:
        """Cancel a running verification; clear the filter."""
        if any(w.group == "verify" and w.is_running for w in self.workers):
            self.cancel.set()
        field = self.query_one("#filter", Input)
        if field.has_focus or field.value:
            field.value = self.needle = ""
            self._fill()
            self.query_one("#images", DataTable).focus()

    def action_filter(self) -> None:
        """Filter the table."""
        field = self.query_one("#filter", Input)
        if field.has_focus:  # a "/" typed in the filter is part of it (tui/app)
            field.insert_text_at_cursor("/")
            return
        self.set_focus(field)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value
        self._fill()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#images", DataTable).focus()

    def action_sort(self) -> None:
        """Failures first, or by reference."""
        self.failures_first = not self.failures_first
        self._fill()

    # -- drilling in ---------------------------------------------------------------------

    @on(DataTable.RowSelected, "#images")
    def _detail(self, event: DataTable.RowSelected) -> None:
        if self.judged is None:
            return
        images = self.judged.verdict.images
        number = int(event.row_key.value or "-1")
        if 0 <= number < len(images):
            image = images[number]
            lines = present.detail(image, self.judged.archive.contents, self.mark)
            self.push_screen(TextScreen(f"Image: {image.reference}", lines))

    def action_trust(self) -> None:
        """Where the trust came from and how old it is."""
        if self.judged is None:
            self.status("verify an archive first (v)")
            return
        trust = self.judged.trust.to_json(self.judged.now)
        lines = [f"{key}: {value}" for key, value in trust.items()]
        expired = trust.get("capsule_expired_days_now")
        if isinstance(expired, float) and expired > 0:
            lines.append(
                f"{self.mark.warn} the capsule's timestamp expired {expired:.1f} days ago: --trust-max-age {int(expired) + 1}d would accept it"
            )
        self.push_screen(TextScreen("Trust", lines))

    def action_identities(self) -> None:
        """Who signed what; c writes a policy snippet."""
        if self.judged is None:
            self.status("verify an archive first (v)")
            return
        found = present.identities(self.judged.verdict)
        lines = []
        for identity in found:
            who = (
                identity.who
                if identity.kind == "keyless"
                else f"key {identity.who[:16]}"
            )
            lines.append(
                f"{who}" + (f"  ({identity.issuer})" if identity.issuer else "")
            )
            lines.extend(f"    signed {ref}" for ref in identity.images)
        self.push_screen(
            IdentitiesScreen(found, lines or ["no verifiable signer found"])
        )

    # -- actions -----------------------------------------------------------------------

    def action_save_report(self) -> None:
        """Save the JSON report (atomically)."""
        if self.judged is None:
            self.status("verify an archive first (v)")
            return

        def save(answer: str | None) -> None:
            if not answer:
                return
            from airlock_io.atomic import write_output  # noqa: PLC0415

            assert self.judged is not None  # noqa: S101 - checked above
            try:
                write_output(
                    Path(answer),
                    json.dumps(self.judged.report(), indent=2).encode() + b"\n",
                )
            except ApplianceError as exc:
                self.status(f"{self.mark.bad} {exc.diagnostics()}")
                return
            self.status(f"{self.mark.ok} report written to {answer}")

        self.push_screen(TextModal("Save the report to:", "airlock-report.json"), save)

    def action_write_request(self) -> None:
        """Write the re-request list (atomically), for ``bundle-tools export --resend``."""
        if self.damaged is None:
            self.status("no part arrived damaged: nothing to ask for again")
            return
        request = self.damaged

        def write(answer: str | None) -> None:
            if not answer:
                return
            from airlock_io.atomic import write_output  # noqa: PLC0415

            try:
                write_output(Path(answer), request.to_bytes())
            except ApplianceError as exc:
                self.status(f"{self.mark.bad} {exc.diagnostics()}")
                return
            self.status(
                f"{self.mark.ok} re-request list written to {answer}: "
                "carry it back to bundle-tools export --resend"
            )

        self.push_screen(
            TextModal("Write the re-request list to:", "REQUEST.json"), write
        )

    def action_load(self) -> None:
        """Load the verified images into a registry, after a confirmation."""
        if self.judged is None:
            self.status("verify an archive first (v)")
            return
        if self.judged.policy.startswith("none"):
            self.status(
                f"{self.mark.bad} no policy given: nothing can be loaded (start with --policy or signer flags)"
            )
            return

        def registry(answer: str | None) -> None:
            if answer:
                self._confirm_load(answer)

        self.push_screen(
            TextModal(
                "Registry to load into (HOST:PORT[/PREFIX]):",
                getattr(self.args, "to", "") or "",
            ),
            registry,
        )

    def _confirm_load(self, to: str) -> None:
        from appliance.core.archive.plan import Target, plan_push  # noqa: PLC0415

        assert self.judged is not None  # noqa: S101 - the caller checked
        try:
            target = Target.parse(to)
        except ApplianceError as exc:
            self.status(f"{self.mark.bad} {exc.diagnostics()}")
            return
        plan = plan_push(self.judged.view, target)
        pushed = [f"{i.reference} -> {target.host}/{i.repository}" for i in plan.images]

        def go(yes: bool | None) -> None:  # noqa: FBT001 - the dialog's answer
            if yes:
                self.status(f"pushing to {to} ...")
                self._load(target, plan)

        self.push_screen(
            ConfirmLoad(to, pushed, list(plan.refused), self.mark, held=len(plan.held)),
            go,
        )

    @work(thread=True, exclusive=True, group="load")
    def _load(self, target: Any, plan: Any) -> None:  # noqa: ANN401 - Target, Plan
        from appliance.actions.audited import Audited  # noqa: PLC0415
        from appliance.cli import env  # noqa: PLC0415
        from appliance.load.push import push_archive  # noqa: PLC0415

        judged = self.judged
        assert judged is not None  # noqa: S101 - the caller checked
        try:
            with Audited("load", env.state_dir(), to=target.host, via="tui") as audit:
                pushed = push_archive(
                    judged.path,
                    plan,
                    target,
                    plain_http=bool(getattr(self.args, "allow_http_registry", False)),
                    login=None,
                    verified_sha256=judged.archive.sha256,
                    progress=lambda _total: (None, contextlib.nullcontext()),
                )
                code = 0 if judged.verdict.verified else 1
                audit.record(
                    {
                        **judged.audit_record(),
                        "pushed": {"to": target.host, **pushed.to_json()},
                        "exit_code": code,
                    }
                )
        except ApplianceError as exc:
            self.call_from_thread(
                self.status, f"{self.mark.bad} load failed: {exc.diagnostics()}"
            )
            return
        self.loaded = (target, plan)
        self.call_from_thread(
            self.status,
            f"{self.mark.ok} pushed {len(pushed.images)} image(s) to {target.host}: {pushed.blobs_sent} blob(s) sent; k countersigns them",
        )

    def action_countersign(self) -> None:
        """Countersign what was just loaded with the HSM; the PIN in a masked field."""
        key = getattr(self.args, "countersign_key", None)
        if self.loaded is None or self.judged is None:
            self.status("load the verified images first (l), then countersign them (k)")
            return
        if not key:
            self.status("start with --countersign-key KEY to countersign from here")
            return

        def with_pin(pin: str | None) -> None:
            if pin:
                self.status("countersigning ...")
                self._countersign(key, pin)

        self.push_screen(
            TextModal("PIN for the HSM (not shown, not kept):", password=True), with_pin
        )

    @work(thread=True, exclusive=True, group="sign")
    def _countersign(self, key: str, pin: str) -> None:
        from appliance import __version__  # noqa: PLC0415
        from appliance.actions.audited import Audited  # noqa: PLC0415
        from appliance.cli import env  # noqa: PLC0415
        from appliance.cli.sign_cmd import open_signer  # noqa: PLC0415
        from appliance.core.errors import redact  # noqa: PLC0415
        from appliance.load.connect import registry  # noqa: PLC0415
        from appliance.load.sign import Countersign, countersign_loaded  # noqa: PLC0415

        judged, loaded = self.judged, self.loaded
        assert judged is not None  # noqa: S101 - the caller checked
        assert loaded is not None  # noqa: S101
        target, plan = loaded
        facts = Countersign(
            registry=target.host,
            version=__version__,
            policy_uri=judged.policy,
            policy_sha256="",
        )
        try:
            with (
                Audited(
                    "countersign", env.state_dir(), key=redact(key), via="tui"
                ) as audit,
                open_signer(
                    key,
                    getattr(self.args, "module_path", None),
                    secrets_handler=lambda _prompt: pin,
                ) as signer,
                registry(
                    target,
                    plain_http=bool(getattr(self.args, "allow_http_registry", False)),
                    login=None,
                ) as client,
            ):
                written = countersign_loaded(
                    client,
                    signer,
                    plan=plan,
                    verdict=judged.verdict,
                    facts=facts,
                    now=judged.now,
                )
                audit.record(
                    {"written": [w.to_json() for w in written], "exit_code": 0}
                )
        except ApplianceError as exc:
            self.call_from_thread(self.status, f"{self.mark.bad} {exc.diagnostics()}")
            return
        self.call_from_thread(
            self.status,
            f"{self.mark.ok} countersigned {len(plan.images)} image(s): {len(written)} signature(s) written",
        )

    def action_audit(self) -> None:
        """Recent decisions, and whether the chain holds."""
        from appliance.audit import AuditLog  # noqa: PLC0415
        from appliance.cli import env  # noqa: PLC0415
        from appliance.cli.audit_cmd import describe  # noqa: PLC0415

        log = AuditLog(env.state_dir())
        count, problem = log.verify()
        head = (
            f"{self.mark.ok} chain holds: {count} line(s)"
            if problem is None
            else f"{self.mark.bad} line {problem.line} {problem.what}"
        )
        lines = [present.Line(head, failed=problem is not None), present.Line("")]
        lines += [present.Line(describe(entry)) for entry in log.recent(50)]
        self.push_screen(TextScreen("Audit log", lines))

    def action_help(self) -> None:
        """The keys."""
        self.push_screen(TextScreen("Help", HELP))

    def action_toggle_theme(self) -> None:
        """Light or dark."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_quit_app(self) -> None:
        """Quit; a running verification is cancelled first."""
        self.cancel.set()
        for worker in self.workers:
            worker.cancel()
        code = 0 if self.judged is not None and self.judged.verdict.verified else 1
        self.exit(code, return_code=code)


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
            from airlock_io.atomic import write_output  # noqa: PLC0415

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
