"""One log entry's evidence, and which log index that evidence vouches for."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from appliance.core import tlog
from appliance.core.bundle import Bundle
from appliance.core.trust import TrustMaterial

if TYPE_CHECKING:
    from tests.helpers.sigstore_stack import SigstoreStack


def _entry(stack: SigstoreStack, *, promise: bool = True) -> tlog.VerifiedEntry:
    doc = stack.sign_blob(b"x").bundle(promise=promise)
    bundle = Bundle.from_bytes(json.dumps(doc).encode())
    trust = TrustMaterial.from_bytes(
        stack.trusted_root_json(), source="s", tuf_backed=False
    )
    verified = tlog.verify_entry(bundle.tlog_entries[0], trust=trust, where="e")
    assert verified is not None
    return verified


def test_a_set_vouches_for_the_global_index(sigstore_stack: SigstoreStack) -> None:
    verified = _entry(sigstore_stack)
    assert verified.integrated_time is not None
    assert verified.log_index == verified.entry.log_index


def test_a_rekor_v1_proof_alone_vouches_for_no_global_index(
    sigstore_stack: SigstoreStack,
) -> None:
    """The proof is for a shard-local index (1000 lower here): reporting the
    unsigned global logIndex as verified would name what nobody signed."""
    verified = _entry(sigstore_stack, promise=False)
    assert verified.integrated_time is None
    assert verified.proven
    assert verified.entry.log_index != verified.entry.inclusion_proof.log_index  # type: ignore[union-attr]
    assert verified.log_index is None


def test_the_seen_checkpoint_is_the_verified_one(sigstore_stack: SigstoreStack) -> None:
    verified = _entry(sigstore_stack)
    assert verified.checkpoint is not None
    assert verified.checkpoint.origin == sigstore_stack.rekor.origin
    assert verified.checkpoint.log_id == sigstore_stack.rekor.log_id
