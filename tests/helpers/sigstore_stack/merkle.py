"""An RFC 6962 Merkle tree: leaf and node hashing, roots and inclusion proofs.

Written from RFC 6962 §2.1 (MTH and PATH), recursively, as the RFC states it;
deliberately not the iterative form a verifier uses, so the two cross-check.
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


def root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path for leaf ``index``, leaf to root."""
    n = len(leaves)
    if not 0 <= index < n:
        msg = f"leaf {index} is not in a tree of size {n}"
        raise ValueError(msg)
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]
