"""One transparency log entry: inclusion proof, signed checkpoint, SET.

Per docs/verification.md §4. The entry's body is compared with the bundle separately
(:mod:`appliance.core.rekor_body`), because that needs the signer and the
signed material. An ``integratedTime`` becomes a *verified* time only when
its SET verified. Whether the log's key was valid when it vouched for the
entry is decided by the verifier, once every verified time is known
(:func:`check_key_window`): an inclusion proof alone carries no time.

Every verified checkpoint is compared with the appliance's memory of the log
(:class:`~appliance.core.trust.LogMemory`): a checkpoint of a size already
seen with another root proves a split view, and a log caught doing that
vouches for nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import rfc8785

from appliance.core import _base64, _json, keys, merkle
from appliance.core.checkpoint import Checkpoint
from appliance.core.errors import Reason, SplitViewError, VerificationError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from appliance.core.bundle import TlogEntry
    from appliance.core.trust import TrustedLog, TrustMaterial


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenCheckpoint:
    """A checkpoint that verified: what the log memory records."""

    log_id: bytes
    origin: str
    size: int
    root_hash: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedEntry:
    """An entry whose log evidence verified."""

    entry: TlogEntry
    log: TrustedLog
    integrated_time: datetime | None  # set only when the SET verified
    checkpoint: SeenCheckpoint | None  # set when proof and checkpoint verified

    @property
    def proven(self) -> bool:
        """Inclusion proof and signed checkpoint verified."""
        return self.checkpoint is not None

    @property
    def log_index(self) -> int | None:
        """The global log index, if signed evidence covers it.

        A SET signs the entry's ``logIndex``; a Rekor v2 proof is computed at
        that index (checked equal to the proof's). A Rekor v1 proof covers
        only a shard-local index, so it vouches for no global index.
        """
        if self.integrated_time is not None or (
            self.checkpoint is not None and is_rekor_v2(self.entry)
        ):
            return self.entry.log_index
        return None


def is_rekor_v2(entry: TlogEntry) -> bool:
    """Rekor v2 logs only hashedrekord 0.0.2 entries (docs/bundle.md §6)."""
    return (entry.kind, entry.version) == ("hashedrekord", "0.0.2")


def set_payload(entry: TlogEntry) -> bytes:
    """The bytes a Rekor v1 SET signs: RFC 8785 JSON of exactly four members.

    Written out directly rather than through a general RFC 8785 encoder (a
    quarter of the non-public-key time of a bundle went there): the members
    are fixed and already in RFC 8785 §3.2.3 order (UTF-16 code units:
    ``body`` < ``integratedTime`` < ``logID`` < ``logIndex``); the two
    strings are base64 and lowercase hex, which need no escaping (§3.2.2.2);
    the two numbers are integers the bundle parser keeps within
    ``0..2**53 - 1``, which ECMAScript prints as plain decimal digits
    (§3.2.2.3). :func:`set_payload_reference` is the general encoder's
    answer, which a property test holds this equal to.
    """
    index, integrated = entry.log_index, entry.integrated_time
    if not (
        type(index) is int
        and type(integrated) is int
        and 0 <= index <= _json.MAX_SAFE_INTEGER
        and 0 <= integrated <= _json.MAX_SAFE_INTEGER
    ):
        return set_payload_reference(entry)
    body = _base64.encode(entry.canonicalized_body)
    return b"".join(
        (
            b'{"body":"',
            body,
            b'","integratedTime":',
            str(integrated).encode(),
            b',"logID":"',
            entry.log_id.hex().encode(),
            b'","logIndex":',
            str(index).encode(),
            b"}",
        )
    )


def set_payload_reference(entry: TlogEntry) -> bytes:
    """The SET payload through the general RFC 8785 encoder (``rfc8785``)."""
    return rfc8785.dumps(
        {
            "body": base64.b64encode(entry.canonicalized_body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        }
    )


def _remembered(seen: SeenCheckpoint, trust: TrustMaterial, where: str) -> None:
    known = trust.memory.roots.get((seen.origin, seen.size))
    if known is not None and known != seen.root_hash:
        msg = (
            f"split view: checkpoint of {seen.origin} at tree size {seen.size} has root "
            f"{seen.root_hash.hex()[:16]}…, but the appliance verified root {known.hex()[:16]}… "
            "for that size before"
        )
        raise SplitViewError(
            msg,
            log_id=seen.log_id,
            origin=seen.origin,
            size=seen.size,
            roots=(known, seen.root_hash),
            where=where,
        )


def _verify_proof(entry: TlogEntry, log: TrustedLog, where: str) -> SeenCheckpoint:
    proof = entry.inclusion_proof
    if (
        proof is None or proof.checkpoint is None
    ):  # callers check; kept for type narrowing
        raise VerificationError(
            "no inclusion proof", reason=Reason.INCLUSION_PROOF_INVALID, where=where
        )
    checkpoint = Checkpoint.from_text(proof.checkpoint)
    checkpoint.verify(log.key, names=log.note_names, hint=log.checkpoint_hint)
    # Our hardening (docs/verification.md §4, step 4): the signed checkpoint must
    # describe exactly the tree the proof is for.
    if checkpoint.size != proof.tree_size or checkpoint.root_hash != proof.root_hash:
        msg = "checkpoint describes another tree than the inclusion proof"
        raise VerificationError(msg, reason=Reason.CHECKPOINT_INVALID, where=where)
    if is_rekor_v2(entry):
        # Rekor v2 proves the entry's own index (rekor-tiles): the two
        # indexes must agree, or the entry claims a position it was not at.
        if proof.log_index != entry.log_index:
            msg = f"entry log index {entry.log_index} differs from its proof's {proof.log_index}"
            raise VerificationError(
                msg, reason=Reason.INCLUSION_PROOF_INVALID, where=where
            )
        index = entry.log_index
    else:
        index = proof.log_index  # Rekor v1 proves a shard-local index
    leaf = merkle.leaf_hash(entry.canonicalized_body)
    try:
        merkle.verify_inclusion(
            leaf, index, proof.tree_size, proof.hashes, proof.root_hash
        )
    except VerificationError as exc:
        raise VerificationError(exc.message, reason=exc.reason, where=where) from exc
    return SeenCheckpoint(
        log_id=log.log_id,
        origin=checkpoint.origin,
        size=checkpoint.size,
        root_hash=checkpoint.root_hash,
    )


def verify_entry(
    entry: TlogEntry, *, trust: TrustMaterial, where: str
) -> VerifiedEntry | None:
    """Verify an entry's log evidence; None if its log is not trusted at all.

    Raises:
        VerificationError: the log is trusted but its evidence does not
            verify, or the log is known to have shown a split view.
    """
    log = trust.tlog(entry.log_id)
    if log is None:
        return None
    split = trust.memory.split_logs.get(log.log_id)
    if split is not None:
        msg = (
            f"{log.base_url} showed a split view (two roots for tree size {split.size} of "
            f"{split.origin}); its entries are refused until an operator acts "
            "(see `appliance trust show`)"
        )
        raise VerificationError(msg, reason=Reason.SPLIT_VIEW, where=where)
    if entry.inclusion_proof is None and entry.signed_entry_timestamp is None:
        msg = "entry has neither an inclusion proof nor a promise"
        raise VerificationError(msg, reason=Reason.TLOG_ENTRY_INVALID, where=where)
    if is_rekor_v2(entry) and entry.inclusion_proof is None:
        # Never looked up online: a Rekor v2 entry must carry its proof.
        msg = "Rekor v2 entry has no inclusion proof"
        raise VerificationError(msg, reason=Reason.INCLUSION_PROOF_INVALID, where=where)
    seen: SeenCheckpoint | None = None
    if entry.inclusion_proof is not None:
        seen = _verify_proof(entry, log, where)
        _remembered(seen, trust, where)
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
    elif entry.signed_entry_timestamp is not None:
        msg = "entry has a promise (SET) but no integration time"
        raise VerificationError(msg, reason=Reason.SET_INVALID, where=where)
    return VerifiedEntry(
        entry=entry, log=log, integrated_time=integrated, checkpoint=seen
    )


def check_key_window(
    verified: VerifiedEntry, times: Iterable[datetime], *, where: str
) -> None:
    """The log's key must have been valid at every verified time the entry backs.

    A SET's integration time is one of ``times``; for a proof-only entry
    (Rekor v2, or v0.2+ without a SET) the times come from elsewhere (RFC
    3161 stamps). The caller drops entries with no verified time at all.

    Raises:
        VerificationError: a time lies outside the key's ``validFor``.
    """
    for when in times:
        if not verified.log.valid_for.contains(when):
            msg = f"log key of {verified.log.base_url} was not valid at the verified time {when:%Y-%m-%dT%H:%M:%SZ}"
            raise VerificationError(msg, reason=Reason.OUTSIDE_VALIDITY, where=where)
