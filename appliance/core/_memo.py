"""Memoizing a function of loaded trust material by the object, not by its hash.

``functools.lru_cache`` hashes its argument on every call. A trusted root's
certificate hashes its whole DER (2 us a call, with ``cryptography`` 50), an
authority every certificate of its chain: more than what the memo saves on
some calls, and paid per bundle. Trust material is loaded once and never
changes, so the object itself is the key: its identity, checked against the
object the memo holds (which keeps it alive, so that no other object can
take its ``id`` while it is remembered).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

_K = TypeVar("_K")
_V = TypeVar("_V")


def by_identity(maxsize: int) -> Callable[[Callable[[_K], _V]], Callable[[_K], _V]]:
    """Remember ``fn(arg)`` for the last ``maxsize`` distinct objects ``arg``.

    ``fn`` must be a pure function of an immutable ``arg``. When full, the
    memo starts again (trust material holds a handful of such objects).
    """

    def decorate(fn: Callable[[_K], _V]) -> Callable[[_K], _V]:
        memo: dict[int, tuple[_K, _V]] = {}

        @functools.wraps(fn)
        def remembered(arg: _K) -> _V:
            hit = memo.get(id(arg))
            if hit is not None and hit[0] is arg:
                return hit[1]
            value = fn(arg)
            if len(memo) >= maxsize:
                memo.clear()
            memo[id(arg)] = (arg, value)  # a race only computes twice
            return value

        return remembered

    return decorate
