"""Attack: the approvals of one ``trust forget-split LOG`` replayed to forget a later split view of that log (#25)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from appliance.actions.controls import (
    ApproveRequest,
    ControlsInitRequest,
    approve,
    controls_init,
)
from appliance.actions.trust import forget_split
from appliance.core.approvals import ApprovalKind
from appliance.core.errors import InputError, Reason, SplitViewError
from appliance.trust.memory import Memory
from tests.unit.trust.test_controls_replay import _key

if TYPE_CHECKING:
    from pathlib import Path

LOG = "rekor.example"


def _split(state: Path, second_root: bytes, day: int) -> None:
    Memory(state).record_split(
        SplitViewError(
            "two trees of one size",
            log_id=b"\x01" * 32,
            origin=LOG,
            size=10,
            roots=(b"\x00" * 32, second_root),
        ),
        now=datetime(2026, 12, day, tzinfo=UTC),
    )


def _asked(state: Path) -> str:
    """The digest the refused command names for approval."""
    with pytest.raises(InputError) as caught:
        forget_split(state, LOG)
    assert caught.value.reason is Reason.APPROVALS_MISSING
    found = re.search(r"approve sha256 ([0-9a-f]{64})", caught.value.message)
    assert found is not None
    return found.group(1)


def test_approvals_to_forget_one_split_view_do_not_forget_the_next(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    (a_key, a_pem), (b_key, b_pem) = _key(tmp_path, "a"), _key(tmp_path, "b")
    controls_init(
        ControlsInitRequest(threshold=2, keys=(a_pem, b_pem), state_dir=state)
    )
    _split(state, b"\x02" * 32, 1)
    approvals = tmp_path / "forget.approvals.json"
    digest = _asked(state)
    for key in (a_key, b_key):
        approve(
            ApproveRequest(
                kind=ApprovalKind.TRUST,
                key=str(key),
                state_dir=state,
                out=approvals,
                sha256=digest,
            )
        )
    forget_split(state, LOG, approvals)  # investigated and approved: forgotten
    assert not Memory(state).summary()["split_views"]

    _split(state, b"\x03" * 32, 5)  # the log equivocates again
    with pytest.raises(InputError) as caught:
        forget_split(state, LOG, approvals)  # the old approvals, replayed
    assert caught.value.reason is Reason.APPROVALS_MISSING
    assert Memory(state).summary()["split_views"]
