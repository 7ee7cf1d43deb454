"""The appliance's persisted trust: what was imported, and the rollback floor.

Layout under ``$APPLIANCE_STATE_DIR/trust/``::

    state.json                    the commit point: versions, expiries, hashes
    <timestamp-version>-<id>/     one directory per import, never edited
        root.json, root_history/N.root.json, timestamp.json,
        snapshot.json, targets.json, trusted_root.json, [signing_config.v0.2.json]

An import writes a fresh directory (every file fsynced), then replaces
``state.json`` atomically (temporary name, fsync, rename, fsync of the
directory). A crash at any point leaves either the old state or the new one,
never a mix. ``state.json`` records each file's SHA-256; loading re-checks the
trusted root against it, so a damaged state is refused, not half-used.

An import reads the state, replays from it and commits inside one
:meth:`StateStore.update`, under the state lock: two imports at once run one
after the other, the second replaying from what the first committed (so it
commits on top of it, or is refused as a rollback), never both from the
same old state with the later commit winning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from appliance.core.errors import InputError, Reason, TrustRootError
from trustroot import strict_json

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from appliance.trust.replay import ReplayResult

STATE_VERSION = 1
# What commit() names an import directory: "<timestamp version>-<12 hex>".
_PLAIN_NAME = re.compile(r"[0-9]{1,20}-[0-9a-f]{12}")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleState:
    """A role's version and expiry as last imported."""

    version: int
    expires: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustState:
    """The committed trust state."""

    directory: Path
    root_version: int
    roles: dict[str, RoleState]
    snapshot_meta_version: int
    targets_meta_version: int
    online_keyids: dict[str, tuple[str, ...]]
    trusted_root_sha256: str
    files: dict[str, str]  # name -> sha256
    imported_at: datetime
    source: str
    allowances: list[dict[str, str]] = field(default_factory=list)

    def read(self, name: str) -> bytes:
        """Read a stored file, checking it against the recorded hash.

        Raises:
            TrustRootError: missing or damaged (fail closed).
        """
        expected = self.files.get(name)
        path = self.directory / name
        try:
            data = inputs.read_file(
                path, what="stored trust", max_bytes=inputs.MAX_STATE_BYTES
            )
        except InputError as exc:
            raise TrustRootError(
                exc.message, reason=Reason.TRUST_ROOT_INVALID, where=str(path)
            ) from exc
        if expected is None or hashlib.sha256(data).hexdigest() != expected:
            raise TrustRootError(
                "stored trust file does not match state.json",
                reason=Reason.TRUST_ROOT_INVALID,
                where=str(path),
            )
        return data

    def stale_since(self, now: datetime) -> datetime | None:
        """The earliest expiry already passed at ``now``, if any."""
        passed = [role.expires for role in self.roles.values() if role.expires < now]
        return min(passed) if passed else None

    def to_json(self) -> dict[str, Any]:
        """The state as ``state.json`` and ``trust show -o json`` write it."""
        return {
            "state_version": STATE_VERSION,
            "directory": self.directory.name,
            "root_version": self.root_version,
            "roles": {
                name: {"version": r.version, "expires": _iso(r.expires)}
                for name, r in self.roles.items()
            },
            "snapshot_meta_version": self.snapshot_meta_version,
            "targets_meta_version": self.targets_meta_version,
            "online_keyids": {k: list(v) for k, v in self.online_keyids.items()},
            "trusted_root_sha256": self.trusted_root_sha256,
            "files": self.files,
            "imported_at": _iso(self.imported_at),
            "source": self.source,
            "expiry_allowances": self.allowances,
        }


class StateStore:
    """Reads and commits trust state under one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "trust"

    @property
    def state_file(self) -> Path:
        """The commit point."""
        return self.root / "state.json"

    def load(self) -> TrustState | None:
        """The committed state, or None if nothing was ever imported.

        Raises:
            TrustRootError: a state exists but cannot be read (fail closed).
        """
        if not self.state_file.exists() and not self.state_file.is_symlink():
            return None
        try:
            raw = inputs.read_file(
                self.state_file, what="trust state", max_bytes=inputs.MAX_STATE_BYTES
            )
        except InputError as exc:
            raise TrustRootError(
                exc.message,
                reason=Reason.TRUST_ROOT_INVALID,
                where=str(self.state_file),
            ) from exc
        try:
            doc = _versioned(strict_json.loads(raw))
            return TrustState(
                directory=self.root / _plain_name(doc["directory"]),
                root_version=int(doc["root_version"]),
                roles={
                    n: RoleState(version=int(r["version"]), expires=_time(r["expires"]))
                    for n, r in doc["roles"].items()
                },
                snapshot_meta_version=int(doc["snapshot_meta_version"]),
                targets_meta_version=int(doc["targets_meta_version"]),
                online_keyids={k: tuple(v) for k, v in doc["online_keyids"].items()},
                trusted_root_sha256=str(doc["trusted_root_sha256"]),
                files={str(k): str(v) for k, v in doc["files"].items()},
                imported_at=_time(doc["imported_at"]),
                source=str(doc["source"]),
                allowances=list(doc.get("expiry_allowances", [])),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TrustRootError(
                f"trust state is damaged: {exc}",
                reason=Reason.TRUST_ROOT_INVALID,
                where=str(self.state_file),
            ) from exc

    @contextlib.contextmanager
    def update(self) -> Iterator[Update]:
        """Hold the state lock from reading the state to committing the next one.

        Leftovers of interrupted or killed imports (pending directories,
        temporaries) are removed first, under the lock, so that no later run
        trips over them.

        Raises:
            TrustRootError: the state is damaged (before anything is written).
            InputError: the state directory cannot be written or locked.
        """
        from airlock_io.atomic import locked, sweep  # noqa: PLC0415

        with contextlib.ExitStack() as held:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                held.enter_context(locked(self.root / ".lock"))
            except OSError as exc:
                raise _write_error(exc, self.root) from exc
            sweep(self.root / "import")
            sweep(self.state_file)
            # A damaged state refuses the import before anything is written.
            yield Update(self, previous=self.load())

    def commit(self, result: ReplayResult, *, source: str, now: datetime) -> TrustState:
        """Commit ``result`` whatever the state holds now (see :meth:`update`).

        For a replay that did not start from the stored state; an import
        that did uses :meth:`update`, so that the state cannot change between
        its read and this commit.

        Raises:
            TrustRootError: the state is damaged.
            InputError: the state directory cannot be written.
        """
        with self.update() as update:
            return update.commit(result, source=source, now=now)


class Update:
    """One import's hold on the state: what it read, and its one commit.

    Args:
        store: the state store, whose lock the caller holds.
        previous: the committed state when the lock was taken.
    """

    def __init__(self, store: StateStore, *, previous: TrustState | None) -> None:
        self.store = store
        self.previous = previous

    def commit(self, result: ReplayResult, *, source: str, now: datetime) -> TrustState:
        """Persist a verified replay; return the new state.

        Superseded imports, and version directories orphaned by a run killed
        between its rename and its commit, are removed once it is committed.

        Raises:
            InputError: the state directory cannot be written.
        """
        # Imported here: verifying only reads state, and these cost start-up time.
        import secrets  # noqa: PLC0415
        import shutil  # noqa: PLC0415

        from airlock_io.atomic import (  # noqa: PLC0415
            fsync_dir,
            temporary_name,
            write_atomically,
        )

        root = self.store.root
        files: dict[str, bytes] = {
            "root.json": result.root,
            "timestamp.json": result.timestamp,
            "snapshot.json": result.snapshot,
            "targets.json": result.targets,
            **{
                f"root_history/{v}.root.json": data
                for v, data in result.root_history.items()
            },
            **result.target_files,
        }
        name = f"{result.roles['timestamp'].version}-{secrets.token_hex(6)}"
        # Removed on any failure or interruption before state.json names it.
        pending: Path | None = None
        try:
            pending = temporary_name(root / "import")
            pending.mkdir()
            for relative, data in files.items():
                _write_synced(pending / relative, data)
            final = root / name
            pending.rename(final)
            pending = final
            fsync_dir(root)
            state = _state_of(result, files, directory=final, source=source, now=now)
            write_atomically(
                self.store.state_file, json.dumps(state.to_json(), indent=2).encode()
            )
            pending = None  # committed
            for entry in root.iterdir():
                if (
                    entry != final
                    and entry.is_dir()
                    and not entry.is_symlink()
                    and not entry.name.startswith(".")
                ):
                    shutil.rmtree(entry, ignore_errors=True)
        except OSError as exc:
            raise _write_error(exc, root) from exc
        finally:
            if pending is not None:
                shutil.rmtree(pending, ignore_errors=True)
        self.previous = state
        return state


def _state_of(
    result: ReplayResult,
    files: dict[str, bytes],
    *,
    directory: Path,
    source: str,
    now: datetime,
) -> TrustState:
    return TrustState(
        directory=directory,
        root_version=result.roles["root"].version,
        roles={
            k: RoleState(version=v.version, expires=v.expires)
            for k, v in result.roles.items()
        },
        snapshot_meta_version=result.snapshot_meta_version,
        targets_meta_version=result.targets_meta_version,
        online_keyids=dict(result.online_keyids),
        trusted_root_sha256=result.trusted_root_sha256,
        files={k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
        imported_at=now,
        source=source,
        allowances=[
            {
                "role": a.role,
                "expired_at": _iso(a.expired_at),
                "overdue_seconds": str(int(a.overdue / timedelta(seconds=1))),
            }
            for a in result.allowances
        ],
    )


def _write_error(exc: OSError, root: Path) -> InputError:
    from airlock_io.oserrors import write_error  # noqa: PLC0415 - only when writing failed

    return write_error(exc, root, doing="cannot write trust state")


def _plain_name(directory: object) -> str:
    if not isinstance(directory, str) or not _PLAIN_NAME.fullmatch(directory):
        msg = f"directory {str(directory)[:40]!r} is not a plain name"
        raise ValueError(msg)
    return directory


def _versioned(doc: Any) -> dict[str, Any]:  # noqa: ANN401 - JSON is untyped until checked
    if not isinstance(doc, dict) or doc.get("state_version") != STATE_VERSION:
        msg = "unknown state format"
        raise ValueError(msg)
    return doc


def _write_synced(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
