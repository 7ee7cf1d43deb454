"""The log memory: trimming past the cap, and split views recorded in one write."""

from __future__ import annotations

import base64
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.errors import SplitViewError
from appliance.core.tlog import SeenCheckpoint
from appliance.trust import memory
from appliance.trust.memory import Memory

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ORIGINS = ("rekor.example", "other.example")


def _root(n: int) -> bytes:
    return bytes([n]) * 32


def _b64(n: int) -> str:
    return base64.b64encode(_root(n)).decode()


def _cp(origin: str, size: int, root: int) -> SeenCheckpoint:
    return SeenCheckpoint(
        log_id=origin.encode().ljust(32, b"\x00"),
        origin=origin,
        size=size,
        root_hash=_root(root),
    )


def _reference_remember(
    doc: dict[str, Any], seen: list[SeenCheckpoint], cap: int
) -> tuple[bool, list[tuple[str, int, bytes, bytes]]]:
    """``Memory.remember`` as it was, a sort at every insert past the cap."""
    found: list[tuple[str, int, bytes, bytes]] = []
    changed = False
    for cp in seen:
        sizes: dict[str, str] = doc["checkpoints"].setdefault(cp.origin, {})
        root = base64.b64encode(cp.root_hash).decode()
        known = sizes.get(str(cp.size))
        if known is not None and known != root:
            found.append((cp.origin, cp.size, base64.b64decode(known), cp.root_hash))
            doc["split"][cp.log_id.hex()] = {
                "origin": cp.origin,
                "size": cp.size,
                "roots": [known, root],
                "detected_at": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            changed = True
            continue
        if known == root:
            continue
        sizes[str(cp.size)] = root
        changed = True
        if len(sizes) > cap:
            for old in sorted(sizes, key=int)[: len(sizes) - cap]:
                del sizes[old]
    return changed, found


def _remember_both(
    state: Path,
    seed: dict[str, dict[str, str]],
    seen: list[SeenCheckpoint],
    cap: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The log memory after ``remember``, and after the reference, from one seed."""
    # Written in the seed's own key order (not sorted): ties of int value
    # ("7", "07") are broken by that order.
    text = json.dumps({"version": 1, "checkpoints": seed, "split": {}}, indent=1)
    state.mkdir()
    (state / "logs.json").write_text(text)
    expected: dict[str, Any] = json.loads(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "MAX_CHECKPOINTS_PER_ORIGIN", cap)
        views = Memory(state).remember(seen, now=NOW)
    changed, found = _reference_remember(expected, seen, cap)
    assert [(v.origin, v.size, *v.roots) for v in views] == found
    written = (state / "logs.json").read_bytes()
    if changed:
        assert written == json.dumps(expected, indent=1, sort_keys=True).encode()
    else:
        assert written == text.encode()
    return json.loads(written), expected


def test_the_newest_sizes_are_kept_past_the_cap(tmp_path: Path) -> None:
    """The cap is read at call time: patched to 5, only the five largest stay."""
    seen = [_cp(ORIGINS[0], size, 1) for size in (9, 3, 12, 1, 7, 15, 2, 11, 4, 20)]
    got, _ = _remember_both(tmp_path / "state", {}, seen, cap=5)
    assert sorted(map(int, got["checkpoints"][ORIGINS[0]])) == [9, 11, 12, 15, 20]


def test_a_trimmed_size_seen_again_with_another_root_is_no_split_view(
    tmp_path: Path,
) -> None:
    """Trimmed at once, the size is forgotten: its next root is just remembered."""
    seen = [_cp(ORIGINS[0], size, 1) for size in (5, 6, 7)]
    seen += [_cp(ORIGINS[0], 1, 1), _cp(ORIGINS[0], 1, 2)]
    got, _ = _remember_both(tmp_path / "state", {}, seen, cap=3)
    assert got["split"] == {}
    assert sorted(map(int, got["checkpoints"][ORIGINS[0]])) == [5, 6, 7]


def test_keys_of_one_value_are_trimmed_in_file_order(tmp_path: Path) -> None:
    """A hand-edited file can hold "7" and "07": the earlier one goes first."""
    seed = {ORIGINS[0]: {"9": _b64(1), "07": _b64(1), "8": _b64(1), "007": _b64(1)}}
    got, _ = _remember_both(tmp_path / "state", seed, [_cp(ORIGINS[0], 7, 1)], cap=2)
    assert set(got["checkpoints"][ORIGINS[0]]) == {"9", "8"}
    got, _ = _remember_both(tmp_path / "again", seed, [_cp(ORIGINS[0], 7, 1)], cap=4)
    assert set(got["checkpoints"][ORIGINS[0]]) == {"9", "8", "007", "7"}


# Few sizes, so that inserts repeat them and seeds tie ("7", "07", "007").
_sizes = st.integers(0, 16)
_keys = st.builds(lambda n, pad: "0" * pad + str(n), _sizes, st.integers(0, 2))
_seeds = st.dictionaries(
    st.sampled_from(ORIGINS),
    st.dictionaries(_keys, st.sampled_from([1, 2]).map(_b64), max_size=12),
)
_inserts = st.lists(
    st.tuples(st.sampled_from(ORIGINS), _sizes, st.integers(1, 3)), max_size=60
)


@given(seed=_seeds, inserts=_inserts, cap=st.integers(0, 8))
def test_trimming_removes_what_a_sort_at_every_insert_would(
    seed: dict[str, dict[str, str]],
    inserts: list[tuple[str, int, int]],
    cap: int,
) -> None:
    """Out of order, repeated, re-rooted sizes; a seed already past the cap."""
    seen = [_cp(origin, size, root) for origin, size, root in inserts]
    with tempfile.TemporaryDirectory() as directory:
        got, expected = _remember_both(Path(directory) / "state", seed, seen, cap)
    assert got == expected


def _error(log: int, size: int, second_root: int) -> SplitViewError:
    return SplitViewError(
        "two trees of one size",
        log_id=bytes([log]) * 32,
        origin=f"log{log}.example",
        size=size,
        roots=(b"\x00" * 32, _root(second_root)),
    )


def _seeded(state: Path) -> Memory:
    mem = Memory(state)
    mem.remember([_cp(ORIGINS[0], 4, 1), _cp(ORIGINS[1], 8, 1)], now=NOW)
    mem.record_split(_error(9, 3, 9), now=datetime(2026, 11, 1, tzinfo=UTC))
    return mem


def test_record_splits_writes_what_record_split_one_by_one_would(
    tmp_path: Path,
) -> None:
    """The same log twice: the later record replaces the earlier, as before."""
    errors = [_error(1, 10, 2), _error(2, 20, 3), _error(1, 11, 4)]
    one_by_one = _seeded(tmp_path / "a")
    for error in errors:
        one_by_one.record_split(error, now=NOW)
    batched = _seeded(tmp_path / "b")
    batched.record_splits(errors, now=NOW)
    expected = one_by_one.logs_file.read_bytes()
    assert batched.logs_file.read_bytes() == expected
    assert json.loads(expected)["split"][(b"\x01" * 32).hex()]["size"] == 11


def test_record_splits_reads_and_writes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mem = _seeded(tmp_path / "state")
    writes: list[Path] = []
    write = memory._write

    def counted(path: Path, doc: dict[str, Any]) -> None:
        writes.append(path)
        write(path, doc)

    monkeypatch.setattr(memory, "_write", counted)
    mem.record_splits([_error(n, n, n) for n in range(1, 6)], now=NOW)
    assert writes == [mem.logs_file]
    assert len(mem.summary()["split_views"]) == 6


def test_record_splits_of_nothing_writes_nothing(tmp_path: Path) -> None:
    mem = Memory(tmp_path / "state")
    mem.record_splits([], now=NOW)
    assert not mem.logs_file.exists()
