"""A table of plain cells drawn exactly as Rich's ``Table`` draws it, each distinct cell laid out once.

Rich lays out every cell of a ``Table`` through its whole pipeline (padding,
wrapping, segments, cropping, alignment): about 1.2 ms a row for the verdict
table's seven columns, 12 s for an archive of 10,000 images, every second of
it after the last worker of ``--jobs`` has finished (#26). The rows of a long
table repeat most of their cells (the signer, the date, the verdict,
"single"), and a cell of plain text is laid out by ``Text.wrap`` alone.
:class:`LongTable` draws a table so: the column widths are Rich's own
(``Table._calculate_column_widths``, each distinct cell of a column measured
once), the title, header and borders are drawn by Rich (a table of the same
columns fixed at those widths, with no rows), and each distinct cell of a
column is wrapped once by ``Text.wrap`` with the options Rich's ``Text``
would pass it, padded and cropped as ``Padding`` and ``Segment.set_shape``
do, each line cut into segments where Rich cuts it (a style applied from
outside, a panel's or ``print``'s, codes each segment; on a console with no
colour system that does not record, where nothing can code them, a line is
one segment). Its measure is the table's. The
output is Rich's own, byte for byte, on a plain stream, on a colour terminal
and under an outer style (``tests/unit/cli/test_long_table.py`` compares the
two for generated rows at every width); a cell's markup error is the one Rich
raises first.

Only what that holds for is drawn here; any other table is handed to Rich
whole: a cell that is not a plain ``str`` or an unstyled ``Text`` or that
holds a zero-width joiner (Rich measures it with what follows it in its
segment), a style on the console, the table, a column or a row, a vertical
alignment other than the top, an ``ignore`` overflow, a footer, lines
between rows, a box whose verticals are blank, a column added after the
rows, or a Rich without the method the widths come from.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, TypeGuard

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.table import Column, Table
from rich.text import Text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.box import Box
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.measure import Measurement


_JOINER = "\u200d"


class LongTable:
    """Draws ``table`` (a Rich renderable) as Rich would, faster when its cells are plain."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_measure__(
        self, console: Console, options: ConsoleOptions
    ) -> Measurement:
        """The table's own measurement (what a panel or a column fits it to)."""
        return self.table.__rich_measure__(console, options)

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> RenderResult:
        """The table's lines: Rich's, or the same lines made here."""
        table = self.table
        if not hasattr(table, "_calculate_column_widths") or not _plain_table(
            console, table
        ):
            yield table
            return
        extra = table._extra_width  # noqa: SLF001 - the borders' width
        widths: list[int] = _distinct(table)._calculate_column_widths(  # noqa: SLF001
            console, options.update_width(options.max_width - extra)
        )
        # Rich's own corner cases: a table wider than the terminal (Rich
        # crops it), a column too narrow for its padding.
        if sum(widths) + extra > options.max_width or min(widths) <= 2:  # noqa: PLR2004
            yield table
            return
        # The title, the top border and the header (if any), as Rich draws
        # them: its own table of these columns at these widths, every line
        # but the last (the bottom border, drawn after the rows). Drawn
        # before the rows are laid out, as Rich does: a cell's markup error
        # is the same error, found in the same order (title, header, rows).
        frame = list(
            Segment.split_lines(console.render(_frame(table, widths), options))
        )
        rows = _rows(console, table, options, widths)
        if rows is None:  # a cell Rich must draw
            yield table
            return
        assert table.box is not None  # noqa: S101 - _plain_table checked it
        safe = console.safe_box if table.safe_box is None else table.safe_box
        box = table.box.substitute(options, safe=safe)
        if not table.show_header:
            box = box.get_plain_headed_box()
        for segments in frame[:-1]:
            yield from segments
            yield Segment.line()
        # Where no style can reach the output (no colour system, nothing
        # recorded: Style.render writes a segment's text alone), each line
        # goes out as one segment: print measures, crops and splits every
        # segment it gets, and 1,000 rows of the verdict table are 170,000
        # segments cut where Rich cuts them, 16,000 joined.
        joined = console.color_system is None and not console.record
        yield from _segments(
            _lines(box, rows, widths, header=table.show_header), joined=joined
        )
        yield Segment(box.get_bottom(widths))
        yield Segment.line()


def _distinct(table: Table) -> Table:
    """``table`` with each column's repeated cells dropped: what Rich's widths are made of, once.

    A column's width comes from the widest of its cells' measures (their
    minimum and maximum, ``Table._measure_column``), each cell padded alike
    (``_plain_table`` holds the padding fixed), so a cell measured once
    stands for its repeats: the verdict table's 1,000 rows measured 7,000
    cells, nearly all of them repeats. A str is one cell per string, a
    plain ``Text`` per text, any other renderable itself; the first of
    each is kept in order, so a cell that cannot be measured (a markup
    error) is the one Rich finds first.
    """
    measured = copy.copy(table)
    measured.columns = []
    for column in table.columns:
        kept: dict[tuple[object, ...], RenderableType] = {}
        for cell in column._cells:  # noqa: SLF001 - the cells as added, in order
            if isinstance(cell, str):
                key: tuple[object, ...] = (True, cell)
            elif _plain(cell):
                key = (False, cell.plain)
            else:
                key = (None, id(cell))
            kept.setdefault(key, cell)
        measured.columns.append(dataclasses.replace(column, _cells=list(kept.values())))
    return measured


def _lines(
    box: Box,
    rows: list[list[list[tuple[str, ...] | None]]],
    widths: list[int],
    *,
    header: bool,
) -> Iterator[list[str]]:
    """The rows' lines between the box's verticals, each line its segments' texts.

    Rich's first row of a table without a header takes the head's verticals,
    its last the foot's (``Table._render``). A line is cut into segments
    where Rich cuts it (border, padding, text, its padding to the width,
    padding, ...), so a style applied from outside (``print``'s ``style=``)
    codes it alike.
    """
    blanks = [" " * width for width in widths]
    for index, lines in enumerate(rows):
        if index == 0 and not header:
            left, right, divider = box.head_left, box.head_right, box.head_vertical
        elif index == len(rows) - 1:
            left, right, divider = box.foot_left, box.foot_right, box.foot_vertical
        else:
            left, right, divider = box.mid_left, box.mid_right, box.mid_vertical
        edges = [divider] * (len(widths) - 1) + [right]
        for cells in lines:
            line = [left]
            for cell, blank, edge in zip(cells, blanks, edges, strict=True):
                if cell is None:
                    line.append(blank)
                else:
                    line.append(" ")
                    line += cell
                    line.append(" ")
                line.append(edge)
            yield line


def _segments(lines: Iterator[list[str]], *, joined: bool) -> Iterator[Segment]:
    """Each line as Rich cuts it, or (``joined``) as one segment, then its end."""
    end = Segment.line()
    for line in lines:
        if joined:
            yield Segment("".join(line))
        else:
            for text in line:
                yield Segment(text)
        yield end


def _plain_table(console: Console, table: Table) -> bool:
    """Whether every line of ``table`` is plain text between its borders (else Rich draws it)."""
    box = table.box
    return (
        box is not None
        and bool(table.columns)
        and table.show_edge
        and table.width is None
        and table.min_width is None
        and not table.show_footer
        and not table.show_lines
        and not table.leading
        and not table.row_styles
        and not table.caption
        # Unstyled: each line is its text alone, whatever the terminal.
        and not console.get_style(table.style or "")
        and not console.get_style(table.border_style or "")
        and all(
            v.strip() for v in (box.head_vertical, box.mid_vertical, box.foot_vertical)
        )
        and table.padding == (0, 1, 0, 1)
        and table.pad_edge
        and not table.collapse_padding
        and all(
            c.vertical == "top" and not console.get_style(c.style or "")
            for c in table.columns
        )
        and not any(row.style or row.end_section for row in table.rows)
        # A column added after rows has fewer cells: Rich draws none.
        and all(len(c._cells) == len(table.rows) for c in table.columns)  # noqa: SLF001
        # Rich crops an "ignore" line by segment, where a zero-width joiner
        # measures otherwise than in set_cell_size.
        and all(c.overflow != "ignore" for c in table.columns)
        # A console's own style is applied to each of Rich's segments.
        and console.style is None
    )


def _frame(table: Table, widths: list[int]) -> Table:
    """A table of ``table``'s title and columns, no rows, each column fixed at its width."""
    frame = Table(
        title=table.title,
        title_style=table.title_style,
        title_justify=table.title_justify,
        box=table.box,
        safe_box=table.safe_box,
        show_header=table.show_header,
        header_style=table.header_style,
        border_style=table.border_style,
        style=table.style,
        highlight=table.highlight,
    )
    for column, width in zip(table.columns, widths, strict=True):
        frame.add_column(
            column.header,
            header_style=column.header_style,
            justify=column.justify,
            no_wrap=column.no_wrap,
            overflow=column.overflow,
            highlight=column.highlight,
            width=width - 2,  # the padding of a cell, one space each side
        )
    return frame


def _rows(
    console: Console, table: Table, options: ConsoleOptions, widths: list[int]
) -> list[list[list[tuple[str, ...] | None]]] | None:
    """Each row's lines, each line its cells' text (None: blank) at their widths (None: a cell Rich must draw).

    Row by row, as Rich renders them (a markup error is the same one Rich
    raises first). Each cell is checked; only its layout is remembered, by
    column, for a ``str`` (markup, the same for the same string in one
    column) or an unstyled ``Text`` (its plain text).
    """
    columns = table.columns
    laid: list[dict[tuple[bool, str], list[tuple[str, ...]]]] = [{} for _ in columns]
    rows: list[list[list[tuple[str, ...] | None]]] = []
    for at in range(len(table.rows)):
        row: list[list[tuple[str, ...]]] = []
        for column, width, memo in zip(columns, widths, laid, strict=True):
            cell = column._cells[at]  # noqa: SLF001 - the cells as added, in order
            if isinstance(cell, str):
                key = (True, cell)
            elif _plain(cell):
                key = (False, cell.plain)
            else:
                return None
            lines = memo.get(key)
            if lines is None:
                text = _as_text(console, options, column, cell)
                if text is None:
                    return None
                lines = _lay_out(console, column, width, text)
                memo[key] = lines
            row.append(lines)
        height = max(len(cell) for cell in row)
        rows.append(
            [
                [cell[n] if n < len(cell) else None for cell in row]
                for n in range(height)
            ]
        )
    return rows


def _plain(cell: object) -> TypeGuard[Text]:
    """Whether ``cell`` is a ``Text`` with nothing but its characters (no style, span or option)."""
    return (
        type(cell) is Text
        and not cell.spans
        and not cell.style
        and cell.end == "\n"
        and cell.justify is None
        and cell.overflow is None
        and cell.no_wrap is None
        and cell.tab_size is None
    )


def _as_text(
    console: Console, options: ConsoleOptions, column: Column, cell: str | Text
) -> Text | None:
    """The cell as the ``Text`` Rich lays out, if it is plain (else None: Rich draws it)."""
    if isinstance(cell, str):
        # As Rich's console renders a str cell (Console.render).
        text = console.render_str(
            cell, highlight=column.highlight, markup=options.markup
        )
        if not _plain(text):
            return None
    else:
        text = cell
    # Rich measures a zero-width joiner with what follows it in the same
    # segment (cell_len("\u200d ") is 0, of " \u200d  " 2): where a line is
    # cut into segments changes its width, so only Rich's own cuts hold.
    return None if _JOINER in text.plain else text


def _lay_out(
    console: Console, column: Column, width: int, text: Text
) -> list[tuple[str, ...]]:
    """The cell's lines inside its padding (``width - 2`` cells), as Rich lays them out.

    ``Text.__rich_console__`` wraps the text with the column's options (the
    text has none of its own), ``Segment`` crops or pads each line to the
    width, and ``Padding`` puts a space each side (where the line is drawn).
    """
    inner = width - 2
    wrapped = text.wrap(
        console,
        inner,
        justify=column.justify,
        overflow=column.overflow,
        tab_size=console.tab_size or 8,
        no_wrap=column.no_wrap,
    )
    lines: list[tuple[str, ...]] = []
    for line in wrapped:
        plain = line.plain
        short = inner - cell_len(plain)
        if short > 0:  # padded by a segment of its own (Segment.adjust_line_length)
            lines.append((plain, " " * short) if plain else (" " * short,))
        else:
            lines.append((set_cell_size(plain, inner),))
    return lines
