"""Approvals and controls, pure: who counts, and every way an approval does not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core import keys
from appliance.core.approvals import (
    ApprovalKind,
    Controls,
    appended,
    approval_payload,
    policy_digest,
    read_document,
    require,
)
from appliance.core.errors import InputError, Reason
from appliance.core.revocations import canonical

ALICE, BOB, CAROL = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
WHEN = datetime(2026, 12, 1, 9, tzinfo=UTC)
DIGEST = "ab" * 32
TWO_OF_TWO = Controls(threshold=2, approvers=(ALICE.public_key(), BOB.public_key()))


def _approve(
    doc: dict[str, Any],
    signer: ec.EllipticCurvePrivateKey,
    *,
    kind: ApprovalKind = ApprovalKind.POLICY,
    sha256: str = DIGEST,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload = payload or approval_payload(kind, sha256, approved=WHEN)
    signature = signer.sign(canonical(payload), ec.ECDSA(hashes.SHA256()))
    return appended(doc, payload, keys.key_id(signer.public_key()), signature)


def _require(doc: dict[str, Any], controls: Controls = TWO_OF_TWO) -> tuple[bytes, ...]:
    return require(
        doc,
        kind=ApprovalKind.POLICY,
        sha256=DIGEST,
        controls=controls,
        what="policy p.toml",
        where="p.toml.approvals.json",
    )


def test_two_distinct_approvers_meet_two_of_two() -> None:
    doc = _approve(_approve(read_document(None, where="x"), ALICE), BOB)
    assert set(_require(doc)) == {
        keys.key_id(ALICE.public_key()),
        keys.key_id(BOB.public_key()),
    }


@pytest.mark.parametrize(
    ("signers", "words"),
    [
        ([], "approved by nobody: 2 more"),
        ([ALICE], "1 more"),
        ([ALICE, ALICE], "1 more"),  # the same approver twice counts once
        ([ALICE, CAROL], "1 more"),  # not an approver
    ],
)
def test_fewer_than_the_threshold_is_refused(
    signers: list[ec.EllipticCurvePrivateKey], words: str
) -> None:
    doc = read_document(None, where="x")
    for signer in signers:
        doc = _approve(doc, signer)
    with pytest.raises(InputError) as caught:
        _require(doc)
    assert caught.value.reason is Reason.APPROVALS_MISSING
    assert words in caught.value.message
    assert "2 of 2 approvers" in caught.value.message


@pytest.mark.parametrize(
    "payload",
    [
        approval_payload(
            ApprovalKind.POLICY, "cd" * 32, approved=WHEN
        ),  # another policy
        approval_payload(ApprovalKind.TRUST, DIGEST, approved=WHEN),  # another kind
        approval_payload(ApprovalKind.CONTROLS, DIGEST, approved=WHEN),
        # A revocation feed's payload signed by the same key is no approval.
        {
            "type": "https://airlock.dev/revocations/v1",
            "kind": "policy",
            "sha256": DIGEST,
        },
    ],
)
def test_an_approval_of_something_else_does_not_count(payload: dict[str, Any]) -> None:
    doc = _approve(read_document(None, where="x"), ALICE)
    doc = _approve(doc, BOB, payload=payload)
    with pytest.raises(InputError, match="1 more"):
        _require(doc)


def test_a_signature_over_other_bytes_does_not_count() -> None:
    doc = _approve(_approve(read_document(None, where="x"), ALICE), BOB)
    doc["approvals"][1]["payload"]["approved"] = "2027-01-01T00:00:00Z"
    with pytest.raises(InputError, match="1 more"):
        _require(doc)


@pytest.mark.parametrize(
    ("threshold", "approvers", "where"),
    [
        (0, (ALICE,), "--approvers"),
        (3, (ALICE, BOB), "--approvers"),
        (1, (), "--key"),
        (1, (ALICE, ALICE), "--key"),
    ],
)
def test_controls_no_one_could_meet_are_refused(
    threshold: int, approvers: tuple[ec.EllipticCurvePrivateKey, ...], where: str
) -> None:
    with pytest.raises(InputError) as caught:
        Controls(
            threshold=threshold, approvers=tuple(a.public_key() for a in approvers)
        )
    assert caught.value.where == where


def test_the_controls_digest_ignores_the_order_of_keys() -> None:
    other = Controls(threshold=2, approvers=(BOB.public_key(), ALICE.public_key()))
    assert other.sha256 == TWO_OF_TWO.sha256
    raised = Controls(
        threshold=2,
        approvers=(ALICE.public_key(), BOB.public_key(), CAROL.public_key()),
    )
    assert raised.sha256 != TWO_OF_TWO.sha256


def test_the_policy_digest_covers_its_key_files() -> None:
    base = policy_digest(b"policy", {"release.pub": b"A"})
    assert policy_digest(b"policy", {"release.pub": b"B"}) != base
    assert policy_digest(b"policy", {"other.pub": b"A"}) != base
    assert policy_digest(b"policy ", {"release.pub": b"A"}) != base
    assert policy_digest(b"policy", {"release.pub": b"A"}) == base


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[]", "JSON object"),
        (b'{"mediaType": "x", "approvals": []}', "not an approvals document"),
        (
            b'{"mediaType": "application/vnd.dev.airlock.approvals.v1+json", "approvals": [], "x": 1}',
            "not an approvals document",
        ),
        (
            b'{"mediaType": "application/vnd.dev.airlock.approvals.v1+json", "approvals": [1]}',
            "JSON object",
        ),
        (
            b'{"mediaType": "application/vnd.dev.airlock.approvals.v1+json", "approvals": [{"payload": 1}]}',
            "JSON object",
        ),
    ],
)
def test_a_malformed_approvals_document_is_an_input_error(
    data: bytes, words: str
) -> None:
    with pytest.raises(InputError) as caught:
        read_document(data, where="a.json")
    assert words in caught.value.diagnostics()
