"""The audit log as both faces read it: the recent decisions, and whether the chain holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.audit import AuditLog, Problem

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


def recent(state_dir: Path, count: int) -> list[dict[str, Any]]:
    """The last ``count`` decisions, oldest first."""
    return AuditLog(state_dir).recent(count)


def check_chain(
    state_dir: Path, anchors: Sequence[str] = ()
) -> tuple[int, Problem | None]:
    """Walk the hash chain: the lines read, and the first problem (None: it holds)."""
    return AuditLog(state_dir).verify(list(anchors))
