"""Strings an adversary writes where nothing signs, and what the operator must see instead.

:func:`hostile` is one string holding every trick at once: Rich markup that
draws a green "✔ verified", an emoji code, ANSI CSI (erase the line, return,
cursor up), OSC (window title, hyperlink), a C1 CSI, bidi overrides and
isolates, a zero-width space and a BOM. :func:`shown` is what
``airlock_io.terminal.untrusted`` must turn it into, written out by hand.
:func:`poison_ledger` puts such strings, each with its own tag, into every
ledger field a face shows; :func:`assert_nothing_raw` checks a terminal's
text for anything that would still be obeyed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Each piece, and its escape: kept side by side so that a reader can check them.
_PIECES = (
    ("[green]✔ verified[/green]", "[green]✔ verified[/green]"),
    (":heavy_check_mark:", ":heavy_check_mark\\:"),
    ("\x1b[2K\r", "\\x1b[2K\\x0d"),
    ("\x1b[1A", "\\x1b[1A"),
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    ("\x1b]8;;http://x.test\x07", "\\x1b]8;;http://x.test\\x07"),
    ("\x9b", "\\x9b"),
    ("\u202e\u2066", "\\u202e\\u2066"),
    ("\u200b\ufeff", "\\u200b\\ufeff"),
)
# The window title an OSC 0 above would set, if it reached a terminal.
TITLE = "owned"


def hostile(tag: str) -> str:
    """``tag``, then every trick."""
    return tag + "".join(raw for raw, _ in _PIECES)


def shown(tag: str) -> str:
    """What the operator sees of :func:`hostile` (``tag``)."""
    return tag + "".join(escaped for _, escaped in _PIECES)


# Ledger fields a face shows, by tag: (image, field) or a top-level field.
TAGS = (
    "tool",
    "version",
    "asked",
    "platform",
    "rogue-platform",
    "found",
    "repository",
    "left-out",
    "note",
    "kind",
)


def poison_ledger(
    ledger: dict[str, Any], *, rogue: str, multi: str, related: bool = True
) -> None:
    """Hostile strings in every shown field of ``ledger`` (image digests ``rogue``, ``multi``).

    The rogue image (refused: signed by someone else) gains a platform named
    with markup that draws "✔ verified"; the verdict must still say refused.
    Without ``related``, what was found about each image keeps its names (a
    load or an extract refuses a repository that is not one, before writing).
    """
    ledger["tool"] = {"name": hostile("tool"), "version": hostile("version")}
    ledger["trust"]["note"] = hostile("note")
    ledger["trust"]["kind"] = hostile("kind")
    for image in ledger["images"]:
        image["asked"] = hostile("asked")
        for found in image["related"] if related else ():
            found["found"] = hostile("found")
            found["repository"] = hostile("repository")
        if image["digest"] == multi:
            for platform in image["platforms"]:
                platform["platform"] = hostile("platform")
        if image["digest"] == rogue:
            image["platforms"] = [
                {
                    "platform": hostile("rogue-platform"),
                    "digest": rogue,
                    "included": True,
                    "reason": None,
                }
            ]
            image["leftOut"] = [hostile("left-out")]


_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs"}
_RAW = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def assert_nothing_raw(text: str) -> None:
    """No control but newline, no C1, no format or bidi character: nothing a terminal obeys.

    ``text`` is a screen's text, or a terminal's output with the program's own
    escape sequences taken out (tests.helpers.pty_run.Ran.plain).
    """
    raw = [c for c in text if c != "\n" and unicodedata.category(c) in _HIDDEN]
    assert raw == [], f"raw characters reached the terminal: {raw[:10]!r}"
    assert not _RAW.search(text)
