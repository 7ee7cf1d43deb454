"""The two-person controls on disk: ``$APPLIANCE_STATE_DIR/controls.json``.

Holds the threshold and the approver keys (PEM, so the state alone
verifies approvals), when they were set and by whose approval. Written
temp + fsync + rename under a lock; a damaged file is refused, never read
as "no controls": that would switch two-person integrity off
(docs/revocation.md §4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from airlock_io.atomic import locked, write_atomically
from airlock_io.oserrors import write_error
from appliance.core import _json, keys
from appliance.core.approvals import Controls
from appliance.core.errors import InputError, Reason
from appliance.core.revocations import iso
from trustroot import strict_json

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from datetime import datetime
    from pathlib import Path

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
            return Controls(threshold=int(doc["threshold"]), approvers=approvers)
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
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, _json.document(doc))
        except OSError as exc:
            raise write_error(
                exc, self.path, doing="cannot record the controls"
            ) from exc
