"""Two-person integrity: the approver controls, and approvals signed over a document's digest.

Opt-in, then enforced (docs/revocation.md §4): once controls are recorded
(a threshold N and the approver keys), a policy, a trust change or a change
of the controls is used only with approvals by N distinct approver keys over
its digest. An approval signs the RFC 8785 canonical bytes of::

    {"type": "https://airlock.dev/approval/v1", "kind": "policy",
     "sha256": "<hex>", "approved": "2026-12-01T09:00:00Z"}

``type`` keeps an approval from being taken for a revocation feed's
signature (:mod:`appliance.core.revocations`) made by the same key, and
``kind`` one kind of approval for another. An approvals document holds any
number of them; only those by a current approver, over this digest and
kind, and not by an approver already counted, count. Pure: bytes, keys and
digests in; the approvers out, or an input error saying how many more are
needed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from appliance.core import _json, keys
from appliance.core.errors import InputError, Reason
from appliance.core.revocations import canonical, iso, sign_entry, signed_by

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

MEDIA_TYPE = "application/vnd.dev.airlock.approvals.v1+json"
APPROVAL_TYPE = "https://airlock.dev/approval/v1"
CONTROLS_TYPE = "https://airlock.dev/controls/v1"
MAX_APPROVALS = 64
MAX_APPROVERS = 32
MAX_APPROVALS_BYTES = 1024 * 1024


class ApprovalKind(StrEnum):
    """What an approval is for."""

    POLICY = "policy"
    CONTROLS = "controls"
    TRUST = "trust"


@dataclass(frozen=True, slots=True, kw_only=True)
class Controls:
    """The approver keys and how many of them must approve."""

    threshold: int
    approvers: tuple[keys.PublicKey, ...]
    # How many times controls were recorded on this appliance (0: not yet,
    # or recorded before the count was kept). A change's approval names the
    # generation it replaces, so it cannot be replayed once the controls
    # moved on, even back to the same keys and threshold.
    generation: int = 0

    def __post_init__(self) -> None:
        """Refuse controls no set of approvers could ever meet, or one person could meet alone twice."""
        ids = [keys.key_id(k) for k in self.approvers]
        if len(set(ids)) != len(ids):
            msg = "an approver key is given twice: one person would count twice"
            raise InputError(msg, where="--key", reason=Reason.USAGE)
        if not self.approvers or len(self.approvers) > MAX_APPROVERS:
            msg = f"give from 1 to {MAX_APPROVERS} approver keys"
            raise InputError(msg, where="--key", reason=Reason.USAGE)
        if not 1 <= self.threshold <= len(self.approvers):
            msg = f"--approvers must be from 1 to the number of approver keys ({len(self.approvers)})"
            raise InputError(msg, where="--approvers", reason=Reason.USAGE)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The approvers' key ids (hex), sorted."""
        return tuple(sorted(keys.key_id(k).hex() for k in self.approvers))

    @property
    def sha256(self) -> str:
        """The digest a change to these controls is approved over."""
        proposal = {
            "type": CONTROLS_TYPE,
            "threshold": self.threshold,
            "approvers": list(self.key_ids),
        }
        return hashlib.sha256(canonical(proposal)).hexdigest()

    def change_sha256(self, current: Controls) -> str:
        """The digest a change from ``current`` (in force) to these controls is approved over.

        It names what is replaced, down to its generation: approvals of
        "2 of 2 -> 1 of 2" given once must not lower the threshold again
        after it was raised back (a replayed approvals document).
        """
        proposal = {
            "type": CONTROLS_TYPE,
            "threshold": self.threshold,
            "approvers": list(self.key_ids),
            "replaces": current.sha256,
            "generation": current.generation,
        }
        return hashlib.sha256(canonical(proposal)).hexdigest()

    def describe(self) -> str:
        """``2 of 3 approvers (ab12…, cd34…, ef56…)``."""
        return (
            f"{self.threshold} of {len(self.approvers)} approvers "
            f"({', '.join(k[:16] for k in self.key_ids)})"
        )


def policy_digest(policy: bytes, files: Mapping[str, bytes]) -> str:
    """What a policy approval covers: the policy file and every key file it reads.

    A policy names keys by path; approving the policy's bytes alone would
    let anyone swap ``keys/release.pub`` under an approved policy.
    """
    doc = {
        "policy": hashlib.sha256(policy).hexdigest(),
        "files": {
            name: hashlib.sha256(data).hexdigest()
            for name, data in sorted(files.items())
        },
    }
    return hashlib.sha256(canonical(doc)).hexdigest()


def approval_payload(
    kind: ApprovalKind, sha256: str, *, approved: datetime
) -> dict[str, Any]:
    """The payload one approver signs."""
    return {
        "type": APPROVAL_TYPE,
        "kind": kind.value,
        "sha256": sha256,
        "approved": iso(approved),
    }


def read_document(data: bytes | None, *, where: str) -> dict[str, Any]:
    """An approvals document (``None``: none yet, an empty one).

    Raises:
        InputError: too large, not strict JSON, not an approvals document.
    """
    if data is None:
        return {"mediaType": MEDIA_TYPE, "approvals": []}
    if len(data) > MAX_APPROVALS_BYTES:
        msg = f"over the {MAX_APPROVALS_BYTES}-byte limit for approvals"
        raise InputError(msg, where=where)
    doc = _json.obj(_json.loads(data, what=where), where)
    if doc.get("mediaType") != MEDIA_TYPE or set(doc) != {"mediaType", "approvals"}:
        msg = f"not an approvals document ({MEDIA_TYPE})"
        raise InputError(msg, where=where)
    approvals = _json.member_list(doc, "approvals", where)
    if len(approvals) > MAX_APPROVALS:
        msg = f"more than {MAX_APPROVALS} approvals"
        raise InputError(msg, where=where)
    for i, entry in enumerate(approvals):
        entry_obj = _json.obj(entry, f"{where}.approvals[{i}]")
        _json.obj(entry_obj.get("payload"), f"{where}.approvals[{i}].payload")
    return doc


def appended(
    doc: Mapping[str, Any], payload: Mapping[str, Any], key_id: bytes, signature: bytes
) -> dict[str, Any]:
    """``doc`` with one more approval."""
    entry = {"payload": dict(payload), **sign_entry(key_id, signature)}
    return {"mediaType": MEDIA_TYPE, "approvals": [*doc["approvals"], entry]}


def approved_by(
    doc: Mapping[str, Any],
    *,
    kind: ApprovalKind,
    sha256: str,
    approvers: Sequence[keys.PublicKey],
    where: str,
) -> tuple[bytes, ...]:
    """The distinct approver keys whose approval of ``kind`` over ``sha256`` verifies."""
    found: list[bytes] = []
    for i, entry in enumerate(doc["approvals"]):
        payload = entry["payload"]
        if (
            payload.get("type") != APPROVAL_TYPE
            or payload.get("kind") != kind.value
            or payload.get("sha256") != sha256
        ):
            continue  # another document's (an older policy's) approval
        signature = {k: entry.get(k) for k in ("keyid", "sig")}
        for key_id in signed_by(
            payload, [signature], approvers, where=f"{where}.approvals[{i}]"
        ):
            if key_id not in found:
                found.append(key_id)
    return tuple(found)


def require(  # noqa: PLR0913 - every input named
    doc: Mapping[str, Any],
    *,
    kind: ApprovalKind,
    sha256: str,
    controls: Controls,
    what: str,
    where: str,
) -> tuple[bytes, ...]:
    """The approvers of ``what``; at least the controls' threshold of them, or refused.

    Raises:
        InputError: fewer distinct approvers than the threshold
            (``approvals-missing``), naming who approved and how many more
            are needed.
    """
    found = approved_by(
        doc, kind=kind, sha256=sha256, approvers=controls.approvers, where=where
    )
    if len(found) >= controls.threshold:
        return found
    who = ", ".join(k.hex()[:16] for k in found) or "nobody"
    more = controls.threshold - len(found)
    msg = (
        f"{what} (sha256 {sha256[:16]}) is approved by {who}: {more} more of "
        f"{controls.describe()} needed (two-person integrity is in force)"
    )
    raise InputError(msg, where=where, reason=Reason.APPROVALS_MISSING)
