"""Two memories no peer keeps: a clock floor, and each log's checkpoints.

Both live in the state directory and survive restarts:

``clock.json``, the clock floor
    The newest trustworthy time the appliance has seen, and where it came
    from: a verified signing time (a Rekor SET's integration time, an RFC 3161
    stamp), or the appliance's clock when it last committed trust. Every
    command that decides with the clock refuses a clock earlier than the floor
    (by more than :data:`CLOCK_SKEW`): an air-gapped clock set back would
    otherwise make expired TUF metadata look fresh. A clock set back on
    purpose is not fixed here: set the clock right.

``logs.json``, the log memory
    Per log, every checkpoint that verified (origin, tree size, root hash).
    Two verified checkpoints of one origin and size with different roots are
    proof that the log showed two views of its history (a split view): the
    log is then recorded as split, and its entries are refused until an
    operator has investigated and removes the record with
    ``appliance trust forget-split LOG``.

Writes are atomic, and read-modify-write is serialised across processes by a
lock file, so two commands running at once cannot lose each other's updates.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from airlock_io.atomic import locked
from airlock_io.oserrors import write_error
from appliance.core.errors import InputError, Reason, SplitViewError, TrustRootError
from appliance.core.trust import LogMemory, SplitView
from trustroot import strict_json
from trustroot.strict_json import StrictJSONError

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Iterable
    from pathlib import Path

    from appliance.core.tlog import SeenCheckpoint

# Clocks drift, and a log's clock is not ours: a time seen this close ahead of
# the appliance clock is not yet proof that the clock went backwards.
CLOCK_SKEW = timedelta(minutes=5)
# Checkpoints remembered per origin: the newest by tree size are kept.
MAX_CHECKPOINTS_PER_ORIGIN = 50_000
_VERSION = 1


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        msg = "expected a time"
        raise TypeError(msg)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockFloor:
    """The newest trustworthy time seen, and its source."""

    time: datetime
    source: str


class _Smallest:
    """An origin's remembered sizes, in the order ``sorted(sizes, key=int)`` gives.

    Kept in step with the dict by the caller: every size added is pushed,
    every size popped is deleted. The counter breaks ties as the stable sort
    does (dict order), should the file hold two keys of one value ("7", "07").
    """

    def __init__(self, sizes: dict[str, str]) -> None:
        self._order = itertools.count()
        self._heap = [(int(size), next(self._order), size) for size in sizes]
        heapq.heapify(self._heap)

    def add(self, size: str) -> None:
        heapq.heappush(self._heap, (int(size), next(self._order), size))

    def pop(self) -> str:
        return heapq.heappop(self._heap)[2]


def _locked(state_dir: Path) -> contextlib.AbstractContextManager[None]:
    return locked(state_dir / ".memory.lock")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = inputs.read_file(path, what="memory", max_bytes=inputs.MAX_STATE_BYTES)
    except InputError as exc:
        if not path.exists():
            return None
        raise TrustRootError(
            exc.message, reason=Reason.TRUST_ROOT_INVALID, where=str(path)
        ) from exc
    # Damaged memory is never silently forgotten: that would erase the very
    # evidence it keeps. The operator decides what to do with it.
    damaged = "the appliance's memory is damaged ({}); move it aside to start afresh, knowingly"
    try:
        doc = strict_json.loads(data)
    except StrictJSONError as exc:
        raise TrustRootError(
            damaged.format(exc), reason=Reason.TRUST_ROOT_INVALID, where=str(path)
        ) from exc
    if not isinstance(doc, dict) or doc.get("version") != _VERSION:
        raise TrustRootError(
            damaged.format("unknown format"),
            reason=Reason.TRUST_ROOT_INVALID,
            where=str(path),
        )
    return doc


def _write(path: Path, doc: dict[str, Any]) -> None:
    from airlock_io.atomic import write_atomically  # noqa: PLC0415 - only when writing

    try:
        write_atomically(path, json.dumps(doc, indent=1, sort_keys=True).encode())
    except OSError as exc:
        raise write_error(
            exc, path, doing="cannot write the appliance's memory"
        ) from exc


class Memory:
    """The clock floor and the log memory under one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.clock_file = state_dir / "clock.json"
        self.logs_file = state_dir / "logs.json"

    # -- the clock floor -------------------------------------------------------

    def floor(self) -> ClockFloor | None:
        """The recorded clock floor, if any.

        Raises:
            TrustRootError: the record is damaged.
        """
        doc = self._read_clock()
        return None if doc is None else ClockFloor(time=doc[0], source=doc[1])

    def _read_clock(self) -> tuple[datetime, str] | None:
        doc = _read(self.clock_file)
        if doc is None:
            return None
        try:
            return _time(doc["floor"]), str(doc["source"])
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"the clock floor is damaged ({exc})"
            raise TrustRootError(
                msg, reason=Reason.TRUST_ROOT_INVALID, where=str(self.clock_file)
            ) from exc

    def check_clock(self, now: datetime) -> None:
        """Refuse a clock earlier than the floor.

        Raises:
            TrustRootError: ``now`` is before the floor (reason
                ``clock-before-floor``), naming the floor and its source.
        """
        floor = self.floor()
        if floor is not None and now + CLOCK_SKEW < floor.time:
            msg = (
                f"the appliance clock reads {_iso(now)}, earlier than {_iso(floor.time)}, "
                f"a time it has already seen ({floor.source}); set the clock right"
            )
            raise TrustRootError(msg, reason=Reason.CLOCK_BEFORE_FLOOR, where="clock")

    def raise_floor(self, candidates: Iterable[tuple[datetime, str]]) -> None:
        """Raise the floor to the newest of ``candidates`` (time, source)."""
        newest = max(candidates, key=lambda c: c[0], default=None)
        if newest is None:
            return
        with _locked(self.state_dir):
            current = self._read_clock()
            if current is not None and current[0] >= newest[0]:
                return
            _write(
                self.clock_file,
                {"version": _VERSION, "floor": _iso(newest[0]), "source": newest[1]},
            )

    # -- the log memory --------------------------------------------------------

    def _read_logs(self) -> dict[str, Any]:
        doc = _read(self.logs_file) or {
            "version": _VERSION,
            "checkpoints": {},
            "split": {},
        }
        if not isinstance(doc.get("checkpoints"), dict) or not isinstance(
            doc.get("split"), dict
        ):
            msg = "the log memory is damaged"
            raise TrustRootError(
                msg, reason=Reason.TRUST_ROOT_INVALID, where=str(self.logs_file)
            )
        return doc

    def log_memory(self) -> LogMemory:
        """The log memory as the verifier takes it.

        Raises:
            TrustRootError: the record is damaged.
        """
        doc = self._read_logs()
        try:
            roots = {
                (origin, int(size)): base64.b64decode(root)
                for origin, sizes in doc["checkpoints"].items()
                for size, root in sizes.items()
            }
            split = {
                bytes.fromhex(log_id): SplitView(
                    origin=str(record["origin"]),
                    size=int(record["size"]),
                    roots=(
                        base64.b64decode(record["roots"][0]),
                        base64.b64decode(record["roots"][1]),
                    ),
                )
                for log_id, record in doc["split"].items()
            }
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            msg = f"the log memory is damaged ({exc})"
            raise TrustRootError(
                msg, reason=Reason.TRUST_ROOT_INVALID, where=str(self.logs_file)
            ) from exc
        return LogMemory(roots=roots, split_logs=split)

    def remember(
        self, checkpoints: Iterable[SeenCheckpoint], *, now: datetime
    ) -> list[SplitView]:
        """Record verified checkpoints; return the split views they reveal.

        A conflict found here (two checkpoints of one size in one run, which
        the verifier could not yet compare) marks the log as split at once.
        """
        seen = list(checkpoints)
        if not seen:
            return []
        found: list[SplitView] = []
        # Per origin, built at its first overflow in this call: sorting every
        # size at every insert past the cap made a large batch quadratic.
        smallest: dict[str, _Smallest] = {}
        with _locked(self.state_dir):
            doc = self._read_logs()
            changed = False
            for cp in seen:
                sizes: dict[str, str] = doc["checkpoints"].setdefault(cp.origin, {})
                root = base64.b64encode(cp.root_hash).decode()
                known = sizes.get(str(cp.size))
                if known is not None and known != root:
                    view = SplitView(
                        origin=cp.origin,
                        size=cp.size,
                        roots=(base64.b64decode(known), cp.root_hash),
                    )
                    found.append(view)
                    doc["split"][cp.log_id.hex()] = {
                        "origin": cp.origin,
                        "size": cp.size,
                        "roots": [known, root],
                        "detected_at": _iso(now),
                    }
                    changed = True
                    continue
                if known == root:
                    continue  # remembered already: nothing to write
                sizes[str(cp.size)] = root
                changed = True
                order = smallest.get(cp.origin)
                if order is not None:
                    order.add(str(cp.size))
                elif len(sizes) > MAX_CHECKPOINTS_PER_ORIGIN:
                    order = smallest[cp.origin] = _Smallest(sizes)
                if order is not None:
                    # Trimmed at once, not at the end: a size trimmed here and
                    # seen again with another root is remembered afresh.
                    for _ in range(len(sizes) - MAX_CHECKPOINTS_PER_ORIGIN):
                        del sizes[order.pop()]
            if changed:
                _write(self.logs_file, doc)
        return found

    def record_split(self, error: SplitViewError, *, now: datetime) -> None:
        """Record a split view the verifier proved; the log is refused from now on.

        The proof is a verified checkpoint that contradicts a remembered one.
        """
        self.record_splits([error], now=now)

    def record_splits(self, errors: Iterable[SplitViewError], *, now: datetime) -> None:
        """Record split views as ``record_split`` would one by one, in one write.

        One read and one write for all: a run can prove a split view per
        signature, and a write per error made that quadratic. A later error
        of the same log replaces an earlier one's record, as it would have.
        """
        proven = list(errors)
        if not proven:
            return  # as no call at all: no lock, no read, no write
        with _locked(self.state_dir):
            doc = self._read_logs()
            for error in proven:
                doc["split"][error.log_id.hex()] = {
                    "origin": error.origin,
                    "size": error.size,
                    "roots": [base64.b64encode(r).decode() for r in error.roots],
                    "detected_at": _iso(now),
                }
            _write(self.logs_file, doc)

    def summary(self) -> dict[str, Any]:
        """What is remembered, for ``trust show``."""
        floor = self.floor()
        doc = self._read_logs()
        return {
            "clock_floor": None
            if floor is None
            else {"time": _iso(floor.time), "source": floor.source},
            "logs": {
                origin: {
                    "checkpoints": len(sizes),
                    "largest_tree_size": max((int(s) for s in sizes), default=0),
                }
                for origin, sizes in sorted(doc["checkpoints"].items())
            },
            "split_views": doc["split"],
        }

    def split_records(self, log: str) -> dict[str, Any]:
        """The split-view records ``forget_split(log)`` would remove, by log id."""
        return {
            log_id: record
            for log_id, record in self._read_logs()["split"].items()
            if log in {log_id, record.get("origin")}
        }

    def forget_split(self, log: str) -> bool:
        """Remove a split-view record by log id (hex) or origin; True if one was."""
        with _locked(self.state_dir):
            doc = self._read_logs()
            doomed = [
                log_id
                for log_id, record in doc["split"].items()
                if log in {log_id, record.get("origin")}
            ]
            for log_id in doomed:
                del doc["split"][log_id]
            if doomed:
                _write(self.logs_file, doc)
        return bool(doomed)
