"""The verdict as a table on stderr: the CLI's rendering of a verification (``verify``, ``load``, ``extract``).

Every string from the archive (names, platforms, messages that quote a
ledger field or a certificate's SAN) goes through
:func:`~airlock_io.terminal.untrusted`: table cells as plain ``Text``
(never parsed as markup), printed lines as escaped markup. The first column
is the reference that was judged (the one the policy rule matched), not the
ledger's free-text "asked" name; the short digest and the verdict word never
wrap or shrink, so that two rows can always be told apart at 80 columns (the
free-text columns fold instead).
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from airlock_io.terminal import untrusted
from appliance.cli.long_table import LongTable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from appliance.actions.verify import Verified


def marks(console: Console) -> tuple[str, str]:
    """``✔``/``✖``, or ``OK``/``X`` where the terminal's encoding cannot show them."""
    encoding = (getattr(console.file, "encoding", None) or "ascii").lower()
    try:
        "✔✖".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "OK", "X"
    return "✔", "✖"


def _cell(text: str) -> Text:
    return Text(untrusted(text, markup=False))


_BATCH_ROWS = 500


def _table(
    rows: list[tuple[Text | str, ...]],
    title: str | None,
    *,
    batched: bool,
    header: bool,
    verdicts: int,
) -> Table:
    table = Table(title=title, expand=batched, show_header=header)
    fold = {"overflow": "fold", "ratio": 1} if batched else {"overflow": "fold"}
    table.add_column("image", **fold)
    table.add_column("digest", no_wrap=True, min_width=12)
    table.add_column("platforms", **fold)
    # As wide as the wider word, so that every batch lines up.
    table.add_column("verdict", no_wrap=True, min_width=verdicts)
    table.add_column("signer", **fold)
    table.add_column("signed at", **fold)
    table.add_column("reason", **fold)
    for row in rows:
        table.add_row(*row)
    return table


def _print_rows(
    console: Console,
    title: str,
    rows: Iterator[tuple[Text | str, ...]],
    count: int,
    verdicts: int,
) -> None:
    """The rows as one table, or past one batch as a table per batch.

    Rich lays a table out whole before printing it: tens of thousands of
    rows held several times over (#26: memory at 100,000 signatures). Past
    one batch the rows go out in tables of one batch each, every column
    sized by the terminal's width alone, so that the batches line up. Each
    is drawn by :class:`~appliance.cli.long_table.LongTable`: Rich's bytes,
    each distinct cell laid out once (1,000 rows of the verdict
    table: 0.4 s, Rich alone 1.26 s).
    """
    batched = count > _BATCH_ROWS

    def draw(batch: list[tuple[Text | str, ...]], *, first: bool) -> None:
        table = _table(
            batch,
            title if first else None,
            batched=batched,
            header=first,
            verdicts=verdicts,
        )
        console.print(LongTable(table))

    batch: list[tuple[Text | str, ...]] = []
    first = True
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH_ROWS:
            draw(batch, first=first)
            batch, first = [], False
    if batch or first:
        draw(batch, first=first)


def _rows(verified: Verified, ok: str, bad: str) -> Iterator[tuple[Text | str, ...]]:
    """Each image's row, then each file's, as the table shows them."""
    verdict = verified.verdict
    for image in verdict.images:
        signed = next((s for s in image.signatures if s.verified and s.satisfies), None)
        when = signed.result.signing_time if signed and signed.result else None
        platforms = (
            ", ".join(p for p, _, carried in image.platforms if carried) or "single"
        )
        yield (
            _cell(image.reference),
            _cell(image.digest[7:19]),
            _cell(platforms),
            f"{ok} verified" if image.verified else f"{bad} REFUSED",
            _cell((signed.signer or "") if signed else ""),
            when.strftime("%Y-%m-%d %H:%M") if when else "",
            _cell("" if image.verified else image.message),
        )
    # Files beside images, named file:NAME as the rules match them.
    for carried in verdict.files:
        signed = next(
            (s for s in carried.signatures if s.verified and s.satisfies), None
        )
        when = signed.result.signing_time if signed and signed.result else None
        yield (
            _cell(f"file:{carried.name}"),
            _cell(carried.blob[7:19]),
            "",
            f"{ok} verified" if carried.verified else f"{bad} REFUSED",
            _cell((signed.signer or "") if signed else ""),
            when.strftime("%Y-%m-%d %H:%M") if when else "",
            _cell("" if carried.verified else carried.message),
        )


def render_verdict(
    verified: Verified, report: dict[str, Any], file: IO[str] | None = None
) -> None:
    """The table and its summary lines (stderr unless ``file``)."""
    verdict, trust = verified.verdict, verified.trust
    console = Console(file=file or sys.stderr, highlight=False)
    ok, bad = marks(console)
    where = report["archive"]
    title = f"{untrusted(where['path'])} ({untrusted(where['exporter'])}, exported {where['export_time']})"
    _print_rows(
        console,
        title,
        _rows(verified, ok, bad),
        len(verdict.images) + len(verdict.files),
        max(len(f"{ok} verified"), len(f"{bad} REFUSED")),
    )
    console.print(
        f"trust: {untrusted(trust.source)}"
        + (f", stale since {trust.stale_since:%Y-%m-%d}" if trust.stale_since else "")
    )
    console.print(f"capsule: {untrusted(trust.capsule)}")
    # Revocation and two-person integrity, when in use (docs/revocation.md).
    if verified.policy.approved_by:
        console.print(
            f"policy approved by {', '.join(k[:16] for k in verified.policy.approved_by)}"
        )
    in_force = verified.revocations
    if in_force.policy_entries or in_force.feeds:
        feeds = "; ".join(
            f"feed {f.publisher} v{f.version}, {(verified.now - f.issued).days} days old"
            for f in in_force.feeds
        )
        console.print(
            untrusted(
                f"revocations: {in_force.policy_entries} policy deny entries"
                + (f"; {feeds}" if feeds else ""),
                markup=False,
            )
        )
    for note in in_force.notes:
        console.print(untrusted(f"revocations: {note}", markup=False))
    if (delta := verdict.ledger.delta_summary()) is not None:
        console.print(untrusted(delta))
    for problem in verdict.problems:
        console.print(f"{bad} archive: {untrusted(problem)}")
    passed = sum(1 for i in verdict.images if i.verified)
    console.print(f"{passed} of {len(verdict.images)} image(s) verified")
    if verdict.files:
        done = sum(1 for f in verdict.files if f.verified)
        console.print(f"{done} of {len(verdict.files)} file(s) verified")
    audit = report.get("audit")
    if isinstance(audit, dict):
        console.print(f"audit: line {audit['line']}, head {audit['sha256']}")
