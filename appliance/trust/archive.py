"""The trust an archive's verification uses: only ever from the operator's side.

An archive may carry a TUF capsule: it is imported through the same offline
replay as ``appliance trust import``, from the root the appliance already
trusts (with the same freshness allowance and rollback state), and committed
before anything is judged. A capsule older than the trust already held is a
rollback for TUF, but not a reason to refuse the archive: the newer trust held
is used, and the report says so. Any other failure of the capsule fails the
verification (fail closed).

A plain ``trusted_root.json`` inside an archive is never trusted: anyone can
write an archive. Only a file the operator names (``--trusted-root``) is used,
reported as "not TUF-backed".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.core.archive import media, view
from appliance.core.errors import InputError, Reason, TrustRootError
from appliance.trust import roots

if TYPE_CHECKING:
    from datetime import datetime, timedelta
    from pathlib import Path

    from appliance.core.archive.intake import Contents
    from appliance.core.archive.ledger import Ledger
    from appliance.core.trust import LogMemory, TrustMaterial


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustReport:
    """Where the trust came from, how old it is, and what was relaxed."""

    source: str
    sha256: str
    tuf_backed: bool
    root_version: int | None
    stale_since: datetime | None
    capsule: str  # imported | older than held | none | plain trusted root ignored
    allowances: tuple[str, ...]
    timestamp_expires: datetime | None  # the archive capsule's, as exported
    export_time: datetime | None
    # Further capsules, by the named root they continue: what became of each.
    named: tuple[tuple[str, str], ...] = ()

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The report's ``trust`` object."""

        def days(a: datetime | None, b: datetime | None) -> float | None:
            return (
                None
                if a is None or b is None
                else round((a - b).total_seconds() / 86400, 1)
            )

        return {
            "source": self.source,
            "sha256": self.sha256,
            "tuf_backed": self.tuf_backed,
            "root_version": self.root_version,
            "stale_since": _iso(self.stale_since),
            "capsule": self.capsule,
            "expiry_allowances": list(self.allowances),
            "capsule_timestamp_expires": _iso(self.timestamp_expires),
            # Positive: the capsule's timestamp had expired that many days before.
            "capsule_expired_days_at_export": days(
                self.export_time, self.timestamp_expires
            ),
            "capsule_expired_days_now": days(now, self.timestamp_expires),
            "named_capsules": dict(self.named),
        }


def trust_for(  # noqa: PLR0913 - every input named
    contents: Contents,
    ledger: Ledger,
    *,
    trusted_root: Path | None,
    state_dir: Path,
    now: datetime,
    max_age: timedelta,
    memory: LogMemory,
) -> tuple[TrustMaterial, TrustReport]:
    """The trust to verify ``contents`` with, and how it was established.

    Raises:
        TrustRootError: the archive's capsule does not replay (signatures,
            thresholds, expiry beyond ``max_age``...), or stored trust is
            damaged.
        InputError: ``trusted_root`` cannot be read.
    """
    carried = view.trust_files(contents)
    capsule = "none in the archive"
    allowances: tuple[str, ...] = ()
    if carried is not None and carried[0] == media.TRUST_CAPSULE:
        capsule, allowances = _import(
            carried[1], state_dir=state_dir, now=now, max_age=max_age
        )
    elif carried is not None:
        capsule = (
            "a plain trusted root is carried; never used (yours, from --trusted-root, is)"
            if trusted_root is not None
            else "a plain trusted root is carried; never used (pass --trusted-root with your own copy)"
        )
    named = tuple(
        (
            name,
            _import_named(
                files, name=name, state_dir=state_dir, now=now, max_age=max_age
            ),
        )
        for name, files in sorted(view.named_capsules(contents).items())
    )
    trust = roots.load_current(
        trusted_root=trusted_root, state_dir=state_dir, now=now, memory=memory
    )
    version = None
    if trusted_root is None:
        from appliance.trust.state import StateStore  # noqa: PLC0415

        state = StateStore(state_dir).load()
        version = (
            state.root_version if state is not None else roots.embedded_expiry()[0]
        )
    return trust, TrustReport(
        source=trust.source,
        sha256=trust.sha256,
        tuf_backed=trust.tuf_backed,
        root_version=version,
        stale_since=trust.stale_since,
        capsule=capsule,
        allowances=allowances,
        timestamp_expires=ledger.trust.timestamp_expires,
        export_time=ledger.created,
        named=named,
    )


def _import(
    files: dict[str, bytes], *, state_dir: Path, now: datetime, max_age: timedelta
) -> tuple[str, tuple[str, ...]]:
    """Replay and commit the capsule; say what happened."""
    from appliance.core.archive.capsule import fetcher  # noqa: PLC0415
    from appliance.trust import replay  # noqa: PLC0415 - tuf only when a capsule comes
    from appliance.trust.controls import root_change  # noqa: PLC0415
    from appliance.trust.memory import Memory  # noqa: PLC0415
    from appliance.trust.state import StateStore  # noqa: PLC0415
    from trustroot import store  # noqa: PLC0415

    # Read, replay and commit under the state lock (see StateStore.update).
    with StateStore(state_dir).update() as update:
        previous = update.previous
        bootstrap = (
            previous.read("root.json")
            if previous is not None
            else store.read_embedded(store.PUBLIC_GOOD, "root.json")
        )
        try:
            result = replay.replay(
                fetcher(files),
                bootstrap=bootstrap,
                now=now,
                max_age=max_age,
                previous=previous,
            )
        except TrustRootError as exc:
            if exc.reason is Reason.ROLLBACK and previous is not None:
                return (
                    f"older than the trust held (root v{previous.root_version}); the trust held is used",
                    (),
                )
            raise TrustRootError(
                f"the archive's trust capsule does not replay: {exc.message}",
                reason=exc.reason,
                where=exc.where,
            ) from exc
        try:
            # Two-person integrity: a new root version is never committed
            # from an archive on one person's say-so (docs/revocation.md §4).
            root_change(
                state_dir,
                result,
                None if previous is None else previous.root_version,
                None,
                name=store.PUBLIC_GOOD,  # the archive's capsule feeds public-good
            )
        except InputError as exc:
            return (
                (
                    f"not imported, the trust held is used: {exc.message}; "
                    "import it with `appliance trust import ARCHIVE --approvals FILE`"
                ),
                (),
            )
        state = update.commit(result, source="transfer archive", now=now)
    Memory(state_dir).raise_floor(
        [(now, f"the appliance clock when it committed TUF root v{state.root_version}")]
    )
    allowances = tuple(
        f"{a.role} expired {_iso(a.expired_at)}, accepted under --trust-max-age"
        for a in result.allowances
    )
    return (
        f"imported: TUF root v{state.root_version}, timestamp v{result.roles['timestamp'].version}",
        allowances,
    )


def _import_named(
    files: dict[str, bytes],
    *,
    name: str,
    state_dir: Path,
    now: datetime,
    max_age: timedelta,
) -> str:
    """Replay a named root's capsule from that root as held, and commit it; say what happened.

    Only a root already held (imported once with ``trust import --name NAME
    --bootstrap-root``) continues: nothing in an archive starts a chain. A
    capsule that does not replay fails the verification, as the main one.

    Raises:
        TrustRootError: the capsule does not replay from the held root.
    """
    from appliance.core.archive.capsule import fetcher  # noqa: PLC0415
    from appliance.trust import held, replay  # noqa: PLC0415 - tuf only when a capsule comes
    from appliance.trust.controls import root_change  # noqa: PLC0415

    store = held.store(state_dir, name)
    not_held = f"not held: start it with `appliance trust import --name {name} --bootstrap-root ROOT`; not used"
    if store.load() is None:  # read first: an archive creates no state for a name
        return not_held
    with store.update() as update:
        previous = update.previous
        if previous is None:
            return not_held
        try:
            result = replay.replay(
                fetcher(files),
                bootstrap=previous.read("root.json"),
                now=now,
                max_age=max_age,
                previous=previous,
            )
        except TrustRootError as exc:
            if exc.reason is Reason.ROLLBACK:
                return f"older than the trust held (root v{previous.root_version}); the trust held is used"
            raise TrustRootError(
                f"the archive's {name} trust capsule does not replay: {exc.message}",
                reason=exc.reason,
                where=exc.where,
            ) from exc
        try:
            # As for public-good's capsule: no new root version of any name
            # on one person's say-so (docs/revocation.md §4).
            root_change(state_dir, result, previous.root_version, None, name=name)
        except InputError as exc:
            return (
                f"not imported, the trust held is used: {exc.message}; import its capsule with "
                f"`appliance trust import DIR --name {name} --approvals FILE`"
            )
        state = update.commit(result, source="transfer archive", now=now)
    held.memory(state_dir, name).raise_floor(
        [
            (
                now,
                f"the appliance clock when it committed {name} TUF root v{state.root_version}",
            )
        ]
    )
    return f"imported: TUF root v{state.root_version}, timestamp v{result.roles['timestamp'].version}"


def with_memory(trust: TrustMaterial, memory: LogMemory) -> TrustMaterial:
    """``trust`` checked against ``memory`` (the log-consistency memory)."""
    return dataclasses.replace(trust, memory=memory)
