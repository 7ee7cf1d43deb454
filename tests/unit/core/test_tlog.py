"""One log entry's evidence, and which log index that evidence vouches for."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core import _json, tlog
from appliance.core.bundle import Bundle, TlogEntry
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


_SET_FIELDS = {
    "body": st.binary(max_size=600),
    "log_id": st.binary(min_size=0, max_size=48),
    "log_index": st.integers(min_value=0, max_value=_json.MAX_SAFE_INTEGER),
    "integrated_time": st.integers(min_value=0, max_value=_json.MAX_SAFE_INTEGER),
}


def _set_entry(
    body: bytes, log_id: bytes, log_index: int, integrated: int
) -> TlogEntry:
    return TlogEntry(
        log_index=log_index,
        log_id=log_id,
        kind="hashedrekord",
        version="0.0.1",
        integrated_time=integrated,
        signed_entry_timestamp=b"s",
        inclusion_proof=None,
        canonicalized_body=body,
    )


@given(**_SET_FIELDS)
def test_the_set_payload_is_the_rfc8785_encoders_bytes(
    body: bytes, log_id: bytes, log_index: int, integrated_time: int
) -> None:
    """The SET payload written out directly is byte for byte what the
    general RFC 8785 encoder (rfc8785) gives, over the whole range the
    bundle parser admits: a single differing byte and no SET would verify."""
    entry = _set_entry(body, log_id, log_index, integrated_time)
    assert tlog.set_payload(entry) == tlog.set_payload_reference(entry)


@pytest.mark.parametrize(
    ("log_index", "integrated_time"),
    [(2**53, 1), (1, 2**53), (-1, 1), (1, -1)],
)
def test_a_set_payload_out_of_range_is_left_to_the_encoder(
    log_index: int, integrated_time: int
) -> None:
    """Values the parser never admits are not printed by the fast path: they
    go to the general encoder, which refuses what RFC 8785 cannot print."""
    entry = _set_entry(b"b", b"i", log_index, integrated_time)
    try:
        expected: bytes | type[Exception] = tlog.set_payload_reference(entry)
    except Exception as exc:  # noqa: BLE001 - whatever the encoder raises
        expected = type(exc)
    if isinstance(expected, bytes):
        assert tlog.set_payload(entry) == expected
    else:
        with pytest.raises(expected):
            tlog.set_payload(entry)
