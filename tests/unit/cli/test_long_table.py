"""LongTable draws exactly what Rich's Table draws, or hands the table to Rich.

Every comparison renders the same ``Table`` object twice, once by Rich and
once through :class:`LongTable`, on a fresh console of the same kind: a plain
stream, a colour terminal, and (ASCII text only) a stream that cannot encode
box characters.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.errors import MarkupError
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from appliance.cli import render
from appliance.cli.long_table import LongTable

if TYPE_CHECKING:
    from collections.abc import Callable

CONSOLES: dict[str, Callable[[int], Console]] = {
    "plain": lambda width: Console(file=io.StringIO(), width=width, highlight=False),
    "terminal": lambda width: Console(
        file=io.StringIO(),
        width=width,
        force_terminal=True,
        color_system="truecolor",
        highlight=False,
    ),
}


def _ascii_console(width: int) -> Console:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="backslashreplace")
    return Console(file=stream, width=width, highlight=False)


def _drawn(console: Console, renderable: Any) -> str:
    console.print(renderable)
    stream = console.file
    if isinstance(stream, io.TextIOWrapper):
        stream.flush()
        raw = stream.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue().decode("ascii")
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def _same(table: Table, make: Callable[[int], Console], width: int) -> str:
    """Rich's drawing of ``table``, asserted equal to LongTable's (or the same refusal)."""
    try:
        want = _drawn(make(width), table)
    except MarkupError as refused:  # a str cell that is not markup: refused alike
        with pytest.raises(MarkupError, match=re.escape(str(refused))):
            _drawn(make(width), LongTable(table))
        return ""
    got = _drawn(make(width), LongTable(table))
    assert got == want
    return want


def _verdict_table(
    rows: list[tuple[Text | str, ...]],
    *,
    batched: bool,
    header: bool,
    title: str | None,
) -> Table:
    return render._table(
        rows, title, batched=batched, header=header, verdicts=len("✔ verified")
    )


def _row(i: int, *, verified: bool = True, reason: str = "") -> tuple[Text | str, ...]:
    return (
        Text(f"registry.example/team/app-{i}:v{i % 7}"),
        Text(f"{i:012x}"),
        Text("linux/amd64, linux/arm64" if i % 3 else "single"),
        "✔ verified" if verified else "✖ REFUSED",
        Text(f"signer-{i % 10}@airlock.test (https://oidc.airlock.test)"),
        "2026-11-01 12:00",
        Text(reason),
    )


# -- the same bytes --------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CONSOLES))
@pytest.mark.parametrize("width", [24, 40, 80, 81, 132, 200])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("header", [True, False])
def test_the_verdict_table_is_rich_s_own_at_every_width(
    kind: str, width: int, batched: bool, header: bool
) -> None:
    rows = [
        _row(
            i,
            verified=i % 4 != 0,
            reason="" if i % 4 else "no signature matched the policy",
        )
        for i in range(40)
    ]
    title = (
        "archive.tar.zst (bundle-tools 0.1.0, exported 2026-09-21T14:13:20Z)"
        if header
        else None
    )
    drawn = _same(
        _verdict_table(rows, batched=batched, header=header, title=title),
        CONSOLES[kind],
        width,
    )
    # The digest never wraps or shrinks: every row can be told apart.
    assert all(f"{i:012x}" in drawn for i in range(40))


@pytest.mark.parametrize("width", [30, 80, 120])
def test_an_ascii_only_stream_gets_rich_s_ascii_box(width: int) -> None:
    rows: list[tuple[Text | str, ...]] = [
        (
            Text(f"app-{i}"),
            Text(f"{i:012x}"),
            Text("single"),
            "OK verified",
            Text("ci"),
            "",
            Text(""),
        )
        for i in range(5)
    ]
    drawn = _same(
        _verdict_table(rows, batched=True, header=True, title="t"),
        _ascii_console,
        width,
    )
    assert "+" in drawn
    assert "┃" not in drawn


def test_no_rows_at_all_is_the_frame_alone() -> None:
    for header in (True, False):
        _same(
            _verdict_table(
                [], batched=True, header=header, title="empty" if header else None
            ),
            CONSOLES["plain"],
            80,
        )


def test_one_row_takes_the_head_s_verticals_without_a_header() -> None:
    _same(
        _verdict_table([_row(1)], batched=True, header=False, title=None),
        CONSOLES["plain"],
        80,
    )


# Text a cell may hold: words, long words, wide (CJK) and emoji characters,
# combining marks, tabs, newlines, markup and emoji codes (in a str cell, Rich
# parses them; in a Text, not).
_pieces = st.sampled_from(
    [
        "a", "image", " ", "  ", "registry.example/a/b/c/d/e/f/g:v1.2.3-rc.4",
        "漢字", "カタカナ", "😀", "👩‍💻", "e\u0301", "\t", "\n", "[bold]x[/bold]", ":smile:",
        "[", "]", "\\", "sha256:" + "0" * 64, "—", "…",
    ]
)  # fmt: skip
_texts = st.lists(_pieces, max_size=8).map("".join)
_cells = st.one_of(_texts.map(Text), _texts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(*[_cells] * 7), max_size=6),
    width=st.integers(min_value=10, max_value=160),
    batched=st.booleans(),
    header=st.booleans(),
    kind=st.sampled_from(sorted(CONSOLES)),
)
def test_any_cells_at_any_width_are_drawn_as_rich_draws_them(
    rows: list[tuple[Text | str, ...]],
    width: int,
    batched: bool,
    header: bool,
    kind: str,
) -> None:
    title = "a title wider than some terminals, with 漢字" if header else None
    _same(
        _verdict_table(rows, batched=batched, header=header, title=title),
        CONSOLES[kind],
        width,
    )


# Cells that repeat, and cells that look alike: one text as a str (markup,
# emoji codes), as a plain Text and as a styled Text (with those two, Rich
# draws the table itself).
_alike = st.sampled_from(
    [
        ":smile: :smile: :smile:", Text(":smile: :smile: :smile:"),
        "[bold]wide wide[/bold]", Text("[bold]wide wide[/bold]"), "wide wide",
        Text("wide wide"), Text("wide wide", style="bold"), "漢字 漢字 漢字",
        Text("漢字 漢字 漢字"), "a", Text("a"), "",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(*[_alike] * 7), min_size=1, max_size=12),
    width=st.integers(min_value=10, max_value=120),
    batched=st.booleans(),
    kind=st.sampled_from(sorted(CONSOLES)),
)
def test_a_repeated_cell_is_measured_once_to_the_same_widths(
    rows: list[tuple[Text | str, ...]], width: int, batched: bool, kind: str
) -> None:
    """Widths come from each distinct cell once: a str, a plain Text and a styled Text of one text are three."""
    _same(
        _verdict_table(rows, batched=batched, header=True, title=None),
        CONSOLES[kind],
        width,
    )


@pytest.mark.parametrize("kind", sorted(CONSOLES))
@pytest.mark.parametrize("first", ["str", "text"])
def test_a_str_and_a_text_of_one_text_are_measured_apart(kind: str, first: str) -> None:
    """``:smile:`` is an emoji in a str cell and seven characters in a Text: two widths."""
    table = Table()
    table.add_column("a")
    table.add_column("b")
    cells: list[Text | str] = [
        ":smile: :smile: :smile:",
        Text(":smile: :smile: :smile:"),
    ]
    for cell in cells if first == "str" else cells[::-1]:
        table.add_row(cell, "x")
        table.add_row(cell, "y")
    assert ":smile: :smile: :smile:" in _same(table, CONSOLES[kind], 80)


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(_texts, _texts), min_size=1, max_size=5),
    width=st.integers(min_value=4, max_value=100),
    justify=st.sampled_from(["left", "center", "right", "full", "default"]),
    overflow=st.sampled_from(["fold", "crop", "ellipsis"]),
    no_wrap=st.booleans(),
)
def test_any_column_options_are_drawn_as_rich_draws_them(
    rows: list[tuple[str, str]],
    width: int,
    justify: Any,
    overflow: Any,
    no_wrap: bool,
) -> None:
    table = Table()
    table.add_column("left", justify=justify, overflow=overflow, no_wrap=no_wrap)
    table.add_column("right", overflow="fold", ratio=1, min_width=3)
    for a, b in rows:
        table.add_row(Text(a), b)
    _same(table, CONSOLES["plain"], width)


def _nested(table: Any) -> Table:
    outer = Table("outer")
    outer.add_row(table)
    return outer


_OUTER: dict[str, Callable[[Any], Any]] = {
    "panel-style": lambda table: Panel(table, style="red"),
    "panel-fit": Panel.fit,
    "nested": _nested,
}


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(_cells, _cells, _cells), min_size=1, max_size=5),
    width=st.integers(min_value=20, max_value=120),
    justify=st.sampled_from(["left", "center", "right", "default"]),
    outer=st.sampled_from([*sorted(_OUTER), "print-style", "console-style"]),
    kind=st.sampled_from(["terminal", "plain", "recorded"]),
)
def test_a_style_or_a_measure_from_outside_meets_rich_s_segments(
    rows: list[tuple[Text | str, ...]], width: int, justify: Any, outer: str, kind: str
) -> None:
    """A style from outside codes every segment: LongTable cuts its lines where Rich does.

    On a plain stream it joins each line (no style is written there); a
    console that records keeps every segment's style for its exports, so it
    gets Rich's cuts, as a terminal does.
    """

    def table() -> Table:
        drawn = Table(title="t")
        drawn.add_column("a", justify=justify, no_wrap=True)
        drawn.add_column("b", justify="center")
        drawn.add_column("c")
        for row in rows:
            drawn.add_row(*row)
        return drawn

    def make(renderable: Any) -> str:
        console = Console(
            file=io.StringIO(),
            width=width,
            force_terminal=kind == "terminal",
            color_system="truecolor" if kind == "terminal" else None,
            record=kind == "recorded",
            style="on blue" if outer == "console-style" else None,
        )
        wrap = _OUTER.get(outer, lambda inner: inner)
        try:
            console.print(
                wrap(renderable), style="on blue" if outer == "print-style" else None
            )
        except MarkupError as refused:
            return f"refused: {refused}"
        assert isinstance(console.file, io.StringIO)
        if kind == "recorded":
            # Each segment coded (styles=True codes one by one; the HTML
            # export merges equal neighbours first).
            return console.export_text(clear=False, styles=True) + console.export_html()
        return console.file.getvalue()

    assert make(LongTable(table())) == make(table())


def test_a_table_expanded_and_centred_is_measured_as_rich_measures_it() -> None:
    def make(wrap: Callable[[Table], Any]) -> str:
        table = Table(expand=True)
        table.add_column("a")
        table.add_row("x")
        console = CONSOLES["plain"](40)
        console.print(wrap(table), justify="center")
        assert isinstance(console.file, io.StringIO)
        return console.file.getvalue()

    assert make(LongTable) == make(lambda table: table)


@pytest.mark.parametrize(
    ("first", "later"),
    [
        pytest.param(Text("x"), Text("x", justify="right"), id="same-text-justified"),
        pytest.param(Text("x"), Text("x", style="red"), id="same-text-styled"),
        pytest.param(Text(""), Panel("hi"), id="empty-text-then-a-panel"),
        pytest.param(Text("[b]x"), "[b]x", id="text-then-the-same-str"),
        pytest.param("x", Text("x", overflow="ellipsis"), id="str-then-text"),
    ],
)
def test_a_cell_like_an_earlier_one_is_still_checked_itself(
    first: Any, later: Any
) -> None:
    """Only a layout is remembered, never that a cell was plain: each cell is checked."""
    table = Table()
    table.add_column("a", width=8)
    table.add_row(first)
    table.add_row(later)
    _same(table, CONSOLES["terminal"], 40)


def test_a_column_added_after_the_rows_is_drawn_as_rich_draws_it() -> None:
    table = Table()
    table.add_column("a")
    table.add_row("x")
    table.add_column("b")
    _same(table, CONSOLES["plain"], 40)


@pytest.mark.parametrize(
    ("table_highlight", "column_highlight"), [(False, True), (True, False)]
)
def test_a_column_s_own_highlighting_is_rich_s(
    table_highlight: bool, column_highlight: bool
) -> None:
    table = Table(highlight=table_highlight)
    table.add_column("n 123", highlight=column_highlight)
    table.add_row(Text("abc 456"))
    _same(table, CONSOLES["terminal"], 40)


def test_markup_is_refused_with_the_error_rich_finds_first() -> None:
    """A fixed width is not measured: Rich meets the header's markup before the rows'."""
    table = Table()
    table.add_column("[/]", width=5)
    table.add_row("ab[/]")
    for drawn in (table, LongTable(table)):
        with pytest.raises(MarkupError, match="'\\[/\\]' at position 0 "):
            _drawn(CONSOLES["plain"](40), drawn)


@pytest.mark.parametrize("overflow", ["ignore", "fold", "crop", "ellipsis"])
@pytest.mark.parametrize("cell", ["\u200dx] ", Text("a\u200d b"), "👩‍💻 dev"])
def test_a_zero_width_joiner_is_drawn_by_rich(overflow: Any, cell: Any) -> None:
    """Rich measures a joiner with what follows it in its segment: only its own cuts hold."""
    table = Table(show_header=False)
    table.add_column(overflow=overflow)
    table.add_row(cell)
    _handed_to_rich(table, width=5)
    _handed_to_rich(table, width=40)


# -- handed to Rich ----------------------------------------------------------------


def _handed_to_rich(table: Table, width: int = 80) -> None:
    console = CONSOLES["terminal"](width)
    assert list(LongTable(table).__rich_console__(console, console.options)) == [table]
    _same(table, CONSOLES["terminal"], width)


def _simple(**kwargs: Any) -> Table:
    table = Table(**kwargs)
    table.add_column("a")
    table.add_column("b")
    table.add_row("x", Text("y"))
    table.add_row("z", Text("w"))
    return table


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(Text("styled", style="bold red"), id="text-style"),
        pytest.param(Text.assemble(("part", "green"), " plain"), id="text-spans"),
        pytest.param("[bold]markup[/bold]", id="str-markup"),
        pytest.param(Text("x", justify="right"), id="text-justify"),
        pytest.param(Text("x", overflow="ellipsis"), id="text-overflow"),
        pytest.param(Text("x", no_wrap=True), id="text-no-wrap"),
        pytest.param(Text("x", tab_size=2), id="text-tab-size"),
        pytest.param(Text("x", end=""), id="text-end"),
        pytest.param(Panel("boxed"), id="another-renderable"),
    ],
)
def test_a_cell_that_is_not_plain_is_drawn_by_rich(cell: Any) -> None:
    table = Table()
    table.add_column("a")
    table.add_column("b")
    table.add_row("plain", Text("plain"))
    table.add_row(cell, Text("after"))
    _handed_to_rich(table)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"style": "on blue"}, id="table-style"),
        pytest.param({"border_style": "red"}, id="border-style"),
        pytest.param({"row_styles": ["", "dim"]}, id="row-styles"),
        pytest.param({"show_lines": True}, id="lines-between-rows"),
        pytest.param({"leading": 1}, id="leading"),
        pytest.param({"show_footer": True}, id="footer"),
        pytest.param({"caption": "below"}, id="caption"),
        pytest.param({"show_edge": False}, id="no-edge"),
        pytest.param({"box": None}, id="no-box"),
        pytest.param({"width": 30}, id="fixed-width"),
        pytest.param({"min_width": 60}, id="min-width"),
        pytest.param({"padding": (0, 2)}, id="padding"),
        pytest.param({"pad_edge": False}, id="no-edge-padding"),
        pytest.param({"collapse_padding": True}, id="collapsed-padding"),
    ],
)
def test_a_table_option_long_table_does_not_draw_hands_it_to_rich(
    kwargs: dict[str, Any],
) -> None:
    _handed_to_rich(_simple(**kwargs))


def test_a_table_without_columns_is_drawn_by_rich() -> None:
    _handed_to_rich(Table(title="nothing"))


def test_a_table_asking_for_a_safe_box_gets_it() -> None:
    from rich import box  # noqa: PLC0415

    table = _simple(box=box.HEAVY_HEAD, safe_box=True, title="safe")
    _same(table, CONSOLES["terminal"], 40)
    _same(table, _ascii_console, 40)


def test_a_blank_vertical_box_is_drawn_by_rich() -> None:
    from rich import box  # noqa: PLC0415

    _handed_to_rich(_simple(box=box.SIMPLE))


def test_a_styled_column_is_drawn_by_rich() -> None:
    table = _simple()
    table.columns[1].style = "italic"
    _handed_to_rich(table)


def test_a_column_aligned_other_than_at_the_top_is_drawn_by_rich() -> None:
    table = _simple()
    table.columns[0].vertical = "middle"
    _handed_to_rich(table)


def test_a_styled_row_and_a_section_end_are_drawn_by_rich() -> None:
    table = _simple()
    table.add_row("s", Text("t"), style="bold")
    _handed_to_rich(table)
    table = _simple()
    table.add_row("s", Text("t"), end_section=True)
    table.add_row("u", Text("v"))
    _handed_to_rich(table)


def test_a_column_too_narrow_for_its_padding_is_drawn_by_rich() -> None:
    table = Table()
    for name in "abcdefgh":
        table.add_column(name)
    table.add_row(*["word"] * 8)
    _handed_to_rich(table, width=12)


def test_a_rich_without_the_widths_method_draws_the_table_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(Table, "_calculate_column_widths")
    table = _simple()
    console = CONSOLES["plain"](80)
    assert list(LongTable(table).__rich_console__(console, console.options)) == [table]


# -- the verdict table's batches ----------------------------------------------------


def _printed(rows: list[tuple[Text | str, ...]], verdicts: int, width: int = 80) -> str:
    console = CONSOLES["plain"](width)
    render._print_rows(console, "title", iter(rows), len(rows), verdicts)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_batches_are_rich_s_tables_batch_by_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [_row(i, verified=i % 5 != 0) for i in range(render._BATCH_ROWS + 17)]
    got = _printed(rows, 10)
    monkeypatch.setattr(render, "LongTable", lambda table: table)
    assert got == _printed(rows, 10)


def test_batches_line_up_whichever_marks_the_terminal_shows() -> None:
    """With ASCII marks "OK verified" is the wider word: a batch of refusals alone is as wide."""
    ok, bad = "OK", "X"
    verdicts = max(len(f"{ok} verified"), len(f"{bad} REFUSED"))
    rows: list[tuple[Text | str, ...]] = []
    rows.extend(
        (
            Text(f"app-{i}"),
            Text(f"{i:012x}"),
            Text("single"),
            f"{ok} verified",
            Text(""),
            "",
            Text(""),
        )
        for i in range(render._BATCH_ROWS)
    )
    rows.extend(
        (
            Text(f"app-{i}"),
            Text(f"{i:012x}"),
            Text("single"),
            f"{bad} REFUSED",
            Text(""),
            "",
            Text("why"),
        )
        for i in range(3)
    )
    lines = [
        line
        for line in _printed(rows, verdicts, width=100).splitlines()
        if line[:1] in "┏┃┡│└┌"
    ]
    assert len({len(line) for line in lines}) == 1
    dividers = {
        tuple(i for i, c in enumerate(line[1:-1]) if c in "┃│┳┴┬╇┼") for line in lines
    }
    assert len(dividers) == 1
