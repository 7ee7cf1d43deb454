"""The revocation feeds this appliance holds, and the rollback floor of each.

Layout under ``$APPLIANCE_STATE_DIR/revocations/``::

    state.json          per revocation key: the newest feed's version, SHA-256, publisher, dates
    <key id hex>.json   that feed, as received (its JSON object)

A feed is kept per key that signed it (a site's security team and a vendor
publish independently). A feed older than the one held for its key is
ignored and reported: an archive cannot take back a revocation by carrying
an older feed (docs/revocation.md §3), as TUF refuses a rolled-back root.
Two different feeds of one version are refused outright: the publisher
equivocated, or someone forged one. Each offer reads, compares and commits
under one lock; every file is written temp + fsync + rename.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from airlock_io.atomic import locked, write_atomically
from airlock_io.oserrors import write_error
from appliance.core import _json
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.revocations import (
    MAX_FEED_BYTES,
    Feed,
    document,
    iso,
    verify_feed,
)
from trustroot import strict_json

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

    from appliance.core.keys import PublicKey

STATE_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Offered:
    """What became of a feed offered to the store."""

    feed: Feed
    outcome: str  # "applied" | "already held" | "older than held: ignored"
    held_version: int | None  # the version held for its key before the offer

    @property
    def note(self) -> str:
        """One line for the report and the audit log."""
        if self.outcome == "applied":
            was = "none" if self.held_version is None else f"v{self.held_version}"
            return f"{self.feed.describe()}: applied and kept (held before: {was})"
        if self.outcome == "already held":
            return f"{self.feed.describe()}: already held"
        return (
            f"{self.feed.describe()}: older than v{self.held_version} held: "
            "ignored (a feed is never rolled back)"
        )


class RevocationStore:
    """The feeds held, by revocation key."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "revocations"
        self._lock = state_dir / ".revocations.lock"

    def _state(self) -> dict[str, Any]:
        path = self.directory / "state.json"
        if not path.exists():
            return {"version": STATE_VERSION, "feeds": {}}
        try:
            doc = strict_json.loads(
                inputs.read_file(
                    path, what="revocation state", max_bytes=inputs.MAX_STATE_BYTES
                )
            )
        except ValueError as exc:
            msg = f"is damaged ({exc})"
            raise InputError(
                msg, where=str(path), reason=Reason.INPUT_UNREADABLE
            ) from exc
        if (
            not isinstance(doc, dict)
            or doc.get("version") != STATE_VERSION
            or not isinstance(doc.get("feeds"), dict)
        ):
            msg = "is damaged (not a revocation state of version 1)"
            raise InputError(msg, where=str(path), reason=Reason.INPUT_UNREADABLE)
        return doc

    def _write(self, name: str, data: bytes) -> None:
        path = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        except OSError as exc:
            raise write_error(
                exc, path, doing="cannot keep the revocation feed"
            ) from exc

    def offer(self, doc: Mapping[str, Any], feed: Feed, *, now: datetime) -> Offered:
        """Keep ``feed`` (already verified) if it is newer than the one held for its key.

        Raises:
            VerificationError: a different feed of the version held (``rollback``).
            InputError: the state is damaged or cannot be written.
        """
        key = feed.key_id.hex()
        with locked(self._lock):
            state = self._state()
            held = state["feeds"].get(key)
            held_version = None if held is None else int(held["version"])
            if held_version is not None and feed.version < held_version:
                return Offered(
                    feed=feed,
                    outcome="older than held: ignored",
                    held_version=held_version,
                )
            if held_version == feed.version:
                if held is not None and held.get("sha256") != feed.sha256:
                    msg = (
                        f"{feed.describe()} differs from the v{feed.version} already held: "
                        "one version, two feeds (refused)"
                    )
                    raise VerificationError(
                        msg, reason=Reason.ROLLBACK, where="revocation feed"
                    )
                return Offered(
                    feed=feed, outcome="already held", held_version=held_version
                )
            self._write(f"{key}.json", _json.document(dict(doc)))
            state["feeds"][key] = {
                "version": feed.version,
                "sha256": feed.sha256,
                "publisher": feed.publisher,
                "issued": iso(feed.issued),
                "imported_at": iso(now),
            }
            self._write("state.json", _json.document(state))
        return Offered(feed=feed, outcome="applied", held_version=held_version)

    def held(self, trusted: Sequence[PublicKey]) -> tuple[Feed, ...]:
        """Every held feed signed by a key of ``trusted``, verified again.

        A feed held for a key the policy no longer names is not applied.

        Raises:
            InputError: the state or a feed file is damaged.
            VerificationError: a held feed no longer verifies, or is not the one recorded.
        """
        from appliance.core import keys  # noqa: PLC0415 - only to name the keys

        wanted = {keys.key_id(k).hex() for k in trusted}
        feeds = []
        for key, entry in sorted(self._state()["feeds"].items()):
            if key not in wanted:
                continue
            path = self.directory / f"{key}.json"
            data = inputs.read_file(
                path, what="revocation feed", max_bytes=MAX_FEED_BYTES
            )
            feed = verify_feed(
                document(data, where=str(path)), trusted=trusted, where=str(path)
            )
            if feed.sha256 != entry.get("sha256") or feed.key_id.hex() != key:
                msg = "is not the feed the revocation state recorded: move the revocations directory aside and import again"
                raise VerificationError(msg, reason=Reason.ROLLBACK, where=str(path))
            feeds.append(feed)
        return tuple(feeds)

    def summary(self) -> list[dict[str, Any]]:
        """What is held (for ``trust show`` and the TUI): per key, version, publisher, dates."""
        return [
            {"key_id": key, **entry}
            for key, entry in sorted(self._state()["feeds"].items())
        ]


def feed_sha256(data: bytes) -> str:
    """SHA-256 of a feed file as received (the audit line names it)."""
    return hashlib.sha256(data).hexdigest()
