"""The in-process verification benchmark times ours and the peer's in alternating batches."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from benchmarks.verify import _paired_ms

if TYPE_CHECKING:
    from collections.abc import Callable


def test_batches_alternate_and_every_side_gets_the_same_calls() -> None:
    calls: list[str] = []

    def side(name: str) -> Callable[[], object]:
        return lambda: calls.append(name)

    figures = _paired_ms([side("a"), side("b")], iterations=3, rounds=4)
    assert len(figures) == 2
    assert all(f >= 0 for f in figures)
    warm, timed = calls[:2], calls[2:]
    assert warm == ["a", "b"]
    batches = [timed[i : i + 3] for i in range(0, len(timed), 3)]
    # a then b, then b then a: a drift in load falls on both sides alike.
    assert [b[0] for b in batches] == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(len(set(b)) == 1 for b in batches)
    assert calls.count("a") == calls.count("b") == 1 + 3 * 4


def test_a_slower_side_measures_slower() -> None:
    fast, slow = _paired_ms(
        [lambda: None, lambda: time.sleep(0.002)], iterations=2, rounds=3
    )
    assert slow > 1.5  # ms per call
    assert fast < slow / 10
