"""The in-process verification benchmark times ours and the peer's in alternating batches."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

from benchmarks.verify import CASES, _paired_ms, _paired_samples, measured

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


def test_each_side_keeps_every_batch_and_the_figures_are_its_fastest_and_median() -> (
    None
):
    """The verify section reports each side's fastest batch (noise only adds
    time) and, beside it, the median of the same batches."""
    durations = iter([0.004, 0.001, 0.002] * 10)

    def side() -> None:
        time.sleep(next(durations))

    samples = _paired_samples([side], iterations=1, rounds=5)
    assert len(samples) == 1
    assert len(samples[0]) == 5
    assert min(samples[0]) < statistics.median(samples[0]) < max(samples[0])
    assert min(samples[0]) >= 1.0  # ms: the 1 ms batch, never less


def test_the_floor_is_timed_in_the_same_batches_as_both_sides() -> None:
    kinds = measured(iterations=1, rounds=2)
    assert [k.label for k in kinds] == [c.label for c in CASES]
    for kind in kinds:
        assert 0 < kind.floor < kind.ours <= kind.ours_median
        assert 0 < kind.peer <= kind.peer_median
