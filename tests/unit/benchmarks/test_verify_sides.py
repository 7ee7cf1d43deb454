"""Both sides of the in-process benchmark reach the same verdict on every bundle kind.

A ratio means something only if both sides decide the same question: "does
this bundle, under this root and identity, vouch for this digest". For a
DSSE bundle sigstore-python's ``verify_dsse`` alone answers a smaller one
(it binds the bundle to no artifact), so the peer's side also checks the
statement's subject, as ``sigstore verify`` does.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sigstore.errors import VerificationError as SpVerificationError

from appliance.core.errors import VerificationError
from benchmarks.verify import CASES, Case, sides

NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
OTHER = hashlib.sha256(b"another artifact").digest()


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_both_sides_accept_the_bundle_for_its_artifact(case: Case) -> None:
    ours, theirs = sides(case, NOW)
    ours()
    theirs()


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_both_sides_refuse_the_bundle_for_another_artifact(case: Case) -> None:
    ours, theirs = sides(case, NOW, digest=OTHER)
    with pytest.raises(VerificationError):
        ours()
    with pytest.raises((SpVerificationError, ValueError)):
        theirs()


def test_the_peer_dsse_side_checks_the_subject_not_only_the_envelope() -> None:
    (dsse_case,) = [c for c in CASES if c.dsse]
    _, theirs = sides(dsse_case, NOW, digest=OTHER)
    # verify_dsse alone passes this bundle whatever the digest: only the
    # statement's subject refuses it.
    with pytest.raises(ValueError, match=OTHER.hex()):
        theirs()
