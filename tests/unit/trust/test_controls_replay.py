"""Attack: an old approvals document for a controls change, replayed after the controls moved on (#25)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.actions.controls import (
    ApproveRequest,
    ControlsInitRequest,
    approve,
    controls_init,
)
from appliance.core.approvals import ApprovalKind
from appliance.core.errors import InputError, Reason
from appliance.trust.controls import ControlsStore

if TYPE_CHECKING:
    from pathlib import Path


def _key(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.key", directory / f"{name}.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_approvals_of_a_past_controls_change_do_not_apply_again(
    tmp_path: Path,
) -> None:
    """2 of {A, B} went down to 1 of {A, B} (both approved), then back up to 2 of 2.

    Replaying the down-approvals must not lower the threshold again: an
    approval of a change is of the change from the controls then in force.
    """
    state = tmp_path / "state"
    (a_key, a_pem), (b_key, b_pem) = _key(tmp_path, "a"), _key(tmp_path, "b")
    pems = (a_pem, b_pem)

    def init(threshold: int, approvals: Path | None = None) -> None:
        controls_init(
            ControlsInitRequest(
                threshold=threshold, keys=pems, state_dir=state, approvals=approvals
            )
        )

    def approve_as(key: Path, threshold: int, out: Path) -> None:
        approve(
            ApproveRequest(
                kind=ApprovalKind.CONTROLS,
                key=str(key),
                state_dir=state,
                out=out,
                threshold=threshold,
                keys=pems,
            )
        )

    init(2)
    down = tmp_path / "down.approvals.json"
    approve_as(a_key, 1, down)
    approve_as(b_key, 1, down)
    init(1, down)
    up = tmp_path / "up.approvals.json"
    approve_as(a_key, 2, up)
    init(2, up)
    with pytest.raises(InputError) as caught:
        init(1, down)  # the old document, by anyone holding it
    assert caught.value.reason is Reason.APPROVALS_MISSING
    controls = ControlsStore(state).read()
    assert controls is not None
    assert controls.threshold == 2  # 2 of 2 still in force
