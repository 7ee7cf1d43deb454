"""The appliance's trust: import a TUF chain offline, show what is held, forget a split view, publish it into the gap.

Import replays a TUF chain from the root the appliance already trusts (the
stored one, else the sealed public-good root, or the operator's bootstrap
root for a private deployment), under the state lock from the read to the
commit, and raises the clock floor. Signatures, thresholds, hashes, versions
and rollback are always enforced; only expiry may be relaxed, by an
allowance the report names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from appliance.actions.audited import Audited
from appliance.actions.registry import RegistryAccess
from appliance.core.archive.plan import Target
from appliance.core.archive.reference import shown_target
from appliance.core.errors import InputError, Reason, TrustRootError, redact
from appliance.signer.opener import open_signers
from appliance.trust import held, publish, replay, roots
from appliance.trust.controls import (
    ControlsStore,
    forget_split_digest,
    read_approvals,
    root_change,
    trust_change,
)
from appliance.trust.memory import Memory
from appliance.trust.revocations import RevocationStore
from appliance.trust.source import open_source
from appliance.trust.state import StateStore
from trustroot import store

if TYPE_CHECKING:
    import contextlib
    from pathlib import Path

    from appliance.actions.registry import SignerChoice
    from appliance.signer.interface import Signer
    from appliance.trust.replay import ReplayResult
    from appliance.trust.source import ArchiveSource, DirectorySource
    from appliance.trust.state import TrustState


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustImportRequest:
    """``appliance trust import``."""

    source: Path  # a served TUF layout, or a transfer archive carrying a capsule
    state_dir: Path
    bootstrap_root: Path | None = None
    trust_max_age: timedelta = timedelta(0)
    trust_max_age_text: str | None = None  # as the operator wrote it (the report)
    approvals: Path | None = None  # two-person integrity: a new root version's
    via: str = "cli"
    name: str = held.DEFAULT  # which named root's chain (appliance/trust/held.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class Imported:
    """What was committed, from where, and what was relaxed."""

    state: TrustState
    result: ReplayResult
    source: str  # the source's label
    start: str  # where the chain started
    report: dict[str, Any]


def _replay(
    request: TrustImportRequest,
    source: DirectorySource | ArchiveSource,
    previous: TrustState | None,
    operator_root: bytes | None,
    now: datetime,
) -> tuple[ReplayResult, str]:
    """Replay ``source`` from the trust held; the result and where the chain started."""
    if previous is not None:
        # Trust already held is never replaced by a flag: the chain always
        # continues from the stored root, and --bootstrap-root must lie on it.
        bootstrap, start = (
            previous.read("root.json"),
            f"stored root v{previous.root_version}",
        )
    elif operator_root is not None:
        bootstrap, start = operator_root, str(request.bootstrap_root)
    elif request.name != held.DEFAULT:
        # Only public-good's root is sealed in: another instance's chain
        # starts from a root the operator vouches for.
        msg = f"trust root {request.name!r} is not held yet: start its chain with --bootstrap-root (its TUF root.json)"
        raise InputError(msg, where="--name", reason=Reason.USAGE)
    else:
        bootstrap, start = (
            store.read_embedded(store.PUBLIC_GOOD, "root.json"),
            "sealed public-good root",
        )
    on_chain = f"--bootstrap-root {request.bootstrap_root}"
    if previous is not None and operator_root is not None:
        # An older root must be one already held: refused before any replay.
        replay.check_on_chain(
            operator_root, previous=previous, result=None, where=on_chain
        )
    try:
        result = replay.replay(
            source,
            bootstrap=bootstrap,
            now=now,
            max_age=request.trust_max_age,
            previous=previous,
        )
    except TrustRootError as exc:
        if previous is None or operator_root is None:
            raise
        raise TrustRootError(
            f"does not chain from the stored trust (root v{previous.root_version}): {exc.diagnostics()}",
            reason=exc.reason,
            where=on_chain,
        ) from exc
    if previous is not None and operator_root is not None:
        replay.check_on_chain(
            operator_root, previous=previous, result=result, where=on_chain
        )
    return result, start


def trust_import(request: TrustImportRequest) -> Imported:
    """Replay, commit, record.

    Raises:
        TrustRootError: the chain does not replay (signatures, thresholds,
            rollback, expiry beyond the allowance).
        VerificationError: the clock is behind the floor.
        InputError: an unreadable source or bootstrap root.
    """
    with Audited(
        "trust-import",
        request.state_dir,
        via=request.via,
        source=str(request.source),
        trust_max_age=request.trust_max_age_text,
        **({} if request.name == held.DEFAULT else {"root": request.name}),
    ) as audit:
        now = datetime.now(UTC)
        memory = held.memory(request.state_dir, request.name)
        # A clock set back would make expired metadata look fresh: refuse it first.
        memory.check_clock(now)
        source = open_source(request.source)
        operator_root = (
            None
            if request.bootstrap_root is None
            else inputs.read_file(
                request.bootstrap_root,
                what="bootstrap root",
                max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES,
            )
        )
        # Read, replay and commit under the state lock: an import running at
        # the same time commits before this one reads, or after it commits.
        with held.store(request.state_dir, request.name).update() as update:
            result, start = _replay(
                request, source, update.previous, operator_root, now
            )
            approved = root_change(
                request.state_dir,
                result,
                None if update.previous is None else update.previous.root_version,
                request.approvals,
                name=request.name,
            )
            state = update.commit(result, source=source.label, now=now)
        memory.raise_floor(
            [
                (
                    now,
                    f"the appliance clock when it committed TUF root v{state.root_version}",
                )
            ]
        )
        head = audit.record(
            {
                "root_version": state.root_version,
                "trusted_root_sha256": state.trusted_root_sha256,
                "approved_by": None
                if approved is None
                else [k.hex() for k in approved],
                "exit_code": 0,
            }
        )
    report: dict[str, Any] = {
        **state.to_json(),
        "name": request.name,
        "bootstrap": start,
        "trust_max_age": request.trust_max_age_text,
        "expiry_allowance_used": bool(result.allowances),
        "left_out": result.left_out,
        "audit": head.to_json(),
    }
    return Imported(
        state=state, result=result, source=source.label, start=start, report=report
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustShown:
    """What the appliance trusts now (``doc``: ``trust show -o json``), read at ``now``."""

    doc: dict[str, Any]
    now: datetime


def trust_show(state_dir: Path) -> TrustShown:
    """What the appliance trusts now, how old it is, and what it remembers (data; faces render it).

    Raises:
        TrustRootError: the held state is damaged (it is refused, not half-used).
    """
    now = datetime.now(UTC)
    state = StateStore(state_dir).load()
    doc: dict[str, Any]
    if state is None:
        trust = roots.load_embedded(now=now)
        doc = {
            "imported": False,
            "source": trust.source,
            "trusted_root_sha256": trust.sha256,
            "stale_since": _iso(trust.stale_since) if trust.stale_since else None,
        }
    else:
        state.read("trusted_root.json")  # re-checked against state.json, or refused
        stale = state.stale_since(now)
        doc = {
            "imported": True,
            **state.to_json(),
            "age_seconds": int((now - state.imported_at).total_seconds()),
            "stale_since": _iso(stale) if stale else None,
        }
    doc["memory"] = Memory(state_dir).summary()
    doc["roots"] = list(held.names(state_dir))
    named = {}
    for name in doc["roots"][1:]:
        other = held.store(state_dir, name).load()
        if other is None:
            continue
        other.read("trusted_root.json")  # re-checked against its state.json, or refused
        other_stale = other.stale_since(now)
        named[name] = {
            "root_version": other.root_version,
            "imported_at": _iso(other.imported_at),
            "source": other.source,
            "trusted_root_sha256": other.trusted_root_sha256,
            "stale_since": _iso(other_stale) if other_stale else None,
            "memory": held.memory(state_dir, name).summary(),
        }
    doc["named_roots"] = named
    # What else decides a verdict from the state (docs/revocation.md §3, §4).
    controls = ControlsStore(state_dir).read()
    doc["controls"] = (
        None
        if controls is None
        else {"threshold": controls.threshold, "approvers": list(controls.key_ids)}
    )
    doc["revocation_feeds"] = RevocationStore(state_dir).summary()
    # What the appliance hands on into the gap (docs/handoff.md §1, §3).
    try:
        doc["held_roots"] = [
            {
                "name": r.name,
                "file": r.target_name,
                "sha256": hashlib.sha256(r.data).hexdigest(),
            }
            for r in held.held_roots(state_dir, now=now)
        ]
    except (
        TrustRootError
    ) as exc:  # shown, not hidden: nothing is handed on until it is repaired
        doc["held_roots"] = []
        doc["held_roots_damaged"] = exc.diagnostics()
    doc["published"] = publish.status(state_dir)
    return TrustShown(doc=doc, now=now)


def forget_split(state_dir: Path, log: str, approvals: Path | None = None) -> None:
    """Stop refusing a log recorded as showing a split view (after investigation).

    Under two-person integrity, only with the threshold's approvals over
    :func:`~appliance.trust.controls.forget_split_digest` of ``log``.

    Raises:
        InputError: no split view is recorded for ``log``; under-approved.
    """
    with Audited("trust-forget-split", state_dir, log=log) as audit:
        approved = trust_change(
            state_dir,
            sha256=forget_split_digest(log, Memory(state_dir).split_records(log)),
            what=f"trust forget-split {log}",
            approvals=read_approvals(approvals),
            where=str(approvals or "--approvals"),
        )
        if not Memory(state_dir).forget_split(log):
            raise InputError("no split view is recorded for that log", where=log)
        audit.record(
            {
                "approved_by": None
                if approved is None
                else [k.hex() for k in approved],
                "exit_code": 0,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustPublishRequest:
    """``appliance trust publish``: the held trusted roots as a gap-local TUF repository.

    ``refresh`` re-signs the timestamp (and what would expire before it)
    with ``online`` alone; otherwise ``root_keys`` are required, ``online``
    defaults to the first of them, and ``previous_root_keys`` sign a
    rotation away from them.
    """

    out: Path
    state_dir: Path
    root_keys: tuple[SignerChoice, ...] = ()
    online: SignerChoice | None = None
    previous_root_keys: tuple[SignerChoice, ...] = ()
    root_threshold: int = 1
    lifetimes: publish.Lifetimes = field(default_factory=publish.Lifetimes)
    refresh: bool = False
    to: str | None = (
        None  # REGISTRY[/PREFIX]: also push the repository as an OCI artifact
    )
    access: RegistryAccess = field(default_factory=RegistryAccess)
    now: datetime | None = None  # the clock, read once by the action if not given
    via: str = "cli"


def _push_repository(request: TrustPublishRequest, target: Target) -> dict[str, Any]:
    """The repository just written, as an OCI artifact in the in-gap registry (docs/handoff.md §2)."""
    from appliance.load.connect import registry  # noqa: PLC0415 - the registry only for --to
    from appliance.load.trust import push_tuf_repository  # noqa: PLC0415

    files = publish.repository_files(request.out)
    with registry(target, access=request.access) as client:
        return push_tuf_repository(client, prefix=target.prefix, files=files)


def _signers(
    choices: tuple[SignerChoice, ...],
) -> contextlib.AbstractContextManager[list[Signer]]:
    # One --module-path and one prompt serve every key of the command line.
    return open_signers(
        [c.key for c in choices],
        module_override=choices[0].module_path,
        secrets_handler=choices[0].secrets,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Publication:
    """What ``trust publish`` wrote, and what it pushed (``--to``)."""

    published: publish.Published
    pushed: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """As ``trust publish -o json`` prints it."""
        return {**self.published.to_json(), "pushed": self.pushed}


def trust_publish(request: TrustPublishRequest) -> Publication:
    """Publish (or refresh) the gap-local TUF repository; record it.

    Raises:
        InputError: bad flags, an unusable output directory.
        TrustRootError: the held trust or the repository there is damaged.
        SignerError: a key, token, PIN or password.
    """
    with Audited(
        "trust-publish",
        request.state_dir,
        via=request.via,
        out=str(request.out),
        refresh=request.refresh,
        root_keys=[redact(c.key) for c in request.root_keys],
        online_key=None if request.online is None else redact(request.online.key),
        to=None if request.to is None else shown_target(request.to),
    ) as audit:
        # A bad --to is refused before any key is opened or file written.
        target = None if request.to is None else Target.parse(request.to)
        now = request.now or datetime.now(UTC)
        if request.refresh:
            if request.online is None or request.root_keys:
                msg = "--refresh re-signs with the online key alone: give --online-key and no --root-key"
                raise InputError(msg, where="--refresh", reason=Reason.USAGE)
            with _signers((request.online,)) as (online,):
                published = publish.refresh(
                    request.out, online=online, lifetimes=request.lifetimes, now=now
                )
        else:
            if not request.root_keys:
                msg = "name the root key (--root-key), or --refresh with --online-key"
                raise InputError(msg, where="--root-key", reason=Reason.USAGE)
            handed = {
                r.target_name: r.data
                for r in held.held_roots(request.state_dir, now=now)
            }
            online_choice = request.online or request.root_keys[0]
            count = len(request.root_keys)
            with _signers(
                (*request.root_keys, online_choice, *request.previous_root_keys)
            ) as opened:
                published = publish.publish(
                    request.out,
                    roots=handed,
                    root_keys=opened[:count],
                    online=opened[count],
                    threshold=request.root_threshold,
                    previous_root_keys=opened[count + 1 :],
                    lifetimes=request.lifetimes,
                    now=now,
                )
        publish.remember(request.state_dir, request.out)
        pushed = None if target is None else _push_repository(request, target)
        audit.record({**published.to_json(), "pushed": pushed, "exit_code": 0})
    return Publication(published=published, pushed=pushed)
