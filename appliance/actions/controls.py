"""Two-person integrity: ``controls init``, ``controls approve``, ``policy approve``, and the check every use makes.

Opt-in, then enforced (docs/revocation.md §4). :func:`controls_init` records
the approvers and the threshold (the first time freely, later only with the
current threshold's approvals over the new controls); :func:`approve` adds
one approver's signature to an approvals document; :func:`enforce` is what
every verification (``verify``, ``load``, ``extract``, the TUI) and every
``revocations import`` runs on its policy. Each step is an audit line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airlock_io.atomic import locked, write_output
from appliance.actions.audited import Audited
from appliance.actions.policy import (
    PolicyFile,
    ReviewOnly,
    SignerFlags,
    load_policy,
    read_public_key,
)
from appliance.core import _json, keys
from appliance.core.approvals import (
    ApprovalKind,
    Controls,
    appended,
    approval_payload,
    require,
)
from appliance.core.errors import InputError, Reason
from appliance.core.revocations import canonical
from appliance.signer.opener import open_signer
from appliance.trust.controls import ControlsStore, read_approvals

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.actions.policy import LoadedPolicy, PolicySource
    from appliance.signer.interface import SecretsHandler

APPROVALS_SUFFIX = ".approvals.json"


def approvals_path(policy: Path) -> Path:
    """Where a policy's approvals live: ``POLICY.toml.approvals.json`` beside it."""
    return policy.with_name(policy.name + APPROVALS_SUFFIX)


def enforce(
    policy: LoadedPolicy, source: PolicySource, state_dir: Path
) -> LoadedPolicy:
    """``policy``, with who approved it; refused when controls are in force and it is under-approved.

    A review (no policy) passes nothing and needs no approval; command-line
    signer flags would bypass the approved policy and are refused.

    Raises:
        InputError: under-approved (``approvals-missing``, naming who approved
            and how many more are needed), or damaged controls.
    """
    controls = ControlsStore(state_dir).read()
    if controls is None or isinstance(source, ReviewOnly):
        return policy
    if isinstance(source, SignerFlags):
        msg = (
            "two-person integrity is in force: signer flags would bypass the approved "
            "policy; give an approved --policy file"
        )
        raise InputError(msg, where="--policy", reason=Reason.APPROVALS_MISSING)
    assert isinstance(source, PolicyFile)  # noqa: S101 - the three sources, narrowed
    path = approvals_path(source.path)
    found = require(
        read_approvals(path),
        kind=ApprovalKind.POLICY,
        sha256=policy.approval_sha256,
        controls=controls,
        what=f"policy {source.path}",
        where=str(path),
    )
    return dataclasses.replace(policy, approved_by=tuple(k.hex() for k in found))


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlsInitRequest:
    """``controls init --approvers N --key PEM... [--approvals FILE]``."""

    threshold: int
    keys: tuple[Path, ...]
    state_dir: Path
    approvals: Path | None = None
    via: str = "cli"


def _controls(threshold: int, paths: tuple[Path, ...]) -> Controls:
    return Controls(
        threshold=threshold, approvers=tuple(read_public_key(p) for p in paths)
    )


def controls_init(request: ControlsInitRequest) -> dict[str, Any]:
    """Record the controls; a change needs the current threshold's approvals.

    Raises:
        InputError: bad keys or threshold; a change without enough approvals.
    """
    now = datetime.now(UTC)
    with Audited("controls init", request.state_dir, via=request.via) as audit:
        new = _controls(request.threshold, request.keys)
        store = ControlsStore(request.state_dir)
        with store.locked():
            current = store.read()
            approved: tuple[bytes, ...] = ()
            if current is not None:
                approved = require(
                    read_approvals(request.approvals),
                    kind=ApprovalKind.CONTROLS,
                    sha256=new.change_sha256(current),
                    controls=current,
                    what="this change of the controls",
                    where=str(request.approvals or "--approvals"),
                )
            generation = 1 if current is None else current.generation + 1
            new = dataclasses.replace(new, generation=generation)
            store.write(new, now=now, approved_by=approved)
        record = {
            "threshold": new.threshold,
            "approvers": list(new.key_ids),
            "controls_sha256": new.sha256,
            "previous": None
            if current is None
            else {"threshold": current.threshold, "approvers": list(current.key_ids)},
            "approved_by": [k.hex() for k in approved],
        }
        head = audit.record({**record, "exit_code": 0})
    return {**record, "audit": head.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveRequest:
    """One approver's approval: of a policy file, of new controls, or of a digest (a trust change)."""

    kind: ApprovalKind
    key: str  # pkcs11: URI or key file: the approver's own
    state_dir: Path
    out: Path  # the approvals document (appended to)
    policy: Path | None = None  # kind POLICY
    threshold: int = 0  # kind CONTROLS: the proposed controls
    keys: tuple[Path, ...] = ()
    sha256: str | None = None  # kind TRUST: the digest the refused command printed
    secrets_handler: SecretsHandler | None = None
    via: str = "cli"


def _subject(request: ApproveRequest, current: Controls) -> tuple[str, str]:
    """(digest, what) the request approves."""
    if request.kind is ApprovalKind.POLICY:
        assert request.policy is not None  # noqa: S101 - the view sets it with the kind
        policy = load_policy(PolicyFile(path=request.policy))
        return policy.approval_sha256, f"policy {request.policy}"
    if request.kind is ApprovalKind.CONTROLS:
        new = _controls(request.threshold, request.keys)
        return new.change_sha256(current), "controls"
    digest = (request.sha256 or "").lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):  # noqa: PLR2004 - SHA-256 hex
        msg = "give the 64-hex-digit digest the refused command printed"
        raise InputError(msg, where="--sha256", reason=Reason.USAGE)
    return digest, "trust change"


def _not_yet(
    doc: dict[str, Any], key_id: bytes, request: ApproveRequest, sha256: str, what: str
) -> None:
    """Refuse a second approval of the same thing by the same key (it would not count)."""
    if any(
        a.get("keyid") == key_id.hex()
        and a["payload"].get("sha256") == sha256
        and a["payload"].get("kind") == request.kind.value
        for a in doc["approvals"]
    ):
        msg = f"key {key_id.hex()[:16]} has already approved this {what}: one approver counts once"
        raise InputError(msg, where=str(request.out), reason=Reason.USAGE)


def approve(request: ApproveRequest) -> dict[str, Any]:
    """Sign one approval with the approver's key and append it to the approvals document.

    The key must be one of the current approvers (an approval by anyone
    else would never count); the same approver twice adds nothing.

    Raises:
        InputError: no controls, not an approver, already approved, bad input.
        SignerError: the key cannot sign.
    """
    now = datetime.now(UTC)
    with Audited(
        f"{request.kind.value} approve", request.state_dir, via=request.via
    ) as audit:
        controls = ControlsStore(request.state_dir).read()
        if controls is None:
            msg = "no controls are recorded: run `appliance controls init` first"
            raise InputError(msg, reason=Reason.USAGE)
        sha256, what = _subject(request, controls)
        doc = read_approvals(request.out)
        payload = approval_payload(request.kind, sha256, approved=now)
        with open_signer(
            request.key, secrets_handler=request.secrets_handler
        ) as signer:
            key_id = keys.key_id(signer.public_key)
            if key_id.hex() not in controls.key_ids:
                msg = f"key {key_id.hex()[:16]} is not one of the {controls.describe()}"
                raise InputError(msg, where="--key", reason=Reason.USAGE)
            _not_yet(doc, key_id, request, sha256, what)
            signature = signer.sign(canonical(payload))
        keys.verify(signer.public_key, signature, canonical(payload), what="approval")
        # Read again under the lock: another approver may have appended
        # while this one entered a PIN.
        with locked(request.state_dir / ".approvals.lock"):
            doc = read_approvals(request.out)
            _not_yet(doc, key_id, request, sha256, what)
            write_output(
                request.out, _json.document(appended(doc, payload, key_id, signature))
            )
        record = {
            "kind": request.kind.value,
            "what": what,
            "sha256": sha256,
            "approver": key_id.hex(),
            "approvals": str(request.out),
        }
        head = audit.record({**record, "exit_code": 0})
    return {**record, "audit": head.to_json()}
