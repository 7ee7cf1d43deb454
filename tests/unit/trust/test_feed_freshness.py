"""Attack: a revocation feed dated in the future satisfies ``max_revocation_age`` for ever (#25)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.actions.policy import LoadedPolicy
from appliance.actions.revocations import in_force
from appliance.core import keys
from appliance.core.errors import Reason, VerificationError
from appliance.core.revocations import MEDIA_TYPE, canonical, sign_entry, verify_feed
from appliance.trust.revocations import RevocationStore
from tests.unit.trust.test_revocations_store import NOW, SECURITY

if TYPE_CHECKING:
    from pathlib import Path

POLICY = LoadedPolicy(
    rules=(),
    name="p.toml",
    sha256="",
    revocation_keys=(SECURITY.public_key(),),
    max_revocation_age=timedelta(days=7),
)


def _hold(state: Path, issued: str) -> None:
    payload = {
        "type": "https://airlock.dev/revocations/v1",
        "publisher": "p",
        "version": 1,
        "issued": issued,
        "entries": [],
    }
    signature = SECURITY.sign(canonical(payload), ec.ECDSA(hashes.SHA256()))
    doc = {
        "mediaType": MEDIA_TYPE,
        "payload": payload,
        "signatures": [sign_entry(keys.key_id(SECURITY.public_key()), signature)],
    }
    feed = verify_feed(doc, trusted=POLICY.revocation_keys, where="feed")
    RevocationStore(state).offer(doc, feed, now=NOW)


def test_a_feed_of_yesterday_is_fresh(tmp_path: Path) -> None:
    _hold(tmp_path, "2026-11-30T12:00:00Z")
    assert len(in_force(POLICY, tmp_path, carried=None, now=NOW).feeds) == 1


def test_a_feed_dated_in_the_future_is_not_fresh(tmp_path: Path) -> None:
    """Issued 2099: `now - issued` is negative, under any limit, until 2099."""
    _hold(tmp_path, "2099-01-01T00:00:00Z")
    with pytest.raises(VerificationError) as caught:
        in_force(POLICY, tmp_path, carried=None, now=NOW)
    assert caught.value.reason is Reason.REVOCATIONS_STALE
    assert "in the future" in caught.value.message
