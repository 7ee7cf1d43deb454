"""The in-process verification benchmark times ours and the peer's in alternating batches."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from benchmarks import verify
from benchmarks.verify import CASES, _median_ratio, _paired_ms, _paired_samples

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


def test_the_ratio_is_the_median_of_each_round_s_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host that slows by 1.7x for whole rounds slows both batches of a
    round alike: each pair's ratio stays, and so does their median. (A fake
    clock: each call advances it by its side's cost, times the round's.)"""
    now = [0.0]
    calls = [0]

    def side(ms: float) -> Callable[[], object]:
        def call() -> None:
            # Two warm-up calls, then two calls (one pair) per round.
            round_ = (calls[0] - 2) // 2
            calls[0] += 1
            now[0] += ms * (1.7 if round_ in {1, 2, 4} else 1.0) / 1000

        return call

    monkeypatch.setattr(verify, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    samples = _paired_samples([side(4.0), side(5.0)], iterations=1, rounds=6)
    assert [len(side) for side in samples] == [6, 6]
    assert max(samples[0]) == pytest.approx(1.7 * min(samples[0]))
    assert _median_ratio(*samples) == pytest.approx(0.8)


def test_each_kind_is_three_sides_of_one_alternation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ours, the peer's and the floor are timed in the same rounds; the
    figures are their medians and the ratios the medians of each round's
    ratio (not the ratio of the medians)."""
    timed: list[int] = []

    def samples(
        fns: list[Callable[[], object]], *, iterations: int, rounds: int
    ) -> list[list[float]]:
        timed.append(len(fns))
        assert (iterations, rounds) == (10, 60)
        return [[1.0, 4.0, 2.0], [2.0, 4.0, 5.0], [0.5, 1.0, 2.5]]

    monkeypatch.setattr(verify, "_paired_samples", samples)
    kinds = verify.measured()
    assert [k.label for k in kinds] == [c.label for c in CASES]
    assert timed == [3] * len(CASES)
    for kind in kinds:
        assert (kind.ours, kind.peer, kind.floor) == (2.0, 4.0, 1.0)
        assert (
            kind.ratio == 0.5
        )  # median of 0.5, 1.0, 0.4; the medians' ratio is also 0.5
        assert kind.floor_ratio == 0.25  # median of 0.25, 0.25, 0.5


def test_every_kind_is_measured_for_real() -> None:
    """One short real run: every side runs and yields a time (no comparison
    of times here: a loaded machine may put any batch above another)."""
    for kind in verify.measured(iterations=1, rounds=2):
        assert min(kind.ours, kind.peer, kind.floor, kind.ratio, kind.floor_ratio) > 0
