"""Which deny entries are in force: the policy's, and the revocation feeds the appliance holds.

:func:`in_force` is what every verification does before it judges: a feed
the archive carries (``bundle-tools export --revocations``) is verified
under the policy's ``revocation_keys`` and offered to the store (newer:
kept and applied; older: ignored and reported; a second feed of one
version: refused); then every held feed whose key the policy names is
applied, and ``max_revocation_age`` is checked against the newest.
:func:`import_feed` is ``appliance revocations import`` (a feed on its own),
audited like every decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from appliance.actions.audited import Audited
from appliance.actions.controls import enforce
from appliance.actions.policy import PolicyFile, load_policy
from appliance.core.errors import Reason, VerificationError
from appliance.core.revocations import MAX_FEED_BYTES, Feed, document, iso, verify_feed
from appliance.trust.revocations import RevocationStore, feed_sha256

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from appliance.actions.policy import LoadedPolicy
    from appliance.core.deny import DenyList


@dataclass(frozen=True, slots=True, kw_only=True)
class InForce:
    """The deny entries a verification applies, and what the report says of the feeds."""

    deny: DenyList
    policy_entries: int  # how many of them the policy file holds
    feeds: tuple[Feed, ...]  # applied, by key
    notes: tuple[str, ...]  # what happened to a carried feed, and why

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The report's ``revocations`` member."""
        return {
            "policy_entries": self.policy_entries,
            "feeds": [
                {
                    "publisher": f.publisher,
                    "version": f.version,
                    "issued": iso(f.issued),
                    "age_days": (now - f.issued).days,
                    "key_id": f.key_id.hex(),
                    "entries": len(f.deny.entries),
                }
                for f in self.feeds
            ],
            "notes": list(self.notes),
        }


def in_force(
    policy: LoadedPolicy,
    state_dir: Path,
    *,
    carried: Mapping[str, Any] | None,
    now: datetime,
) -> InForce:
    """The policy's deny entries and every applicable feed's, a carried feed offered first.

    Raises:
        VerificationError: a carried feed no revocation key verifies
            (``feed-untrusted``: the archive says it carries revocations the
            appliance cannot check, so nothing is judged), two feeds of one
            version (``rollback``), a held feed damaged, or the newest feed
            older than ``max_revocation_age`` (``revocations-stale``).
        InputError: a malformed feed or a damaged state.
    """
    store = RevocationStore(state_dir)
    notes: list[str] = []
    if carried is not None:
        if not policy.revocation_keys:
            notes.append(
                "the archive carries a revocation feed, but the policy names no "
                "revocation_keys: not applied"
            )
        else:
            feed = verify_feed(
                carried,
                trusted=policy.revocation_keys,
                where="the archive's revocation feed",
            )
            notes.append(store.offer(carried, feed, now=now).note)
    feeds = store.held(policy.revocation_keys) if policy.revocation_keys else ()
    deny = policy.deny
    for feed in feeds:
        deny += feed.deny
    _fresh(policy, feeds, now=now)
    return InForce(
        deny=deny,
        policy_entries=len(policy.deny.entries),
        feeds=feeds,
        notes=tuple(notes),
    )


# How far ahead of this clock a feed's ``issued`` may be (clocks disagree).
FEED_CLOCK_SKEW = timedelta(minutes=5)


def _fresh(policy: LoadedPolicy, feeds: tuple[Feed, ...], *, now: datetime) -> None:
    limit = policy.max_revocation_age
    if limit is None:
        return
    if not feeds:
        msg = (
            f"the policy's max_revocation_age is {limit.days} days, and no revocation "
            "feed is held: import one (appliance revocations import)"
        )
        raise VerificationError(
            msg, reason=Reason.REVOCATIONS_STALE, where="revocations"
        )
    newest = max(feeds, key=lambda f: f.issued)
    if newest.issued > now + FEED_CLOCK_SKEW:
        # A future date would be "0 days old" until that date comes: it
        # proves nothing about freshness (fail closed; the publisher's next
        # version replaces it).
        msg = (
            f"the newest {newest.describe()} is dated in the future (this clock "
            f"reads {iso(now)}): it cannot show the revocations are fresh; check "
            "the clock, or import a correctly dated feed"
        )
        raise VerificationError(
            msg, reason=Reason.REVOCATIONS_STALE, where="revocations"
        )
    if now - newest.issued > limit:
        msg = (
            f"the newest {newest.describe()} is {(now - newest.issued).days} days old, "
            f"over the policy's max_revocation_age of {limit.days} days"
        )
        raise VerificationError(
            msg, reason=Reason.REVOCATIONS_STALE, where="revocations"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportFeedRequest:
    """``appliance revocations import FEED --policy POLICY``."""

    feed: Path
    policy: Path
    state_dir: Path
    via: str = "cli"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportedFeed:
    """What the import decided (the report's body)."""

    outcome: str
    note: str
    feed: Feed
    record: dict[str, Any]


def import_feed(request: ImportFeedRequest) -> ImportedFeed:
    """Verify a feed under the policy's ``revocation_keys`` and keep it if newer.

    An older feed is not an error (exit 0): it is reported and ignored, as
    an archive's would be.

    Raises:
        InputError: an unreadable policy or feed.
        VerificationError: no revocation key verifies it; a second feed of
            the version held.
    """
    now = datetime.now(UTC)
    with Audited(
        "revocations import", request.state_dir, via=request.via, feed=str(request.feed)
    ) as audit:
        data = inputs.read_file(
            request.feed, what="revocation feed", max_bytes=MAX_FEED_BYTES
        )
        source = PolicyFile(path=request.policy)
        policy = enforce(load_policy(source), source, request.state_dir)
        doc = document(data, where=str(request.feed))
        feed = verify_feed(doc, trusted=policy.revocation_keys, where=str(request.feed))
        offered = RevocationStore(request.state_dir).offer(doc, feed, now=now)
        record = {
            "feed_sha256": feed_sha256(data),
            "publisher": feed.publisher,
            "version": feed.version,
            "issued": iso(feed.issued),
            "key_id": feed.key_id.hex(),
            "entries": len(feed.deny.entries),
            "outcome": offered.outcome,
            "policy": str(request.policy),
            "policy_approved_by": list(policy.approved_by),
        }
        head = audit.record({**record, "exit_code": 0})
    return ImportedFeed(
        outcome=offered.outcome,
        note=offered.note,
        feed=feed,
        record={**record, "audit": head.to_json()},
    )
