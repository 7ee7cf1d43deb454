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
from appliance.core.trust import LogMemory, TrustMaterial
from appliance.trust.state import StateStore
from trustroot import store, strict_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from appliance.core.report import VerificationResult
    from appliance.trust.memory import Memory

EMBEDDED_SOURCE = "embedded public-good trusted root (sealed into the appliance)"


def load_file(path: Path) -> TrustMaterial:
    """Trust material from a ``trusted_root.json`` file the operator named.

    Raises:
        InputError: the file cannot be read, or is not a usable trusted root
            (input the operator gave: exit 2).
    """
    data = inputs.read_file(
        path, what="trusted root", max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES
    )
    try:
        return TrustMaterial.from_bytes(
            data, source=f"{path} (not TUF-backed)", tuf_backed=False
        )
    except TrustRootError as exc:
        raise InputError(exc.message, where=str(path)) from exc


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
    """The operator's file if given, else the imported root, else the sealed one.

    Args:
        trusted_root: a ``trusted_root.json`` the operator named, if any.
        state_dir: the appliance's state directory.
        now: the clock, read once by the caller.
        memory: the log memory to verify against (see :mod:`.memory`).
    """
    if trusted_root is not None:
        trust = load_file(trusted_root)
    else:
        trust = load_imported(state_dir, now=now) or load_embedded(now=now)
    return trust if memory is None else dataclasses.replace(trust, memory=memory)


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


DEFAULT_ROOT = "default"  # the public-good root's name among the trust roots held


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HeldRoot:
    """A trusted root the appliance holds and verified, under its trust root name."""

    name: str
    data: bytes  # the ``trusted_root.json`` bytes, as verified
    source: str

    @property
    def target_name(self) -> str:
        """Its file name where it is published (a TUF target, an OCI artifact file)."""
        if self.name == DEFAULT_ROOT:
            return "trusted_root.json"
        return f"{self.name}.trusted_root.json"


def held_roots(state_dir: Path, *, now: datetime) -> tuple[HeldRoot, ...]:
    """Every trusted root the appliance holds and verified, by name.

    What the appliance hands on into the gap (``trust publish``, the trust
    artifact ``load`` writes): the one place that says which roots those are.
    Today the default (public-good) root: the one last imported through the
    offline TUF replay, else the one sealed into the appliance. Each is
    parsed as trust material first, so nothing unusable is handed on.

    Raises:
        TrustRootError: the held state is damaged (fail closed).
    """
    state = StateStore(state_dir).load()
    if state is None:
        data = store.read_embedded(store.PUBLIC_GOOD, "trusted_root.json")
        source = load_embedded(now=now).source
    else:
        data = state.read("trusted_root.json")
        source = f"TUF root v{state.root_version}, imported from {state.source}"
    TrustMaterial.from_bytes(data, source=source, tuf_backed=True)
    return (HeldRoot(name=DEFAULT_ROOT, data=data, source=source),)
