"""``appliance tui``: review a transfer archive and act on it at an 80x24 console.

Keyboard first: every action is a key shown in the footer, ``?`` lists them.
The TUI is a view: every verb runs through :mod:`appliance.actions`, exactly
as the CLI's does (verify, load, countersign, the audit log), built from the
:class:`~appliance.tui.session.Session` the command line gave. Verification
runs in a worker thread (the UI stays responsive and ``escape`` cancels it);
nothing here decides what is verified, pushed or recorded (import contracts
keep the verification modules, and the CLI, out of this package).

Every string from the archive, a registry or a certificate reaches a widget
through :func:`~airlock_io.terminal.untrusted` and as a ``rich.text.Text``
(or a widget that parses no markup): table cells, the status line, pages,
dialogs, notifications and the file picker's names.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Input, Label, ProgressBar

from airlock_io.archive import Cancelled
from airlock_io.atomic import write_output
from airlock_io.parts import DamagedParts
from appliance.actions.audit import check_chain, recent
from appliance.actions.extract import ExtractRequest, extract
from appliance.actions.interface import Run
from appliance.actions.load import countersign, plan_load, push_verified
from appliance.actions.trust import TrustImportRequest, trust_import
from appliance.actions.verify import verify
from appliance.audit import describe
from appliance.core.errors import ApplianceError
from appliance.tui import present
from appliance.tui.screens import (
    ConfirmLoad,
    IdentitiesScreen,
    OpenScreen,
    TextModal,
    TextScreen,
)
from appliance.tui.screens.open import human_size
from appliance.tui.screens.text import shown

if TYPE_CHECKING:
    from appliance.actions.load import Loaded
    from appliance.actions.verify import Verified
    from appliance.core.archive.parts import Request
    from appliance.tui.session import Session

KEYS = "q quit  ? help  o open  v verify  / filter  t trust  i signers  r report  l load  x extract  a audit"
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
    "x      extract the verified images as an OCI layout (a new directory)",
    "T      import trust: replay a TUF capsule (this archive's, or a directory)",
    "a      the audit log and its chain",
    "ctrl+t light / dark",
    "q      quit (a running verification is cancelled)",
    "",
    "Verdicts are marks and words, never colour alone.",
]


class _Progress:
    """The verification's progress, handed to the app's thread (the action calls from its worker)."""

    def __init__(self, app: AirlockApp) -> None:
        self.app = app
        self.started = time.monotonic()

    def reading(self, read_bytes: int, total_bytes: int | None, members: int) -> None:
        self.app.progress = {
            "read": read_bytes,
            "total": total_bytes or 0,
            "members": members,
            "seconds": time.monotonic() - self.started,
        }
        self.app.call_from_thread(self.app.show_progress)

    def pushing(self, sent_bytes: int, total_bytes: int) -> None:
        del sent_bytes, total_bytes  # the status line says when it is done

    def note(self, text: str) -> None:
        self.app.call_from_thread(self.app.status, text)


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
        Binding("x", "extract", "extract"),
        Binding("T", "trust_import", "import trust", show=False),
        Binding("a", "audit", "audit"),
        Binding("ctrl+t", "toggle_theme", "theme", show=False),
    ]

    def __init__(self, session: Session, *, root: Path | None = None) -> None:
        super().__init__()
        self.session = session
        self.archive = session.archive
        self.root = root or session.root
        self.mark = present.marks()
        self.judged: Verified | None = None
        self.report: dict[str, object] | None = None
        self.error: str | None = None
        self.cancel = threading.Event()
        self.progress: dict[str, float] = {}
        self.failures_first = True
        self.needle = ""
        self.loaded: Loaded | None = None  # the last load (what `k` countersigns)
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
        if self.archive is not None:
            self.action_verify()

    def status(self, text: str) -> None:
        """The one status line under the header (it quotes policies, errors, names: escaped)."""
        self.query_one("#status", Label).update(shown(text))

    # -- open and verify -------------------------------------------------------------

    def action_open(self) -> None:
        """Pick an archive."""

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.archive = path
                self.action_verify()

        self.push_screen(OpenScreen(self.root), chosen)

    def action_verify(self) -> None:
        """Verify the archive in a worker."""
        if self.archive is None:
            self.action_open()
            return
        self.cancel = threading.Event()
        self.judged, self.report, self.error, self.damaged = None, None, None, None
        self.query_one("#images", DataTable).clear()
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.status(f"verifying {self.archive} ... (escape cancels)")
        self._verify(self.archive)

    @work(thread=True, exclusive=True, group="verify")
    def _verify(self, archive: Path) -> None:
        run = Run(progress=_Progress(self), cancel=self.cancel)
        try:
            outcome = verify(self.session.verifying(archive), run)
        except DamagedParts as exc:
            self.call_from_thread(self._damaged, exc)
            return
        except ApplianceError as exc:
            self.call_from_thread(self._failed, exc.diagnostics())
            return
        except Cancelled:
            self.call_from_thread(
                self._failed, "verification cancelled: nothing was verified"
            )
            return
        except Exception as exc:  # noqa: BLE001 - anything else: one line, never a traceback
            self.call_from_thread(
                self._failed, f"internal error: {type(exc).__name__}: {exc}"
            )
            return
        self.call_from_thread(self._verified, outcome.verified, outcome.report)

    def show_progress(self) -> None:
        """The progress bar and the status line, as the worker reported them."""
        p = self.progress
        bar = self.query_one("#progress", ProgressBar)
        if p.get("total"):
            bar.update(total=p["total"], progress=p["read"])
        rate = p["read"] / max(p["seconds"], 1e-3)
        left = (p["total"] - p["read"]) / rate if p.get("total") and rate else 0
        self.status(
            f"verifying: {human_size(p['read'])} of {human_size(p.get('total', 0))}, {int(p['members'])} blobs, "
            f"{human_size(rate)}/s, {left:.0f} s left (escape cancels)"
        )

    def _failed(self, message: str) -> None:
        self.error = message
        self.query_one("#progress", ProgressBar).display = False
        self.status(f"{self.mark.bad} {message}")

    def _damaged(self, damaged: DamagedParts) -> None:
        self.damaged = damaged.request
        self._failed(f"{damaged.diagnostics()}; w writes the re-request list")

    def _verified(self, judged: Verified, report: dict[str, object]) -> None:
        self.judged, self.report = judged, report
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
        files = judged.verdict.files
        shown = (
            f", {sum(1 for f in files if f.verified)} of {len(files)} file(s)"
            if files
            else ""
        )
        self.status(
            f"{mark} {passed} of {total} image(s){source}{shown} verified (policy: {judged.policy.name}){problems}"
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
                shown(row.reference, limit=200),
                shown(row.digest, limit=12),
                shown(row.platforms, limit=200),
                shown(row.reason),
                shown(row.signer, limit=200),
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
        key = event.row_key.value or "-1"
        if key.startswith(present.FILE_KEY):
            files = self.judged.verdict.files
            index = int(key.removeprefix(present.FILE_KEY))
            if 0 <= index < len(files):
                lines = present.file_detail(
                    files[index], self.judged.archive.contents, self.mark
                )
                self.push_screen(TextScreen(f"File: {files[index].name}", lines))
            return
        number = int(key)
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
        lines += present.controls_lines(
            self.judged.policy.name,
            self.judged.policy.approved_by,
            self.judged.revocations.to_json(self.judged.now),
        )
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

    def _write(self, answer: str | None, data: bytes, done: str) -> None:
        """Write ``data`` to the file the operator named (atomically); say so."""
        if not answer:
            return
        try:
            write_output(Path(answer), data)
        except ApplianceError as exc:
            self.status(f"{self.mark.bad} {exc.diagnostics()}")
            return
        self.status(f"{self.mark.ok} {done} {answer}")

    def action_save_report(self) -> None:
        """Save the JSON report (atomically)."""
        report = self.report
        if report is None:
            self.status("verify an archive first (v)")
            return
        data = json.dumps(report, indent=2).encode() + b"\n"
        self.push_screen(
            TextModal("Save the report to:", "airlock-report.json"),
            lambda answer: self._write(answer, data, "report written to"),
        )

    def action_write_request(self) -> None:
        """Write the re-request list (atomically), for ``bundle-tools export --resend``."""
        if self.damaged is None:
            self.status("no part arrived damaged: nothing to ask for again")
            return
        data = self.damaged.to_bytes()
        self.push_screen(
            TextModal("Write the re-request list to:", "REQUEST.json"),
            lambda answer: self._write(
                answer,
                data,
                "re-request list (carry it back to bundle-tools export --resend) written to",
            ),
        )

    def action_load(self) -> None:
        """Load the verified images into a registry, after a confirmation."""
        if self.judged is None:
            self.status("verify an archive first (v)")
            return
        if self.judged.policy.review:
            self.status(
                f"{self.mark.bad} no policy given: nothing can be loaded (start with --policy or signer flags)"
            )
            return

        def registry(answer: str | None) -> None:
            if answer:
                self._confirm_load(answer)

        self.push_screen(
            TextModal("Registry to load into (HOST:PORT[/PREFIX]):", self.session.to),
            registry,
        )

    def _confirm_load(self, to: str) -> None:
        judged = self.judged
        assert judged is not None  # noqa: S101 - the caller checked
        try:
            target, plan = plan_load(judged, to)
        except ApplianceError as exc:
            self.status(f"{self.mark.bad} {exc.diagnostics()}")
            return
        pushed = [
            *(f"{i.reference} -> {target.host}/{i.repository}" for i in plan.images),
            *(
                f"file:{f.name} -> {target.host}/{f.repository}:{f.tag or f.digest}"
                for f in plan.files
            ),
        ]

        def go(yes: bool | None) -> None:  # noqa: FBT001 - the dialog's answer
            if yes:
                self.status(f"pushing to {to} ...")
                self._load(judged, to)

        self.push_screen(
            ConfirmLoad(
                to,
                pushed,
                [*plan.refused, *(f"file:{n}" for n in plan.refused_files)],
                self.mark,
                held=len(plan.held),
            ),
            go,
        )

    @work(thread=True, exclusive=True, group="load")
    def _load(self, judged: Verified, to: str) -> None:
        try:
            loaded = push_verified(
                judged, to, self.session.access, Run(progress=_Progress(self))
            )
        except ApplianceError as exc:
            self.call_from_thread(
                self.status, f"{self.mark.bad} load failed: {exc.diagnostics()}"
            )
            return
        self.loaded = loaded
        pushed = loaded.pushed or {}
        self.call_from_thread(
            self.status,
            f"{self.mark.ok} pushed {len(loaded.plan.images)} image(s), "
            f"{len(loaded.plan.files)} file(s) to {loaded.target.host}: "
            f"{pushed.get('blobs_sent', 0)} blob(s) sent; k countersigns them",
        )

    def action_countersign(self) -> None:
        """Countersign what was just loaded with the HSM; the PIN in a masked field."""
        if self.loaded is None:
            self.status("load the verified images first (l), then countersign them (k)")
            return
        if self.session.countersign_key is None:
            self.status("start with --countersign-key KEY to countersign from here")
            return
        loaded = self.loaded

        def with_pin(pin: str | None) -> None:
            if pin:
                self.status("countersigning ...")
                self._countersign(loaded, pin)

        self.push_screen(
            TextModal("PIN for the HSM (not shown, not kept):", password=True), with_pin
        )

    @work(thread=True, exclusive=True, group="sign")
    def _countersign(self, loaded: Loaded, pin: str) -> None:
        signer = self.session.signer(pin)
        assert signer is not None  # noqa: S101 - the caller checked the key
        try:
            done = countersign(loaded, signer, self.session.access)
        except ApplianceError as exc:
            self.call_from_thread(self.status, f"{self.mark.bad} {exc.diagnostics()}")
            return
        self.call_from_thread(
            self.status,
            f"{self.mark.ok} countersigned {len(loaded.plan.images)} image(s): {len(done.written)} signature(s) written",
        )

    def action_extract(self) -> None:
        """Write the verified images as a new OCI layout (verified again, as the CLI's extract does)."""
        judged = self.judged
        if judged is None:
            self.status("verify an archive first (v)")
            return
        if judged.policy.review:
            self.status(
                f"{self.mark.bad} no policy given: nothing can be extracted (start with --policy or signer flags)"
            )
            return

        def to(answer: str | None) -> None:
            if answer:
                self.status(f"extracting to {answer} ...")
                self._extract(judged, Path(answer))

        self.push_screen(
            TextModal(
                "Write the verified layout to (a new directory):", "verified-layout"
            ),
            to,
        )

    @work(thread=True, exclusive=True, group="extract")
    def _extract(self, judged: Verified, to: Path) -> None:
        try:
            done = extract(
                ExtractRequest(verify=judged.request, to=to),
                Run(progress=_Progress(self), cancel=self.cancel),
            )
        except ApplianceError as exc:
            self.call_from_thread(
                self.status, f"{self.mark.bad} extract failed: {exc.diagnostics()}"
            )
            return
        mark = self.mark.ok if done.blobs is not None else self.mark.bad
        said = (
            f"wrote {len(done.plan.images)} verified image(s) to {to}"
            if done.blobs is not None
            else f"nothing written to {to}: no image passed"
        )
        self.call_from_thread(self.status, f"{mark} {said}")

    def action_trust_import(self) -> None:
        """Replay a TUF capsule (this archive's, or a directory) from the trust held, and commit it."""
        default = "" if self.archive is None else str(self.archive)

        def source(answer: str | None) -> None:
            if answer:
                self.status(f"importing trust from {answer} ...")
                self._trust_import(Path(answer))

        self.push_screen(
            TextModal(
                "Import trust from (a capsule directory or an archive):", default
            ),
            source,
        )

    @work(thread=True, exclusive=True, group="trust")
    def _trust_import(self, source: Path) -> None:
        request = TrustImportRequest(
            source=source,
            state_dir=self.session.state_dir,
            bootstrap_root=None,
            trust_max_age=self.session.verify.trust_max_age,
            via="tui",
        )
        try:
            imported = trust_import(request)
        except ApplianceError as exc:
            self.call_from_thread(
                self.status, f"{self.mark.bad} trust import failed: {exc.diagnostics()}"
            )
            return
        self.call_from_thread(
            self.status,
            f"{self.mark.ok} trust imported: root v{imported.state.root_version} from {imported.source}",
        )

    def action_audit(self) -> None:
        """Recent decisions, and whether the chain holds."""
        count, problem = check_chain(self.session.state_dir)
        head = (
            f"{self.mark.ok} chain holds: {count} line(s)"
            if problem is None
            else f"{self.mark.bad} line {problem.line} {problem.what}"
        )
        lines = [present.Line(head, failed=problem is not None), present.Line("")]
        lines += [
            present.Line(describe(entry))
            for entry in recent(self.session.state_dir, 50)
        ]
        self.push_screen(TextScreen("Audit log", lines))

    def action_help(self) -> None:
        """The keys."""
        self.push_screen(TextScreen("Help", HELP))

    def action_toggle_theme(self) -> None:
        """Light or dark."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_quit_app(self) -> None:
        """Quit; a running verification is cancelled first. The exit status is the verdict."""
        self.cancel.set()
        for worker in self.workers:
            worker.cancel()
        code = 0 if self.judged is not None and self.judged.verdict.verified else 1
        self.exit(code, return_code=code)
