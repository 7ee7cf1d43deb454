"""Load the trust material the appliance verifies against, and feed its memories.

In order of precedence: a ``trusted_root.json`` the operator names (reported
as "not TUF-backed"); the trusted root last imported through the offline TUF
replay (``appliance trust import``), from the state directory; otherwise the
public-good root sealed into the appliance, reported stale once the sealed
TUF root has expired. The appliance's log memory is attached to whichever is
used, so every verification is checked against every checkpoint seen before.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from airlock_io import inputs
from appliance.core.errors import (
    InputError,
    Reason,
    SplitViewError,
    TrustRootError,
    VerificationError,
)
from appliance.core.trust import (
    PUBLIC_GOOD,
    LogMemory,
    TrustMaterial,
    materials_from_bytes,
)
from appliance.trust.state import StateStore
from trustroot import store, strict_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from appliance.core.report import VerificationResult
    from appliance.trust.memory import Memory

EMBEDDED_SOURCE = "embedded public-good trusted root (sealed into the appliance)"


def load_files(path: Path) -> tuple[TrustMaterial, ...]:
    """Every root in a file the operator named: a ``trusted_root.json``, or JSON lines.

    ``gh attestation trusted-root`` prints one root a line (public-good and
    GitHub's instance); each is named (:func:`~appliance.core.trust.materials_from_bytes`).

    Raises:
        InputError: the file cannot be read, or a root in it is not usable
            (input the operator gave: exit 2).
    """
    data = inputs.read_file(
        path, what="trusted root", max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES
    )
    label = f"{path} (not TUF-backed)"
    try:
        return materials_from_bytes(data, source=label, tuf_backed=False)
    except TrustRootError as exc:
        where = (exc.where or label).replace(label, str(path), 1)
        raise InputError(exc.message, where=where) from exc


def by_name(found: Iterable[TrustMaterial], name: str) -> TrustMaterial | None:
    """The root of that name among ``found``, if any."""
    return next((m for m in found if m.name == name), None)


def embedded_expiry(instance: str = store.PUBLIC_GOOD) -> tuple[int, datetime]:
    """The sealed TUF root's version and expiry (its signed ``expires``)."""
    signed = strict_json.loads(store.read_embedded(instance, "root.json"))["signed"]
    expires = datetime.strptime(signed["expires"], "%Y-%m-%dT%H:%M:%S%z")
    return int(signed["version"]), expires.astimezone(UTC)


def load_embedded(
    instance: str = store.PUBLIC_GOOD, *, now: datetime | None = None
) -> TrustMaterial:
    """The trusted root sealed into the appliance.

    Its TUF chain was checked when it was pinned (trustroot/data/README.md),
    so it is TUF-backed as of that date; once the sealed TUF root has expired
    at ``now``, the material says since when it is stale.

    Raises:
        TrustRootError: the embedded root is unusable (a broken build).
    """
    data = store.read_embedded(instance, "trusted_root.json")
    version, expires = embedded_expiry(instance)
    stale = expires if now is not None and expires < now else None
    return TrustMaterial.from_bytes(
        data,
        source=f"{EMBEDDED_SOURCE}, TUF root v{version}",
        tuf_backed=True,
        stale_since=stale,
    )


def load_imported(state_dir: Path, *, now: datetime) -> TrustMaterial | None:
    """The trusted root of the last ``trust import``, or None if none was done.

    Raises:
        TrustRootError: the stored state is damaged (fail closed, never a
            silent fall-back to the sealed root).
    """
    state = StateStore(state_dir).load()
    if state is None:
        return None
    data = state.read("trusted_root.json")
    source = f"TUF root v{state.root_version}, imported {state.imported_at:%Y-%m-%dT%H:%M:%SZ} from {state.source}"
    return TrustMaterial.from_bytes(
        data, source=source, tuf_backed=True, stale_since=state.stale_since(now)
    )


def load_current(
    *,
    trusted_root: Path | None,
    state_dir: Path,
    now: datetime,
    memory: LogMemory | None = None,
) -> TrustMaterial:
    """The default (public-good) root: the operator's file's if it has one, else the imported root, else the sealed one.

    Args:
        trusted_root: a ``trusted_root.json`` the operator named, if any.
        state_dir: the appliance's state directory.
        now: the clock, read once by the caller.
        memory: the log memory to verify against (see :mod:`.memory`).
    """
    # A file of named roots with no public-good line (gh's JSON lines for
    # private instances only) names other roots; public-good stays the held one.
    given = (
        None if trusted_root is None else by_name(load_files(trusted_root), PUBLIC_GOOD)
    )
    trust = given or load_imported(state_dir, now=now) or load_embedded(now=now)
    return trust if memory is None else dataclasses.replace(trust, memory=memory)


def load_current_roots(
    *,
    trusted_root: Path | None,
    state_dir: Path,
    now: datetime,
    memory: LogMemory | None = None,
) -> tuple[TrustMaterial, ...]:
    """Every root the operator's file holds if given, else the current default root.

    Raises:
        InputError: the operator's file is unusable.
    """
    if trusted_root is None:
        return (
            load_current(
                trusted_root=None, state_dir=state_dir, now=now, memory=memory
            ),
        )
    found = load_files(trusted_root)
    if memory is None:
        return found
    return tuple(dataclasses.replace(m, memory=memory) for m in found)


@contextlib.contextmanager
def recording_splits(memory: Memory, *, now: datetime) -> Iterator[None]:
    """Record any split view a verification inside proves, then let it fail."""
    try:
        yield
    except SplitViewError as exc:
        memory.record_split(exc, now=now)
        raise


def remember(
    memory: Memory, results: Iterable[VerificationResult], *, now: datetime
) -> None:
    """Let the appliance remember what it verified.

    Verified signing times raise the clock floor; verified checkpoints join
    the log memory.

    Raises:
        VerificationError: the checkpoints just verified contradict each
            other (a split view inside one run; the log is now recorded as
            split), or a verified signing time shows the clock is behind.
    """
    done = list(results)
    splits = memory.remember((cp for r in done for cp in r.checkpoints), now=now)
    if splits:
        view = splits[0]
        msg = f"split view: two checkpoints of {view.origin} at tree size {view.size} have different roots; the log is now refused (see `appliance trust show`)"
        raise VerificationError(msg, reason=Reason.SPLIT_VIEW, where="log memory")
    memory.raise_floor(
        (when, f"verified signing time of {r.signer}")
        for r in done
        for when in r.verified_times
    )
    memory.check_clock(now)
