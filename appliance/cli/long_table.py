"""A table of plain cells drawn exactly as Rich's ``Table`` draws it, each distinct cell laid out once.

Rich lays out every cell of a ``Table`` through its whole pipeline (padding,
wrapping, segments, cropping, alignment): about 1.2 ms a row for the verdict
table's seven columns, 12 s for an archive of 10,000 images, every second of
it after the last worker of ``--jobs`` has finished (#26). The rows of a long
table repeat most of their cells (the signer, the date, the verdict,
"single"), and a cell of plain text is laid out by ``Text.wrap`` alone.
:class:`LongTable` draws a table so: the column widths are Rich's own
(``Table._calculate_column_widths``), the title, header and borders are
drawn by Rich (a table of the same columns fixed at those widths, with no
rows), and each distinct cell of a column is wrapped once by ``Text.wrap``
with the options Rich's ``Text`` would pass it, padded and cropped as
``Padding`` and ``Segment.set_shape`` do. The output is Rich's own, byte for
byte, on a plain stream and on a colour terminal
(``tests/unit/cli/test_long_table.py`` compares the two for generated rows
at every width).

Only what that holds for is drawn here; any other table is handed to Rich
whole: a cell that is not a plain ``str`` or an unstyled ``Text``, a style on
the table, a column or a row, a vertical alignment other than the top, a
footer, lines between rows, a box whose verticals are blank, or a Rich
without the method the widths come from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.table import Column, Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult


class LongTable:
    """Draws ``table`` (a Rich renderable) as Rich would, faster when its cells are plain."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> RenderResult:
        """The table's lines: Rich's, or the same lines made here."""
        table = self.table
        widths_of = getattr(table, "_calculate_column_widths", None)
        if widths_of is None or not _plain_table(console, table):
            yield table
            return
        extra = table._extra_width  # noqa: SLF001 - the borders' width
        widths: list[int] = widths_of(
            console, options.update_width(options.max_width - extra)
        )
        # Rich's own corner cases: a table wider than the terminal (Rich
        # crops it), a column too narrow for its padding.
        fits = sum(widths) + extra <= options.max_width and min(widths) > 2  # noqa: PLR2004
        rows = _rows(console, table, options, widths) if fits else None
        if rows is None:  # a cell Rich must draw
            yield table
            return
        assert table.box is not None  # noqa: S101 - _plain_table checked it
        safe = console.safe_box if table.safe_box is None else table.safe_box
        box = table.box.substitute(options, safe=safe)
        if not table.show_header:
            box = box.get_plain_headed_box()
        # The title, the top border and the header (if any), as Rich draws
        # them: its own table of these columns at these widths, every line
        # but the last (the bottom border, drawn after the rows).
        frame = console.render(_frame(table, widths), options)
        for segments in list(Segment.split_lines(frame))[:-1]:
            yield from segments
            yield Segment.line()
        # Rich's first row of a table without a header takes the head's
        # verticals, its last the foot's (Table._render).
        for index, lines in enumerate(rows):
            if index == 0 and not table.show_header:
                left, right, divider = box.head_left, box.head_right, box.head_vertical
            elif index == len(rows) - 1:
                left, right, divider = box.foot_left, box.foot_right, box.foot_vertical
            else:
                left, right, divider = box.mid_left, box.mid_right, box.mid_vertical
            for cells in lines:
                yield Segment(left + divider.join(cells) + right)
                yield Segment.line()
        yield Segment(box.get_bottom(widths))
        yield Segment.line()


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
            width=width - 2,  # the padding of a cell, one space each side
        )
    return frame


def _rows(
    console: Console, table: Table, options: ConsoleOptions, widths: list[int]
) -> list[list[list[str]]] | None:
    """Each row's lines, each line its cells' text at their widths (None: a cell Rich must draw)."""
    per_column: list[list[list[str]]] = []
    for column, width in zip(table.columns, widths, strict=True):
        laid: dict[tuple[bool, str], list[str]] = {}
        cells: list[list[str]] = []
        for cell in column._cells:  # noqa: SLF001 - the cells as added, in order
            # A str is markup (Rich parses it), a Text is not: never one key.
            is_str = isinstance(cell, str)
            key = (
                is_str,
                cell if isinstance(cell, str) else getattr(cell, "plain", ""),
            )
            lines = laid.get(key)
            if lines is None:
                text = _as_text(console, options, column, cell)
                if text is None:
                    return None
                lines = _lay_out(console, column, width, text)
                laid[key] = lines
            cells.append(lines)
        per_column.append(cells)
    rows: list[list[list[str]]] = []
    blanks = [" " * width for width in widths]
    for row in zip(*per_column, strict=True):
        height = max(len(cell) for cell in row)
        rows.append(
            [
                [
                    cell[n] if n < len(cell) else blank
                    for cell, blank in zip(row, blanks, strict=True)
                ]
                for n in range(height)
            ]
        )
    return rows


def _as_text(
    console: Console, options: ConsoleOptions, column: Column, cell: object
) -> Text | None:
    """The cell as the ``Text`` Rich lays out, if it is plain (else None: Rich draws it)."""
    if isinstance(cell, str):
        # As Rich's console renders a str cell (Console.render).
        text = console.render_str(
            cell, highlight=column.highlight, markup=options.markup
        )
    elif type(cell) is Text:
        text = cell
    else:
        return None
    if (
        text.spans
        or text.style
        or text.end != "\n"
        or text.justify is not None
        or text.overflow is not None
        or text.no_wrap is not None
        or text.tab_size is not None
    ):
        return None
    return text


def _lay_out(console: Console, column: Column, width: int, text: Text) -> list[str]:
    """The cell's lines, each ``width`` cells wide, as Rich lays them out.

    ``Text.__rich_console__`` wraps the text with the column's options (the
    text has none of its own), ``Padding`` puts a space each side, and
    ``Segment`` crops or pads each line to the width.
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
    return [f" {set_cell_size(line.plain, inner)} " for line in wrapped]
