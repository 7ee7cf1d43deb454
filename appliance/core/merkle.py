"""RFC 6962 / RFC 9162 Merkle inclusion proofs (verification only).

The decomposition algorithm of transparency-dev/merkle (docs/verification.md §5):
the proof splits into an inner part, where the path depends on the leaf
index, and a border part, where it always hashes from the right.
"""

from __future__ import annotations

import hashlib

from appliance.core.errors import Reason, VerificationError

_HASH_SIZE = 32  # SHA-256


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(
    leaf: bytes, index: int, size: int, proof: tuple[bytes, ...]
) -> bytes:
    """Compute the root that ``proof`` implies for ``leaf`` at ``index`` of ``size``.

    Raises:
        VerificationError: the proof cannot belong to that index and size.
    """
    if not 0 <= index < size:
        msg = f"leaf index {index} is outside a tree of size {size}"
        raise VerificationError(msg, reason=Reason.INCLUSION_PROOF_INVALID)
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    if len(proof) != inner + border:
        msg = f"proof has {len(proof)} hashes; index {index} of size {size} needs {inner + border}"
        raise VerificationError(msg, reason=Reason.INCLUSION_PROOF_INVALID)
    if any(len(h) != _HASH_SIZE for h in proof):
        msg = "proof hash of the wrong length"
        raise VerificationError(msg, reason=Reason.INCLUSION_PROOF_INVALID)
    node = leaf
    for i, sibling in enumerate(proof[:inner]):
        node = _node(node, sibling) if (index >> i) & 1 == 0 else _node(sibling, node)
    for sibling in proof[inner:]:
        node = _node(sibling, node)
    return node


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: tuple[bytes, ...], root: bytes
) -> None:
    """Check that ``leaf`` is at ``index`` in the tree of ``size`` with ``root``.

    Raises:
        VerificationError: it is not (reason ``inclusion-proof-invalid``).
    """
    if root_from_proof(leaf, index, size, proof) != root:
        msg = "inclusion proof does not lead to the root hash"
        raise VerificationError(msg, reason=Reason.INCLUSION_PROOF_INVALID)
