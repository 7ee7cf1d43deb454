"""An RFC 6962 Merkle tree: leaf and node hashing, roots and inclusion proofs.

Written from RFC 6962 §2.1 (MTH and PATH), recursively, as the RFC states it;
deliberately not the iterative form a verifier uses, so the two cross-check.

A log only appends, so the root of a *complete* subtree (a power-of-two run
of leaves) never changes: ``memo`` may keep those by (first leaf, size), which
makes a log of tens of thousands of entries cheap without changing a single
hash the recursion computes.
"""

from __future__ import annotations

import hashlib


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def _mth(
    leaves: list[bytes], lo: int, n: int, memo: dict[tuple[int, int], bytes] | None
) -> bytes:
    """MTH(D[lo:lo+n])."""
    if n == 1:
        return leaves[lo]
    complete = n & (n - 1) == 0
    if complete and memo is not None and (lo, n) in memo:
        return memo[lo, n]
    k = _split(n)
    value = node_hash(_mth(leaves, lo, k, memo), _mth(leaves, lo + k, n - k, memo))
    if complete and memo is not None:
        memo[lo, n] = value
    return value


def root(
    leaves: list[bytes], memo: dict[tuple[int, int], bytes] | None = None
) -> bytes:
    """MTH(D[n]) over already-hashed leaves."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    return _mth(leaves, 0, len(leaves), memo)


def _path(
    index: int,
    leaves: list[bytes],
    lo: int,
    n: int,
    memo: dict[tuple[int, int], bytes] | None,
) -> list[bytes]:
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*_path(index, leaves, lo, k, memo), _mth(leaves, lo + k, n - k, memo)]
    return [*_path(index - k, leaves, lo + k, n - k, memo), _mth(leaves, lo, k, memo)]


def inclusion_proof(
    index: int, leaves: list[bytes], memo: dict[tuple[int, int], bytes] | None = None
) -> list[bytes]:
    """PATH(m, D[n]): the audit path for leaf ``index``, leaf to root."""
    n = len(leaves)
    if not 0 <= index < n:
        msg = f"leaf {index} is not in a tree of size {n}"
        raise ValueError(msg)
    return _path(index, leaves, 0, n, memo)
