"""The audit log's hash chain: every way a line can be edited, removed, reordered or torn."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from appliance.audit import GENESIS, AuditLog, check_chain, line_hash
from appliance.core.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    audit = AuditLog(tmp_path)
    for n in range(5):
        audit.append(
            "verify",
            {
                "images": [{"ref": f"app{n}", "verified": n % 2 == 0}],
                "exit_code": n % 2,
            },
        )
    return audit


def _lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().removesuffix(b"\n").split(b"\n")


def _write(log: AuditLog, lines: list[bytes], *, newline: bool = True) -> None:
    log.path.write_bytes(b"\n".join(lines) + (b"\n" if newline else b""))


def test_a_fresh_chain_holds_and_links_each_line_to_the_last(log: AuditLog) -> None:
    lines = _lines(log)
    assert check_chain(lines, complete=True) is None
    docs = [json.loads(line) for line in lines]
    assert [d["seq"] for d in docs] == [1, 2, 3, 4, 5]
    assert docs[0]["prev"] == GENESIS
    assert all(d["prev"] == line_hash(p) for d, p in zip(docs[1:], lines, strict=False))
    head = log.head()
    assert (head.seq, head.sha256) == (5, line_hash(lines[-1]))


def test_an_edited_line_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    lines[1] = lines[1].replace(b'"verified":false', b'"verified":true')
    _write(log, lines)
    count, problem = log.verify()
    assert count == 5
    assert problem is not None
    assert (problem.line, problem.torn) == (2, False)
    assert "edited" in problem.what


def test_a_removed_line_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    del lines[2]
    _write(log, lines)
    _, problem = log.verify()
    assert problem is not None
    assert problem.line == 3
    assert "says it is line 4" in problem.what


def test_a_reordered_pair_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    _, problem = log.verify()
    assert problem is not None
    assert problem.line == 2
    assert "removed or reordered" in problem.what


def test_renumbering_after_a_removal_still_breaks_the_chain(log: AuditLog) -> None:
    """An editor who fixes the numbers cannot fix the hashes."""
    docs = [json.loads(line) for line in _lines(log)]
    del docs[2]
    for seq, doc in enumerate(docs, 1):
        doc["seq"] = seq
    _write(
        log,
        [json.dumps(d, sort_keys=True, separators=(",", ":")).encode() for d in docs],
    )
    _, problem = log.verify()
    assert problem is not None
    assert problem.line == 2
    assert "edited" in problem.what


def test_a_removed_tail_is_caught_by_an_anchor(log: AuditLog) -> None:
    lines = _lines(log)
    anchor = line_hash(lines[-1])
    _write(log, lines[:-1])
    assert log.verify()[1] is None  # nothing inside the file shows it
    _, problem = log.verify([anchor])
    assert problem is not None
    assert "anchored line" in problem.what


def test_a_torn_tail_stops_appends_until_verify_sets_it_aside(log: AuditLog) -> None:
    data = log.path.read_bytes()
    log.path.write_bytes(data + b'{"v":1,"seq":6,"prev":"ab')  # a crash mid-write
    with pytest.raises(InputError, match="incomplete line"):
        log.append("verify", {"exit_code": 0})
    count, problem = log.verify()
    assert problem is not None
    assert (count, problem.line, problem.torn) == (6, 6, True)
    aside = list(log.path.parent.glob("audit.jsonl.torn-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == b'{"v":1,"seq":6,"prev":"ab'
    # The repair is itself a line of the chain, and appends go on.
    assert log.verify() == (6, None)
    repair = json.loads(_lines(log)[-1])
    assert repair["command"] == "audit-verify"
    assert repair["torn_line"]["bytes"] == 25
    head = log.append("verify", {"exit_code": 0})
    assert head.seq == 7
    assert log.verify() == (7, None)


def test_a_whole_last_line_without_its_newline_is_torn_too(log: AuditLog) -> None:
    _write(log, _lines(log), newline=False)
    _, problem = log.verify()
    assert problem is not None
    assert problem.torn
    assert problem.line == 5


def test_garbage_in_the_middle_is_an_edit_not_a_tear(log: AuditLog) -> None:
    lines = _lines(log)
    lines[0] = b"not json"
    _write(log, lines)
    _, problem = log.verify()
    assert problem is not None
    assert (problem.line, problem.torn) == (1, False)


def test_an_empty_log_holds(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    assert audit.verify() == (0, None)
    assert audit.head().sha256 == GENESIS
    assert audit.recent(5) == []


def test_recent_returns_the_last_decisions(log: AuditLog) -> None:
    assert [d["seq"] for d in log.recent(2)] == [4, 5]
