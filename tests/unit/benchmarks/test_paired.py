"""The in-process verification benchmark times ours and the peer's in alternating batches."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from benchmarks.verify import (
    CASES,
    _median_ratio,
    _paired_ms,
    _paired_samples,
    measured,
)

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


def test_the_ratio_is_the_median_of_each_round_s_pair() -> None:
    """A host that slows by 1.7x for whole rounds slows both batches of a
    round alike: each pair's ratio stays, and so does their median."""
    calls = [0]

    def side(ms: float) -> Callable[[], object]:
        def call() -> None:
            # Two warm-up calls, then two calls (one pair) per round.
            round_ = (calls[0] - 2) // 2
            calls[0] += 1
            time.sleep(ms * (1.7 if round_ in {1, 2, 4} else 1.0) / 1000)

        return call

    samples = _paired_samples([side(4.0), side(5.0)], iterations=1, rounds=6)
    assert [len(side) for side in samples] == [6, 6]
    assert max(samples[0]) > 1.5 * min(samples[0])  # the slow rounds were slow
    assert abs(_median_ratio(*samples) - 0.8) < 0.05


def test_the_floor_is_timed_in_the_same_batches_as_both_sides() -> None:
    kinds = measured(iterations=1, rounds=2)
    assert [k.label for k in kinds] == [c.label for c in CASES]
    for kind in kinds:
        assert 0 < kind.floor < kind.ours
        assert 0 < kind.floor_ratio < kind.ratio
        assert kind.peer > 0
