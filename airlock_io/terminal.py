"""Untrusted text, made safe to show on a terminal: the one function every face uses.

Strings from an archive (the ledger, ``index.json`` annotations, names), from
a registry (error bodies, names) and from certificates (SANs, issuers,
extensions) are the adversary's. Shown as they are, they can redraw the
screen: an escape sequence moves the cursor or sets the window title, a
bidi override reverses what follows (Trojan Source, CVE-2021-42574), Rich
markup (``[green]...``) and emoji codes (``:heavy_check_mark:``) turn a
refused image's row into a green tick. :func:`untrusted` renders one such
string so that the operator sees every character it holds, and nothing else.

It does not decide what is shown (the verdict does) and it never changes a
JSON document: JSON escaping is already exact and safe.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

DEFAULT_LIMIT = 256  # characters shown of one string (a table cell, a name)
LINE_LIMIT = 2048  # a whole line of ours quoting untrusted strings (an error line)
ELLIPSIS = "…"  # the marker of a string cut at the limit

# Categories never drawn as themselves: controls (C0, DEL, C1), format and
# bidi characters (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069, U+FEFF...),
# line and paragraph separators, lone surrogates (not encodable: a crash) and
# unassigned code points (a newer Unicode may make them format characters).
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})
_VARIANTS = ("-emoji", "-text")  # Rich's optional ``:name-emoji:`` suffixes
# A "[" with the backslashes before it, and the rest of a tag if Rich would
# read one there (rich.markup.RE_TAGS: a lower-case letter, #, / or @, then
# anything but "[" up to "]").
_BRACKET = re.compile(r"(\\*)(\[(?:[a-z#/@][^[]*?\])?)")


def _visible(char: str) -> str:
    r"""``char`` itself, or its escape (``\x1b``, ``\u202e``, ``\U000e0001``)."""
    if unicodedata.category(char) not in _HIDDEN:
        return char
    point = ord(char)
    if point <= 0xFF:  # noqa: PLR2004 - the \\xNN range
        return f"\\x{point:02x}"
    if point <= 0xFFFF:  # noqa: PLR2004 - the \\uNNNN range
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def _is_emoji_code(name: str) -> bool:
    """Whether Rich would draw ``:name:`` as a glyph (rich._emoji_replace)."""
    from rich._emoji_codes import EMOJI  # noqa: PLC0415 - only for text with two colons

    names = {name, *(name[: -len(v)] for v in _VARIANTS if name.endswith(v))}
    return any(n.lower() in EMOJI for n in names)


def _break_emoji_codes(pieces: list[str]) -> None:
    """Put a visible backslash before the closing colon of every emoji code.

    Rich replaces ``:name:`` (two colons, no whitespace between, ``name`` in
    its table) wherever it finds it; there is no escape for it. Every pair of
    consecutive colons is checked, not only those a left-to-right scan would
    take, because markup splits text into pieces that Rich scans separately.
    """
    colons = [i for i, piece in enumerate(pieces) if piece == ":"]
    for start, end in itertools.pairwise(colons):
        if _is_emoji_code("".join(pieces[start + 1 : end])):
            pieces[end] = "\\:"


def _escape_markup(text: str) -> str:
    r"""``text`` as Rich markup that renders exactly ``text``.

    ``rich.markup.escape`` escapes what looks like a tag but not a ``\[``
    elsewhere (Rich's renderer drops that backslash) nor a trailing
    backslash (which would escape the caller's next tag); here every "[" is
    escaped, so the text renders back unchanged, and :func:`untrusted` never
    leaves a backslash last.
    """

    def escape(match: re.Match[str]) -> str:
        backslashes, bracket = match.groups()
        if len(bracket) > 1:  # a tag: n backslashes render as n // 2, then the tag
            return f"{backslashes}{backslashes}\\{bracket}"
        return f"{backslashes}\\{bracket}"  # a bare "[": Rich drops one backslash

    return _BRACKET.sub(escape, text)


def untrusted(text: str, *, limit: int = DEFAULT_LIMIT, markup: bool = True) -> str:
    r"""Render one untrusted string for a terminal: every character visible, none obeyed.

    * Controls (C0 including ESC, CR, BS; DEL; C1 including NEL and CSI),
      format and bidi characters (U+202E, U+2066-U+2069, U+200B-U+200F,
      U+FEFF...), U+2028/U+2029, lone surrogates and unassigned code points
      become visible escapes: ``\x1b``, ``\u202e``, ``\U000e0001``. A bidi
      override reorders everything after it on the line (Trojan Source,
      CVE-2021-42574); an escape sequence moves the cursor, clears a line or
      sets the title.
    * An emoji code Rich would draw (``:heavy_check_mark:``) gets a visible
      backslash before its closing colon (``:heavy_check_mark\:``).
    * A string that ends in a backslash shows that last one as ``\x5c``, so
      that it cannot escape whatever the caller prints next.
    * Longer than ``limit`` characters (once escaped), it is cut and ends in
      ``…``.
    * With ``markup`` (the default), the result is Rich console markup whose
      rendering is exactly the text above: every ``[`` is escaped. Without
      it, the result is that text itself, for a plain stream, a
      ``rich.text.Text`` or a widget that parses no markup.

    Pure and total: any string, any ``limit`` (below 1 counts as 1).

    Args:
        text: the untrusted string.
        limit: the most characters shown.
        markup: escape Rich markup (for a string Rich or Textual will parse).

    Returns:
        What to print.
    """
    pieces = [_visible(char) for char in str(text)]
    if pieces.count(":") > 1:
        _break_emoji_codes(pieces)
    if pieces and pieces[-1] == "\\":
        pieces[-1] = "\\x5c"
    limit = max(limit, 1)
    if sum(map(len, pieces)) > limit:
        kept, used = [], 0
        for piece in pieces:
            if used + len(piece) > limit - len(ELLIPSIS):
                break
            kept.append(piece)
            used += len(piece)
        pieces = [*kept, ELLIPSIS]
    shown = "".join(pieces)
    return _escape_markup(shown) if markup else shown
