"""Replay a TUF chain offline, from a root the appliance already trusts.

This is the TUF client workflow (TUF specification §5; docs/trust.md §6) over files that
crossed the gap, implemented with python-tuf's public metadata API and an
explicit reference time instead of ``ngclient`` (which reads the clock and
cannot relax expiry; docs/trust.md §6). Everything is enforced:
signature thresholds, the root chain rule, every hash, length and version
binding, rollback against the stored state. The single relaxation is expiry,
and only by an explicit allowance (``max_age``): each role accepted past its
expiry is recorded in the result, and nothing expired longer is accepted.

It reads through a ``fetch(name) -> bytes | None`` callable and writes
nothing; :mod:`appliance.trust.state` persists the result.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from appliance.core.errors import Reason, TrustRootError
from appliance.core.trust import TrustMaterial
from trustroot import strict_json

if TYPE_CHECKING:
    from appliance.trust.state import TrustState

Fetch = Callable[[str], bytes | None]
MAX_ROOT_ROTATIONS = 256  # python-tuf's default bound
REQUIRED_TARGET = "trusted_root.json"
WANTED_TARGETS = (REQUIRED_TARGET, "signing_config.v0.2.json")


@dataclass(frozen=True, slots=True, kw_only=True)
class Allowance:
    """A role accepted past its expiry under ``--trust-max-age``."""

    role: str
    expired_at: datetime
    overdue: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleInfo:
    """What the chain established for one role."""

    version: int
    expires: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayResult:
    """A verified chain: everything to persist, and what was relaxed."""

    root: bytes
    root_history: dict[int, bytes]
    timestamp: bytes
    snapshot: bytes
    targets: bytes
    target_files: dict[str, bytes]
    roles: dict[str, RoleInfo]
    snapshot_meta_version: int  # the timestamp's snapshot version
    targets_meta_version: int  # the snapshot's targets version
    online_keyids: dict[
        str, tuple[str, ...]
    ]  # timestamp and snapshot keys, for fast-forward recovery
    allowances: tuple[Allowance, ...] = field(default_factory=tuple)
    left_out: dict[str, str] = field(
        default_factory=dict
    )  # optional target -> why it was not kept

    @property
    def trusted_root_sha256(self) -> str:
        """SHA-256 of the verified ``trusted_root.json``."""
        return hashlib.sha256(self.target_files["trusted_root.json"]).hexdigest()


def _fail(message: str, reason: Reason, where: str) -> TrustRootError:
    return TrustRootError(message, reason=reason, where=where)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _days(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"  # noqa: PLR2004


class _Replay:
    def __init__(
        self,
        fetch: Fetch,
        *,
        now: datetime,
        max_age: timedelta,
        previous: TrustState | None,
    ) -> None:
        self.fetch = fetch
        self.now = now
        self.max_age = max_age
        self.previous = previous
        self.allowances: list[Allowance] = []
        self.too_old: list[Allowance] = []

    def load(self, name: str, kind: type[Signed], data: bytes) -> Metadata[Any]:
        try:
            # The one strict reader first (duplicate keys, NaN, depth): python-
            # tuf's own json.loads would keep the last of two duplicates.
            md: Metadata[Any] = Metadata.from_dict(strict_json.loads(data))
        except (
            Exception
        ) as exc:  # python-tuf's parse boundary: any failure is "not valid"
            detail = " ".join(str(exc).split())[:200]
            raise _fail(
                f"not valid TUF metadata ({type(exc).__name__}: {detail})",
                Reason.TRUST_ROOT_INVALID,
                name,
            ) from exc
        if not isinstance(md.signed, kind):
            raise _fail(
                f"is a {md.signed.type} role, not {kind.type}",
                Reason.TRUST_ROOT_INVALID,
                name,
            )
        return md

    def need(self, name: str) -> bytes:
        data = self.fetch(name)
        if data is None:
            raise _fail("missing from the source", Reason.TRUST_ROOT_INVALID, name)
        return data

    def check_signed(
        self, delegator: Root, role: str, md: Metadata[Any], name: str, what: str = ""
    ) -> None:
        try:
            # Sigstore's real roots (v1-v8) use the key type
            # "ecdsa-sha2-nistp256", for which securesystemslib warns; under a
            # strict warnings filter that warning would become an exception
            # it counts as a bad signature. The verdict must not depend on it.
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", category=DeprecationWarning, module="securesystemslib"
                )
                delegator.verify_delegate(role, md.signed_bytes, md.signatures)
        except tuf_errors.UnsignedMetadataError as exc:
            threshold = delegator.roles[role].threshold
            raise _fail(
                f"not signed by {threshold} of the {what or role} keys ({exc})",
                Reason.THRESHOLD_NOT_MET,
                name,
            ) from exc
        except Exception as exc:  # securesystemslib's boundary: a key it cannot use
            raise _fail(
                f"signatures cannot be checked ({type(exc).__name__}: {exc})",
                Reason.TRUST_ROOT_INVALID,
                name,
            ) from exc

    def check_expiry(self, role: str, signed: Signed, name: str) -> None:
        del name
        if not signed.is_expired(self.now):
            return
        overdue = self.now - signed.expires
        late = Allowance(role=role, expired_at=signed.expires, overdue=overdue)
        (self.too_old if overdue > self.max_age else self.allowances).append(late)

    def refuse_expired(self) -> None:
        """Refuse, once, naming every role expired beyond the allowance.

        Expiry is checked last so that one message tells the operator
        everything that expired and the allowance that would cover it.
        """
        if not self.too_old:
            return
        late = ", ".join(
            f"{a.role} expired {_iso(a.expired_at)} ({_days(a.overdue)} ago)"
            for a in self.too_old
        )
        needed = max(a.overdue for a in (*self.too_old, *self.allowances))
        allowed = (
            f" (more than the allowed {_days(self.max_age)})" if self.max_age else ""
        )
        raise _fail(
            f"{late}{allowed}; pass --trust-max-age {int(needed.total_seconds() // 86400) + 1}d to accept metadata expired by at most that long",
            Reason.TRUST_ROOT_EXPIRED,
            "TUF metadata",
        )

    def check_meta(self, meta: MetaFile, data: bytes, name: str) -> None:
        try:
            meta.verify_length_and_hashes(data)
        except tuf_errors.LengthOrHashMismatchError as exc:
            raise _fail(
                f"is not the file its parent signed ({exc})",
                Reason.METADATA_MISMATCH,
                name,
            ) from exc

    # -- the workflow ----------------------------------------------------------

    def roots(self, bootstrap: bytes) -> tuple[Metadata[Root], dict[int, bytes]]:
        trusted = self.load("bootstrap root", Root, bootstrap)
        # The bootstrap is self-signed: a torn or edited pinned root is refused.
        self.check_signed(trusted.signed, "root", trusted, "bootstrap root")
        history = {trusted.signed.version: bootstrap}
        for _ in range(MAX_ROOT_ROTATIONS):
            version = trusted.signed.version + 1
            name = f"{version}.root.json"
            data = self.fetch(name)
            if data is None:
                break  # the chain ends at the first missing version (spec 5.3.3)
            new = self.load(name, Root, data)
            self.check_signed(
                trusted.signed,
                "root",
                new,
                name,
                what=f"root v{trusted.signed.version} root",
            )
            self.check_signed(
                new.signed, "root", new, name, what=f"root v{version}'s own root"
            )
            if new.signed.version != version:
                raise _fail(
                    f"says version {new.signed.version}, expected {version}",
                    Reason.BAD_VERSION,
                    name,
                )
            trusted, history[version] = new, data
        if (
            self.previous is not None
            and trusted.signed.version < self.previous.root_version
        ):
            raise _fail(
                f"root v{trusted.signed.version} is older than the trusted v{self.previous.root_version}",
                Reason.ROLLBACK,
                "root",
            )
        self.check_expiry("root", trusted.signed, f"{trusted.signed.version}.root.json")
        return trusted, history

    def same_keys(self, root: Root, role: str) -> bool:
        """Fast-forward recovery (spec 5.3.11): new online keys reset rollback state."""
        if self.previous is None:
            return False
        return tuple(
            sorted(root.roles[role].keyids)
        ) == self.previous.online_keyids.get(role, ())

    def timestamp(self, root: Root) -> tuple[Metadata[Timestamp], bytes]:
        data = self.need("timestamp.json")
        md = self.load("timestamp.json", Timestamp, data)
        self.check_signed(root, "timestamp", md, "timestamp.json")
        prev = self.previous
        if prev is not None and self.same_keys(root, "timestamp"):
            if md.signed.version < prev.roles["timestamp"].version:
                raise _fail(
                    f"v{md.signed.version} is older than the trusted v{prev.roles['timestamp'].version}",
                    Reason.ROLLBACK,
                    "timestamp.json",
                )
            if md.signed.snapshot_meta.version < prev.snapshot_meta_version:
                raise _fail(
                    f"names snapshot v{md.signed.snapshot_meta.version}, older than the trusted v{prev.snapshot_meta_version}",
                    Reason.ROLLBACK,
                    "timestamp.json",
                )
            if md.signed.version == prev.roles["timestamp"].version:
                md, data = self.held_timestamp(md)
        self.check_expiry("timestamp", md.signed, "timestamp.json")
        return md, data

    def held_timestamp(
        self, new: Metadata[Timestamp]
    ) -> tuple[Metadata[Timestamp], bytes]:
        """A timestamp of the held version: keep the held one (TUF spec 1.0 §5.4.3).

        A timestamp whose version equals the trusted one is not new: like
        python-tuf's ``TrustedMetadataSet.update_timestamp``
        (``EqualVersionNumberError``), the trusted timestamp stays in use and
        its bytes, not the new ones, are what is committed again. The same
        version naming another snapshot (version, length or hashes) is two
        different timestamps under one version number: a rollback or freeze
        attempt (§5.4.3-5.4.4), refused.
        """
        assert self.previous is not None  # noqa: S101 - only called with held trust
        held_bytes = self.previous.read("timestamp.json")
        held: Metadata[Timestamp] = self.load(
            "the held timestamp.json", Timestamp, held_bytes
        )
        if held.signed.snapshot_meta != new.signed.snapshot_meta:
            raise _fail(
                f"v{new.signed.version} is the trusted version but names another snapshot "
                f"(v{new.signed.snapshot_meta.version}) than the trusted one does "
                f"(v{held.signed.snapshot_meta.version}): refused as a rollback or freeze attack",
                Reason.ROLLBACK,
                "timestamp.json",
            )
        return held, held_bytes

    def snapshot(
        self, root: Root, timestamp: Timestamp
    ) -> tuple[Metadata[Snapshot], bytes]:
        meta = timestamp.snapshot_meta
        name = (
            f"{meta.version}.snapshot.json"
            if root.consistent_snapshot
            else "snapshot.json"
        )
        data = self.need(name)
        self.check_meta(meta, data, name)
        md = self.load(name, Snapshot, data)
        self.check_signed(root, "snapshot", md, name)
        if md.signed.version != meta.version:
            raise _fail(
                f"is v{md.signed.version}; the timestamp names v{meta.version}",
                Reason.BAD_VERSION,
                name,
            )
        prev = self.previous
        if prev is not None and self.same_keys(root, "snapshot"):
            self.snapshot_rollback(md.signed, name)
        self.check_expiry("snapshot", md.signed, name)
        return md, data

    def snapshot_rollback(self, new: Snapshot, name: str) -> None:
        """Every metafile the held snapshot lists, still listed and not older.

        TUF spec 1.0 §5.5.5: for each metadata file in the trusted snapshot,
        its version in the new snapshot must be at least the trusted one
        (python-tuf's ``TrustedMetadataSet.update_snapshot`` also refuses a
        file that disappears). Comparing only ``targets.json`` would let a
        snapshot roll back (or drop) the delegated roles it lists.
        """
        assert self.previous is not None  # noqa: S101 - only called with held trust
        new_targets = new.meta.get("targets.json")
        if (
            new_targets is None
            or new_targets.version < self.previous.targets_meta_version
        ):
            raise _fail(
                "names an older targets version than the trusted one",
                Reason.ROLLBACK,
                name,
            )
        held: Metadata[Snapshot] = self.load(
            "the held snapshot.json", Snapshot, self.previous.read("snapshot.json")
        )
        for metafile, before in sorted(held.signed.meta.items()):
            now = new.meta.get(metafile)
            if now is None:
                raise _fail(
                    f"no longer lists {metafile}, which the trusted snapshot "
                    f"v{held.signed.version} lists",
                    Reason.ROLLBACK,
                    name,
                )
            if now.version < before.version:
                raise _fail(
                    f"names {metafile} v{now.version}, older than the trusted v{before.version}",
                    Reason.ROLLBACK,
                    name,
                )

    def targets(
        self, root: Root, snapshot: Snapshot
    ) -> tuple[Metadata[Targets], bytes]:
        meta = snapshot.meta.get("targets.json")
        if meta is None:
            raise _fail(
                "does not list targets.json", Reason.TRUST_ROOT_INVALID, "snapshot"
            )
        name = (
            f"{meta.version}.targets.json"
            if root.consistent_snapshot
            else "targets.json"
        )
        data = self.need(name)
        self.check_meta(meta, data, name)
        md = self.load(name, Targets, data)
        self.check_signed(root, "targets", md, name)
        if md.signed.version != meta.version:
            raise _fail(
                f"is v{md.signed.version}; the snapshot names v{meta.version}",
                Reason.BAD_VERSION,
                name,
            )
        if (
            self.previous is not None
            and md.signed.version < self.previous.roles["targets"].version
        ):
            raise _fail(
                f"v{md.signed.version} is older than the trusted v{self.previous.roles['targets'].version}",
                Reason.ROLLBACK,
                name,
            )
        self.check_expiry("targets", md.signed, name)
        return md, data

    def target(self, root: Root, info: TargetFile) -> bytes:
        if (
            info.path != info.path.strip("/")
            or ".." in info.path.split("/")
            or "\\" in info.path
        ):
            raise _fail(
                "target path is not a plain relative name",
                Reason.TRUST_ROOT_INVALID,
                info.path,
            )
        directory, _, base = info.path.rpartition("/")
        prefix = f"{directory}/" if directory else ""
        if root.consistent_snapshot:
            names = [
                f"targets/{prefix}{digest}.{base}" for digest in info.hashes.values()
            ]
        else:
            names = [f"targets/{info.path}"]
        data = next((d for n in names if (d := self.fetch(n)) is not None), None)
        if data is None:
            raise _fail(
                "target file missing from the source",
                Reason.TRUST_ROOT_INVALID,
                info.path,
            )
        try:
            info.verify_length_and_hashes(data)
        except tuf_errors.LengthOrHashMismatchError as exc:
            raise _fail(
                f"target file is not the one targets.json signed ({exc})",
                Reason.DIGEST_MISMATCH,
                info.path,
            ) from exc
        return data


def replay(
    fetch: Fetch,
    *,
    bootstrap: bytes,
    now: datetime,
    max_age: timedelta = timedelta(0),
    previous: TrustState | None = None,
) -> ReplayResult:
    """Verify the chain ``fetch`` offers, from ``bootstrap`` up.

    Args:
        fetch: returns a file of the source by its served name, or None.
        bootstrap: the root to start from (sealed, stored, or the operator's).
        now: the reference time for every expiry check.
        max_age: how long past its expiry a role may be and still be accepted.
        previous: the stored state, for rollback protection.

    Raises:
        TrustRootError: anything that is not positively verified; the reason
            names the rule that failed.
    """
    run = _Replay(fetch, now=now, max_age=max_age, previous=previous)
    root_md, history = run.roots(bootstrap)
    root = root_md.signed
    timestamp, timestamp_bytes = run.timestamp(root)
    snapshot, snapshot_bytes = run.snapshot(root, timestamp.signed)
    targets, targets_bytes = run.targets(root, snapshot.signed)
    files: dict[str, bytes] = {}
    left_out: dict[str, str] = {}
    for name in WANTED_TARGETS:
        info = targets.signed.targets.get(name)
        if info is None and targets.signed.delegations is not None:
            # Delegated targets roles are never followed (docs/trust.md §6).
            # Sigstore lists trusted_root.json and the signing config in the
            # top-level targets role; its delegations (registry.npmjs.org)
            # carry other files. The TUF search is pre-order from the top
            # (spec 1.0 §5.6.7), so a top-level entry is found before any
            # delegation; a name it lacks could only come from a delegation
            # the appliance does not verify (§5.6), so it fails closed.
            why = (
                "not listed by the top-level targets role, and delegated "
                "targets roles are not followed"
            )
            if name == REQUIRED_TARGET:
                raise _fail(why, Reason.TRUST_ROOT_INVALID, name)
            left_out[name] = why
            continue
        if info is None:
            left_out[name] = "not listed in targets.json"
            continue
        try:
            files[name] = run.target(root, info)
        except TrustRootError as exc:
            if name == REQUIRED_TARGET:
                raise
            # Optional targets are kept only when verified; never half-trusted.
            left_out[name] = exc.message
    run.refuse_expired()
    if REQUIRED_TARGET not in files:
        raise _fail(
            "targets.json lists no trusted_root.json",
            Reason.TRUST_ROOT_INVALID,
            "targets",
        )
    # The target must be a usable trusted root, not only the signed bytes.
    TrustMaterial.from_bytes(
        files["trusted_root.json"],
        source="trusted_root.json (TUF target)",
        tuf_backed=True,
    )
    return ReplayResult(
        root=history[root.version],
        root_history=history,
        timestamp=timestamp_bytes,
        snapshot=snapshot_bytes,
        targets=targets_bytes,
        target_files=files,
        roles={
            "root": RoleInfo(version=root.version, expires=root.expires),
            "timestamp": RoleInfo(
                version=timestamp.signed.version, expires=timestamp.signed.expires
            ),
            "snapshot": RoleInfo(
                version=snapshot.signed.version, expires=snapshot.signed.expires
            ),
            "targets": RoleInfo(
                version=targets.signed.version, expires=targets.signed.expires
            ),
        },
        snapshot_meta_version=timestamp.signed.snapshot_meta.version,
        targets_meta_version=snapshot.signed.meta["targets.json"].version,
        online_keyids={
            role: tuple(sorted(root.roles[role].keyids))
            for role in ("timestamp", "snapshot")
        },
        allowances=tuple(run.allowances),
        left_out=left_out,
    )


def check_on_chain(
    operator_root: bytes,
    *,
    previous: TrustState,
    result: ReplayResult | None,
    where: str,
) -> None:
    """A ``--bootstrap-root`` given while trust is held must lie on its chain.

    It must be, byte for byte in its signed part, a root the appliance already
    trusted (in the stored history) or one the replay from the stored root
    just verified (``result``; None before the replay, when only roots up to
    the stored version can be judged). Anything else would replace the trust
    by a flag: the README's way to move to another repository on purpose is
    to remove the state.

    Raises:
        TrustRootError: it does not chain from the stored root.
    """
    # Only parsing is used here: no fetch, no expiry check, no rollback state.
    run = _Replay(
        lambda _name: None,
        now=datetime.min.replace(tzinfo=UTC),
        max_age=timedelta(0),
        previous=None,
    )
    given = run.load(where, Root, operator_root)
    version = given.signed.version
    if result is None and version > previous.root_version:
        return  # newer than held: judged once the replay has verified the chain
    known = {} if result is None else dict(result.root_history)
    if version == previous.root_version:
        known[version] = previous.read("root.json")
    stored = f"root_history/{version}.root.json"
    if version not in known and stored in previous.files:
        known[version] = previous.read(stored)
    candidate = known.get(version)
    if candidate is not None and (
        run.load(f"root v{version}", Root, candidate).signed_bytes == given.signed_bytes
    ):
        return
    raise _fail(
        f"root v{version} does not chain from the stored trust (root v{previous.root_version}); "
        "to move the appliance to another TUF repository on purpose, remove the state "
        "directory's trust/ folder and import again",
        Reason.TRUST_ROOT_INVALID,
        where,
    )
