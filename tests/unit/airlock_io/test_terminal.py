"""``airlock_io.terminal.untrusted``: every character shown, none obeyed.

Each hostile string a red team would put into a ledger, an annotation, a
registry's error body or a certificate's SAN, and what the operator sees;
then properties over every string: nothing hidden survives, Rich renders the
markup form back to exactly the plain form (no tag, no emoji code obeyed),
and the length is capped.
"""

from __future__ import annotations

import io
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from airlock_io.terminal import DEFAULT_LIMIT, ELLIPSIS, untrusted

HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"}


def _hidden(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in HIDDEN]


def _rendered(markup: str) -> str:
    """What a terminal Console (markup and emoji on) writes for ``markup``."""
    out = io.StringIO()
    console = Console(
        file=out,
        markup=True,
        emoji=True,
        highlight=False,
        color_system=None,
        width=10_000,
    )
    console.print(markup, end="", soft_wrap=True)
    return out.getvalue()


# -- what the operator sees -----------------------------------------------------

SHOWN = [
    # Rich markup: drawn literally.
    ("[green]✔ verified[/green]", "[green]✔ verified[/green]"),
    ("[link=http://x]ok[/link]", "[link=http://x]ok[/link]"),
    ("[bold][/]", "[bold][/]"),
    ("\\[green]x", "\\[green]x"),  # an escape of the adversary's own
    ("a\\[X", "a\\[X"),  # a backslash before a bare bracket, kept
    # Emoji codes: a visible backslash, no glyph.
    (":heavy_check_mark: verified", ":heavy_check_mark\\: verified"),
    (":HEAVY_CHECK_MARK:", ":HEAVY_CHECK_MARK\\:"),
    (":heavy_check_mark-emoji:", ":heavy_check_mark-emoji\\:"),
    (":white_check_mark::thumbs_up:", ":white_check_mark\\::thumbs_up\\:"),
    (":\u212aiss:", ":\u212aiss\\:"),  # KELVIN SIGN lower-cases to "k": :kiss:
    # Escape sequences: ESC and CR shown, the rest is text.
    ("\x1b[2K\r✔ verified", "\\x1b[2K\\x0d✔ verified"),
    ("\x1b[1A", "\\x1b[1A"),
    ("\x1b]0;t\x07", "\\x1b]0;t\\x07"),
    ("\x1b]8;;http://x\x07ok\x1b]8;;\x07", "\\x1b]8;;http://x\\x07ok\\x1b]8;;\\x07"),
    ("a\bb\x7f", "a\\x08b\\x7f"),
    ("tab\there\nnext", "tab\\x09here\\x0anext"),
    # C1 controls: CSI and NEL.
    ("\x9b2K", "\\x9b2K"),
    ("a\x85b", "a\\x85b"),
    # Bidi, zero-width and BOM.
    ("abc\u202efed", "abc\\u202efed"),
    ("\u2066x\u2069", "\\u2066x\\u2069"),
    ("a\u200bb\u200dc\u200fd", "a\\u200bb\\u200dc\\u200fd"),
    ("\ufeffbom", "\\ufeffbom"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("\U000e0041tag", "\\U000e0041tag"),
    ("soft\xadhyphen", "soft\\xadhyphen"),
    ("lone \ud800", "lone \\ud800"),
    # A trailing backslash cannot escape what the caller prints next.
    ("end\\", "end\\x5c"),
]


@pytest.mark.parametrize(("hostile", "shown"), SHOWN)
def test_hostile_text_is_shown_and_not_obeyed(hostile: str, shown: str) -> None:
    plain = untrusted(hostile, markup=False)
    assert plain == shown
    assert _rendered(untrusted(hostile)) == shown
    assert Text.from_markup(untrusted(hostile)).plain == shown


@pytest.mark.parametrize(
    "benign",
    [
        "127.0.0.1:5000/verify/app:v1",
        "registry.example/ns/app@sha256:" + "ab" * 32,
        "release@airlock.test",
        "https://oidc.airlock.test",
        "linux/arm64/v8",
        "café 日本",
    ],
)
def test_a_benign_string_is_unchanged(benign: str) -> None:
    assert untrusted(benign) == benign
    assert untrusted(benign, markup=False) == benign


def test_a_long_string_is_cut_with_a_visible_marker() -> None:
    shown = untrusted("x" * 1000, markup=False)
    assert len(shown) == DEFAULT_LIMIT
    assert shown.endswith(ELLIPSIS)
    assert untrusted("x" * 10, limit=10) == "x" * 10  # at the limit: whole


def test_an_escape_is_never_cut_in_half() -> None:
    shown = untrusted("ab\u202ecd", limit=5, markup=False)
    assert shown == "ab" + ELLIPSIS  # not "ab\u2" + marker


def test_a_limit_below_one_still_shows_the_marker() -> None:
    assert untrusted("abc", limit=0) == ELLIPSIS
    assert untrusted("abc", limit=-5, markup=False) == ELLIPSIS


def test_the_plain_form_escapes_no_markup() -> None:
    assert untrusted("[b]x[/b]", markup=False) == "[b]x[/b]"
    assert untrusted("[b]x[/b]") == "\\[b]x\\[/b]"


# -- for every string -------------------------------------------------------------

HOSTILE_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "\\",
        ":",
        "/",
        "=",
        "#",
        "@",
        "b",
        "bold",
        "green",
        "link=http://x",
        "heavy_check_mark",
        "smile",
        "-emoji",
        "-text",
        "\x1b",
        "\x9b",
        "\u202e",
        "\u200b",
        "\ufeff",
        " ",
        "✔",
    ]
)
TEXT = st.one_of(
    st.lists(HOSTILE_PIECES, max_size=40).map("".join),
    st.text(max_size=400),
)


@settings(max_examples=400, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=-2, max_value=300))
def test_nothing_hidden_survives_and_nothing_is_obeyed(text: str, limit: int) -> None:
    plain = untrusted(text, limit=limit, markup=False)
    markup = untrusted(text, limit=limit)
    assert _hidden(plain) == []
    assert _hidden(markup) == []
    assert len(plain) <= max(limit, 1)
    # No tag and no emoji code obeyed: Rich draws exactly the plain form.
    assert Text.from_markup(markup, emoji=True).plain == plain
    assert _rendered(markup) == plain


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_shown_twice_is_shown_once(text: str) -> None:
    once = untrusted(text, markup=False)
    assert untrusted(once, markup=False) == once
