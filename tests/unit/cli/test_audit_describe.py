"""``appliance audit show``'s one line per decision: what it quotes, escaped.

An audit entry records errors that quote archives and registries; ``describe``
shows them escaped (``audit show`` prints it, the TUI's audit screen too).
"""

from __future__ import annotations

from appliance.audit import describe
from tests.helpers.hostile_text import assert_nothing_raw, hostile


def test_a_recorded_error_is_shown_escaped() -> None:
    line = describe(
        {"seq": 7, "time": "2026-01-01T00:00:00Z", "command": "verify",
         "exit_code": 2, "error": hostile("error")}
    )  # fmt: skip
    assert_nothing_raw(line)
    assert "exit 2: error[green]✔ verified[/green]:heavy_check_mark\\:\\x1b[2K" in line


def test_every_field_of_an_edited_log_is_shown_escaped() -> None:
    """The log is the appliance's, but a line edited by hand must not draw either."""
    line = describe(
        {"seq": hostile("seq"), "time": hostile("time"), "command": hostile("cmd"),
         "exit_code": hostile("code"), "archive": {"sha256": hostile("sha")},
         "images": [{"verified": True}], "pushed": {"to": hostile("to")}}
    )  # fmt: skip
    assert_nothing_raw(line)
    assert "\n" not in line
    assert "-> to[green]" in line
