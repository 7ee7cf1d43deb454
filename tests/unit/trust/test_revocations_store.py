"""The revocation feeds held on disk: newest per key, never rolled back, damage refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core import keys
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.revocations import (
    MEDIA_TYPE,
    Feed,
    canonical,
    sign_entry,
    verify_feed,
)
from appliance.trust.revocations import RevocationStore

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SECURITY, VENDOR = (
    ec.generate_private_key(ec.SECP256R1()),
    ec.generate_private_key(ec.SECP256R1()),
)
TRUSTED = [SECURITY.public_key(), VENDOR.public_key()]


def _doc(
    version: int, key: ec.EllipticCurvePrivateKey = SECURITY, digit: str = "a"
) -> dict[str, Any]:
    payload = {
        "type": "https://airlock.dev/revocations/v1",
        "publisher": "p",
        "version": version,
        "issued": "2026-11-30T00:00:00Z",
        "entries": [{"digest": "sha256:" + digit * 64, "reason": "r"}],
    }
    signature = key.sign(canonical(payload), ec.ECDSA(hashes.SHA256()))
    return {
        "mediaType": MEDIA_TYPE,
        "payload": payload,
        "signatures": [sign_entry(keys.key_id(key.public_key()), signature)],
    }


def _offer(store: RevocationStore, doc: dict[str, Any]) -> str:
    feed: Feed = verify_feed(doc, trusted=TRUSTED, where="feed")
    return store.offer(doc, feed, now=NOW).outcome


def test_newest_per_key_is_kept_and_never_rolled_back(tmp_path: Path) -> None:
    store = RevocationStore(tmp_path)
    assert store.held(TRUSTED) == ()
    assert _offer(store, _doc(2)) == "applied"
    assert _offer(store, _doc(2)) == "already held"
    assert _offer(store, _doc(1)) == "older than held: ignored"
    assert _offer(store, _doc(1, VENDOR)) == "applied"  # another key: its own sequence
    assert _offer(store, _doc(3)) == "applied"
    held = {f.key_id: f.version for f in RevocationStore(tmp_path).held(TRUSTED)}
    assert held == {
        keys.key_id(SECURITY.public_key()): 3,
        keys.key_id(VENDOR.public_key()): 1,
    }
    # A key the policy no longer names: its feed is not applied.
    assert [f.version for f in store.held([VENDOR.public_key()])] == [1]


def test_a_second_feed_of_the_version_held_is_refused(tmp_path: Path) -> None:
    store = RevocationStore(tmp_path)
    _offer(store, _doc(2))
    with pytest.raises(VerificationError) as caught:
        _offer(store, _doc(2, digit="b"))
    assert caught.value.reason is Reason.ROLLBACK
    assert [f.deny.entries[0].digest for f in store.held(TRUSTED)] == [
        "sha256:" + "a" * 64
    ]


def test_a_feed_file_swapped_for_an_older_one_is_refused(tmp_path: Path) -> None:
    store = RevocationStore(tmp_path)
    _offer(store, _doc(1))
    kept = (tmp_path / "revocations").glob("*.json")
    older = next(p for p in kept if p.name != "state.json")
    before = older.read_bytes()
    _offer(store, _doc(2))
    older.write_bytes(before)  # v1 put back under v2's name
    with pytest.raises(
        VerificationError, match="not the feed the revocation state recorded"
    ):
        store.held(TRUSTED)


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b'{"version": 2, "feeds": {}}'])
def test_a_damaged_state_is_refused_not_taken_for_none(
    tmp_path: Path, damage: bytes
) -> None:
    store = RevocationStore(tmp_path)
    _offer(store, _doc(1))
    (tmp_path / "revocations" / "state.json").write_bytes(damage)
    with pytest.raises(InputError) as caught:
        store.held(TRUSTED)
    assert caught.value.reason is Reason.INPUT_UNREADABLE


def test_a_tampered_held_feed_no_longer_verifies(tmp_path: Path) -> None:
    store = RevocationStore(tmp_path)
    _offer(store, _doc(1))
    path = next(
        p for p in (tmp_path / "revocations").glob("*.json") if p.name != "state.json"
    )
    doc = json.loads(path.read_bytes())
    doc["payload"]["entries"] = []
    path.write_text(json.dumps(doc))
    with pytest.raises(VerificationError) as caught:
        store.held(TRUSTED)
    assert caught.value.reason is Reason.FEED_UNTRUSTED
