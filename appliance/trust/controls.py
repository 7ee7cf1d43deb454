"""The two-person controls on disk: ``$APPLIANCE_STATE_DIR/controls.json``.

Holds the threshold and the approver keys (PEM, so the state alone
verifies approvals), when they were set and by whose approval. Written
temp + fsync + rename under a lock; a damaged file is refused, never read
as "no controls": that would switch two-person integrity off
(docs/revocation.md §4).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from airlock_io.atomic import locked, write_atomically
from airlock_io.oserrors import write_error
from appliance.core import _json, keys
from appliance.core.approvals import (
    MAX_APPROVALS_BYTES,
    ApprovalKind,
    Controls,
    read_document,
    require,
)
from appliance.core.errors import InputError, Reason
from appliance.core.revocations import canonical, iso
from trustroot import strict_json

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager
    from datetime import datetime
    from pathlib import Path

    from appliance.trust.replay import ReplayResult

STATE_VERSION = 1


class ControlsStore:
    """Read and replace the controls."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "controls.json"
        self._lock = state_dir / ".controls.lock"

    def locked(self) -> AbstractContextManager[None]:
        """Hold the controls' lock (a change reads, checks and writes under it)."""
        return locked(self._lock)

    def read(self) -> Controls | None:
        """The controls in force, or None before ``controls init``.

        Raises:
            InputError: the file is damaged (never taken for "no controls").
        """
        if not self.path.exists() and not self.path.is_symlink():
            return None
        where = str(self.path)
        try:
            doc = strict_json.loads(
                inputs.read_file(
                    self.path, what="controls", max_bytes=inputs.MAX_STATE_BYTES
                )
            )
            if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
                raise ValueError("not controls of version 1")  # noqa: TRY301 - one handler below
            approvers = tuple(
                keys.load_pem(str(a["pem"]).encode(), where=where)
                for a in doc["approvers"]
            )
            return Controls(
                threshold=int(doc["threshold"]),
                approvers=approvers,
                generation=int(doc.get("generation", 0)),
            )
        except (ValueError, KeyError, TypeError, InputError) as exc:
            msg = f"is damaged ({exc}): two-person integrity cannot be checked; restore it from a backup"
            raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE) from exc

    def write(
        self, controls: Controls, *, now: datetime, approved_by: tuple[bytes, ...]
    ) -> None:
        """Replace the controls (the caller holds :meth:`locked`)."""
        doc: dict[str, Any] = {
            "version": STATE_VERSION,
            "threshold": controls.threshold,
            "approvers": [
                {
                    "key_id": keys.key_id(k).hex(),
                    "pem": keys.spki_pem(k).decode(),
                }
                for k in sorted(controls.approvers, key=keys.key_id)
            ],
            "set_at": iso(now),
            "approved_by": [k.hex() for k in approved_by],
            "sha256": controls.sha256,
            "generation": controls.generation,
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, _json.document(doc))
        except OSError as exc:
            raise write_error(
                exc, self.path, doing="cannot record the controls"
            ) from exc


def read_approvals(path: Path | None) -> dict[str, Any]:
    """The approvals document at ``path`` (none given or none there: an empty one).

    Raises:
        InputError: unreadable, too large or not an approvals document.
    """
    if path is None or not path.exists():
        return read_document(None, where=str(path))
    return read_document(
        inputs.read_file(path, what="approvals", max_bytes=MAX_APPROVALS_BYTES),
        where=str(path),
    )


def root_import_digest(name: str, root: bytes) -> str:
    """What approvers sign to let ``trust import --name NAME`` commit ``root`` (docs/revocation.md §4).

    The SHA-256 of the RFC 8785 bytes of ``{"kind": "trust-import", "name":
    NAME, "root_sha256": sha256(N.root.json)}``: policy rules select roots
    by name (``trust = [...]``), so approvals of a root as ``public-good``
    must not import the same root as another name. A name is
    ``[a-z0-9-]`` (appliance/trust/held.py), so approvers on the connected
    side can compute it with ``printf ... | sha256sum``.
    """
    doc = {
        "kind": "trust-import",
        "name": name,
        "root_sha256": hashlib.sha256(root).hexdigest(),
    }
    return hashlib.sha256(canonical(doc)).hexdigest()


def root_change(
    state_dir: Path,
    result: ReplayResult,
    held: int | None,
    approvals: Path | None,
    *,
    name: str,
) -> tuple[bytes, ...] | None:
    """The approvers of committing ``result`` as trust root ``name``, if it brings a new root version under controls.

    A timestamp, snapshot or targets refresh under the root already held
    needs no approval; a new root version (or a first import) does, over
    :func:`root_import_digest` of the name and the new ``root.json``.

    Raises:
        InputError: under-approved (``approvals-missing``).
    """
    version = result.roles["root"].version
    if held is not None and version <= held:
        return None
    return trust_change(
        state_dir,
        sha256=root_import_digest(name, result.root),
        what=(
            f"TUF root v{version} as trust root {name!r} "
            f"(root.json sha256 {hashlib.sha256(result.root).hexdigest()})"
        ),
        approvals=read_approvals(approvals),
        where=str(approvals or "--approvals"),
    )


def forget_split_digest(log: str, records: Mapping[str, Any] | None = None) -> str:
    """What approvers sign to let ``trust forget-split LOG`` run (docs/revocation.md §4).

    It covers the split-view records it would forget (log id -> origin,
    size, roots, when detected), not just the log's name: approvals to
    forget one split view must not forget the next one the log shows.
    """
    if not records:
        return hashlib.sha256(f"airlock trust forget-split {log}".encode()).hexdigest()
    evidence = canonical({"log": log, "split": dict(records)})
    return hashlib.sha256(b"airlock trust forget-split " + evidence).hexdigest()


def trust_change(
    state_dir: Path,
    *,
    sha256: str,
    what: str,
    approvals: Mapping[str, Any] | None,
    where: str,
) -> tuple[bytes, ...] | None:
    """The approvers of a trust change, when controls are in force (None: they are not).

    Raises:
        InputError: under-approved (``approvals-missing``), naming the digest.
    """
    controls = ControlsStore(state_dir).read()
    if controls is None:
        return None
    return require(
        approvals or read_document(None, where=where),
        kind=ApprovalKind.TRUST,
        sha256=sha256,
        controls=controls,
        what=f"{what} (approve sha256 {sha256})",
        where=where,
    )
