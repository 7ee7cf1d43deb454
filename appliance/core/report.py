"""The result of a successful verification: data only, rendered at the edges.

A result exists only when everything was positively verified; failure is an
exception. ``checks`` lists, in order, every check that passed, so a report
can show an auditor exactly what was established.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from appliance.core.certs import Identity
    from appliance.core.tlog import SeenCheckpoint


class TimeSource(StrEnum):
    """Where a verified signing time came from."""

    TRANSPARENCY_LOG = "transparency-log"  # a Rekor v1 SET's integrated time
    TIMESTAMP_AUTHORITY = "timestamp-authority"  # an RFC 3161 stamp
    NONE = "none"  # key-signed material with no verified time


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationResult:
    """What was verified, by whom it was signed, and when."""

    signer: str  # the matched SAN, or the key id for key-signed material
    issuer: str | None
    signing_time: datetime | None
    time_source: TimeSource
    log_index: int | None
    log_url: str | None
    bundle_version: str
    content: str  # "message-signature" | "dsse" | "cosign-legacy"
    predicate_type: str | None = None
    subject: str | None = None
    # The matched statement subject's annotations (a DSSE statement's, where
    # cosign v3 writes ``-a``); None: the form carries none (a message
    # signature). A cosign legacy payload's ``optional`` map, once verified.
    subject_annotations: dict[str, object] | None = None
    trust_source: str = ""
    trust_name: str = "public-good"  # the named root it verified under
    trust_sha256: str = ""
    tuf_backed: bool = False
    trust_stale_since: datetime | None = None
    checks: tuple[str, ...] = field(default_factory=tuple)
    # For the edge's memories (clock floor, log consistency); not in to_json.
    verified_times: tuple[datetime, ...] = field(default_factory=tuple)
    checkpoints: tuple[SeenCheckpoint, ...] = field(default_factory=tuple)
    # What signed: the verified certificate identity, or the key's id.
    identity: Identity | None = None
    key_id: bytes | None = None
    # The verified in-toto statement (DSSE payload), for predicate rules;
    # not in to_json.
    payload: bytes | None = None
    # What a deny entry can name (appliance.core.deny): every counted log
    # entry as (log id, log index), and the serials of the leaf certificate
    # and of the trusted CA chain it was validated to, leaf first.
    log_entries: tuple[tuple[bytes, int], ...] = ()
    certificate_serials: tuple[int, ...] = ()

    def compact(self) -> VerificationResult:
        """The result without what only a detailed view reads (once its report entry is written).

        Kept: who signed, when, where in the log, under which root, and what
        the appliance's memories need (verified times, checkpoints). Dropped:
        the checks' wording, the statement, the certificate identity, what a
        deny entry could name (deny entries were applied while judging).
        """
        return replace(
            self,
            # Signers, issuers and logs repeat across an archive's signatures.
            signer=sys.intern(self.signer),
            issuer=None if self.issuer is None else sys.intern(self.issuer),
            log_url=None if self.log_url is None else sys.intern(self.log_url),
            checks=(),
            payload=None,
            identity=None,
            subject_annotations=None,
            log_entries=(),
            certificate_serials=(),
        )

    def to_json(self) -> dict[str, object]:
        """A stable JSON object for ``-o json`` (keys never renamed)."""
        return {
            "verified": True,
            "signer": self.signer,
            "issuer": self.issuer,
            "signing_time": None
            if self.signing_time is None
            else _iso(self.signing_time),
            "signing_time_source": self.time_source.value,
            "log_index": self.log_index,
            "log_url": self.log_url,
            "bundle_version": self.bundle_version,
            "content": self.content,
            "predicate_type": self.predicate_type,
            "subject": self.subject,
            "trust_root": {
                "source": self.trust_source,
                "name": self.trust_name,
                "sha256": self.trust_sha256,
                "tuf_backed": self.tuf_backed,
                "stale_since": None
                if self.trust_stale_since is None
                else _iso(self.trust_stale_since),
            },
            "checks": list(self.checks),
        }


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
