"""Revocation feeds, pure: what verifies, what is refused before and after the signature, and the canonical bytes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from appliance.core import keys
from appliance.core.deny import DenyKind
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.revocations import (
    MEDIA_TYPE,
    canonical,
    sign_entry,
    signed_by,
    verify_feed,
)

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ed25519.Ed25519PrivateKey.generate()
DIGEST = "sha256:" + "ab" * 32


def _payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "https://airlock.dev/revocations/v1",
        "publisher": "site-security",
        "version": 4,
        "issued": "2026-12-01T09:00:00Z",
        "entries": [
            {"digest": DIGEST, "reason": "malicious"},
            {
                "identity": "ci@acme.example",
                "issuer": "https://issuer.example",
                "reason": "stolen",
                "since": "2026-11-30T00:00:00Z",
            },
            {"key_id": "cd" * 32, "reason": "lost"},
        ],
    }
    payload.update(changes)
    return payload


def _signed(payload: dict[str, Any], *signers: Any) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    signatures = []
    for signer in signers or (KEY,):
        data = canonical(payload)
        sig = (
            signer.sign(data, ec.ECDSA(hashes.SHA256()))
            if isinstance(signer, ec.EllipticCurvePrivateKey)
            else signer.sign(data)
        )
        signatures.append(sign_entry(keys.key_id(signer.public_key()), sig))
    return {"mediaType": MEDIA_TYPE, "payload": payload, "signatures": signatures}


def test_a_feed_verifies_and_reads_its_entries() -> None:
    feed = verify_feed(_signed(_payload()), trusted=[KEY.public_key()], where="feed")
    assert (feed.publisher, feed.version) == ("site-security", 4)
    assert feed.issued == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert feed.key_id == keys.key_id(KEY.public_key())
    assert [d.kind for d in feed.deny.entries] == [
        DenyKind.DIGEST,
        DenyKind.IDENTITY,
        DenyKind.KEY,
    ]
    assert feed.deny.entries[1].since == datetime(2026, 11, 30, tzinfo=UTC)
    assert feed.deny.entries[1].where == "feed site-security v4 entry 1"


def test_the_signature_covers_the_canonical_payload_not_its_spelling() -> None:
    doc = _signed(_payload())
    reordered = {
        "signatures": doc["signatures"],
        "payload": dict(reversed(list(doc["payload"].items()))),
        "mediaType": MEDIA_TYPE,
    }
    assert verify_feed(reordered, trusted=[KEY.public_key()], where="feed").version == 4


def test_a_second_trusted_signer_verifies_too() -> None:
    doc = _signed(_payload(), OTHER, KEY)
    feed = verify_feed(doc, trusted=[KEY.public_key()], where="feed")
    assert feed.key_id == keys.key_id(KEY.public_key())


def test_the_same_key_twice_counts_once() -> None:
    doc = _signed(_payload(), KEY, KEY)
    assert (
        len(signed_by(doc["payload"], doc["signatures"], [KEY.public_key()], where="f"))
        == 1
    )


@pytest.mark.parametrize(
    "trusted",
    [[], [OTHER.public_key()], [ec.generate_private_key(ec.SECP256R1()).public_key()]],
)
def test_no_trusted_key_no_feed(trusted: list[Any]) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_feed(_signed(_payload()), trusted=trusted, where="feed")
    assert caught.value.reason is Reason.FEED_UNTRUSTED


@pytest.mark.parametrize(
    "change",
    [
        {"version": 5},
        {"publisher": "vendor"},
        {"issued": "2027-01-01T00:00:00Z"},
        {"entries": []},
        {"type": "https://airlock.dev/policy-approval/v1"},
    ],
)
def test_any_change_to_the_payload_breaks_the_signature(change: dict[str, Any]) -> None:
    doc = _signed(_payload())
    doc["payload"].update(change)
    with pytest.raises(VerificationError) as caught:
        verify_feed(doc, trusted=[KEY.public_key()], where="feed")
    assert caught.value.reason is Reason.FEED_UNTRUSTED


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"type": "https://example/other"}, "payload type"),
        ({"version": 0}, "positive integer"),
        ({"version": True}, "positive integer"),
        ({"version": "4"}, "positive integer"),
        ({"issued": "2026-12-01"}, "UTC time"),
        ({"issued": "2026-13-01T00:00:00Z"}, "not a valid date"),
        ({"publisher": "\u202eevil"}, "publisher"),
        ({"publisher": ""}, "publisher"),
        ({"extra": 1}, "unknown member"),
        ({"entries": [{"reason": "r"}]}, "exactly one"),
        ({"entries": [{"key": "a.pub", "reason": "r"}]}, "key_id"),
        (
            {"entries": [{"digest": DIGEST, "reason": "r", "since": "yesterday"}]},
            "UTC time",
        ),
        ({"entries": [{"digest": DIGEST}]}, "needs a reason"),
        ({"entries": ["sha256:ab"]}, "JSON object"),
    ],
)
def test_a_signed_but_malformed_feed_is_an_input_error(
    change: dict[str, Any], words: str
) -> None:
    # Signed after the change: the signature is fine, the content is not.
    doc = _signed(_payload(**change))
    with pytest.raises(InputError) as caught:
        verify_feed(doc, trusted=[KEY.public_key()], where="feed")
    assert words in caught.value.diagnostics()


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d.update(mediaType="application/json"), "not a revocation feed"),
        (lambda d: d.update(signatures="x"), "signatures must be a list"),
        (lambda d: d.update(signatures=[{"keyid": "zz", "sig": "AA=="}]), "hex"),
        (lambda d: d.update(signatures=[{}] * 17), "at most 16"),
        (lambda d: d.update(payload=[]), "JSON object"),
    ],
)
def test_a_malformed_envelope_is_an_input_error(edit: Any, words: str) -> None:
    doc = copy.deepcopy(_signed(_payload()))
    edit(doc)
    with pytest.raises(InputError) as caught:
        verify_feed(doc, trusted=[KEY.public_key()], where="feed")
    assert words in caught.value.diagnostics()
