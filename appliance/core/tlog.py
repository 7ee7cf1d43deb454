"""One transparency log entry: inclusion proof, signed checkpoint, SET.

Per formats.md §6.1. The entry's body is compared with the bundle separately
(:mod:`appliance.core.rekor_body`), because that needs the signer and the
signed material. An ``integratedTime`` becomes a *verified* time only when
its SET verified under a log key that was valid at that time.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import rfc8785

from appliance.core import keys, merkle
from appliance.core.checkpoint import Checkpoint
from appliance.core.errors import Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.bundle import TlogEntry
    from appliance.core.trust import TrustedLog, TrustMaterial


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedEntry:
    """An entry whose log evidence verified."""

    entry: TlogEntry
    log: TrustedLog
    integrated_time: datetime | None  # set only when the SET verified
    proven: bool  # inclusion proof and checkpoint verified


def is_rekor_v2(entry: TlogEntry) -> bool:
    """Rekor v2 logs only hashedrekord 0.0.2 entries (formats.md §4.4)."""
    return (entry.kind, entry.version) == ("hashedrekord", "0.0.2")


def set_payload(entry: TlogEntry) -> bytes:
    """The bytes a Rekor v1 SET signs: RFC 8785 JSON of exactly four members."""
    return rfc8785.dumps(
        {
            "body": base64.b64encode(entry.canonicalized_body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        }
    )


def _verify_proof(entry: TlogEntry, log: TrustedLog, where: str) -> None:
    proof = entry.inclusion_proof
    if (
        proof is None or proof.checkpoint is None
    ):  # callers check; kept for type narrowing
        raise VerificationError(
            "no inclusion proof", reason=Reason.INCLUSION_PROOF_INVALID, where=where
        )
    checkpoint = Checkpoint.from_text(proof.checkpoint)
    checkpoint.verify(log.key, names=log.note_names, hint=log.checkpoint_hint)
    # Our hardening (formats.md §6.1 step 3): the signed checkpoint must
    # describe exactly the tree the proof is for.
    if checkpoint.size != proof.tree_size or checkpoint.root_hash != proof.root_hash:
        msg = "checkpoint describes another tree than the inclusion proof"
        raise VerificationError(msg, reason=Reason.CHECKPOINT_INVALID, where=where)
    # Rekor v2 proves the entry's own index; Rekor v1 a shard-local one.
    index = entry.log_index if is_rekor_v2(entry) else proof.log_index
    leaf = merkle.leaf_hash(entry.canonicalized_body)
    try:
        merkle.verify_inclusion(
            leaf, index, proof.tree_size, proof.hashes, proof.root_hash
        )
    except VerificationError as exc:
        raise VerificationError(exc.message, reason=exc.reason, where=where) from exc


def verify_entry(
    entry: TlogEntry, *, trust: TrustMaterial, where: str
) -> VerifiedEntry | None:
    """Verify an entry's log evidence; None if its log is not trusted at all.

    Raises:
        VerificationError: the log is trusted but its evidence does not verify.
    """
    log = trust.tlog(entry.log_id)
    if log is None:
        return None
    if entry.inclusion_proof is None and entry.signed_entry_timestamp is None:
        msg = "entry has neither an inclusion proof nor a promise"
        raise VerificationError(msg, reason=Reason.TLOG_ENTRY_INVALID, where=where)
    if is_rekor_v2(entry) and entry.inclusion_proof is None:
        # Never looked up online: a Rekor v2 entry must carry its proof.
        msg = "Rekor v2 entry has no inclusion proof"
        raise VerificationError(msg, reason=Reason.INCLUSION_PROOF_INVALID, where=where)
    proven = False
    if entry.inclusion_proof is not None:
        _verify_proof(entry, log, where)
        proven = True
    integrated: datetime | None = None
    if entry.signed_entry_timestamp is not None and entry.integrated_time:
        try:
            keys.verify(
                log.key,
                entry.signed_entry_timestamp,
                set_payload(entry),
                what="SET",
                where=where,
            )
        except VerificationError as exc:
            raise VerificationError(
                exc.message, reason=Reason.SET_INVALID, where=where
            ) from exc
        integrated = datetime.fromtimestamp(entry.integrated_time, tz=UTC)
        if not log.valid_for.contains(integrated):
            msg = f"log key of {log.base_url} was not valid at the integration time {integrated:%Y-%m-%dT%H:%M:%SZ}"
            raise VerificationError(msg, reason=Reason.OUTSIDE_VALIDITY, where=where)
    elif entry.signed_entry_timestamp is not None:
        msg = "entry has a promise (SET) but no integration time"
        raise VerificationError(msg, reason=Reason.SET_INVALID, where=where)
    return VerifiedEntry(
        entry=entry, log=log, integrated_time=integrated, proven=proven
    )
