"""Strings an adversary writes where nothing signs, and what the operator must see instead.

:func:`hostile` is one string holding every trick at once: Rich markup that
draws a green "✔ verified", an emoji code, ANSI CSI (erase the line, return,
cursor up), OSC (window title, hyperlink), a C1 CSI, bidi overrides and
isolates, a zero-width space and a BOM. :func:`shown` is what
``airlock_io.terminal.untrusted`` must turn it into, written out by hand.
:func:`poison_ledger`, :func:`poison_asked` and :func:`poison_names` put such
strings, each with its own tag, into the ledger's free text, its "asked"
names and the names ``index.json`` claims; :func:`assert_nothing_raw` checks
a terminal's text for anything that would still be obeyed.
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


def poison_ledger(ledger: dict[str, Any], *, rogue: str) -> None:
    """Hostile strings in every free-text field of ``ledger`` that decides nothing.

    The exporter's name and version, the trust note and kind, where each
    related artifact was found and in which repository, platform names, and
    what was left out of the ``rogue`` image (digest): the ledger's words,
    which a face may show but no verdict rests on.
    """
    ledger["tool"] = {"name": hostile("tool"), "version": hostile("version")}
    ledger["trust"]["note"] = hostile("note")
    ledger["trust"]["kind"] = hostile("kind")
    for image in ledger["images"]:
        for related in image["related"]:
            related["found"] = hostile("found")
            related["repository"] = hostile("repository")
        for platform in image["platforms"]:
            platform["platform"] = hostile("platform")
        if image["digest"] == rogue:
            image["leftOut"] = [hostile("left-out")]


def poison_asked(ledger: dict[str, Any]) -> None:
    """Every image's "asked" (the exporter's free text) hostile: the ledger then lists names index.json does not."""
    for image in ledger["images"]:
        image["asked"] = hostile("asked")


def poison_names(index: dict[str, Any], *, digest: str) -> None:
    """The names ``index.json`` claims for the image ``digest`` (every annotation but its kind), hostile.

    The tag of each is the annotation's last word: ``reference``,
    ``repository``, ``name``. The image is then judged under that name (and
    refused: the ledger lists another).
    """
    entry = next(e for e in index["manifests"] if e["digest"] == digest)
    entry["annotations"] = {
        key: value if key == "dev.airlock.kind" else hostile(key.rsplit(".", 1)[-1])
        for key, value in entry["annotations"].items()
    }


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
