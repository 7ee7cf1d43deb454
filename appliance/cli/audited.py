"""Every decision a command makes goes into the audit log, refusals included.

A command opens :class:`Audited` before it starts work: an audit log that
ends in an incomplete line stops it there (run ``appliance audit verify``),
not after the work is done. The command records its decision with
:meth:`Audited.record` and puts the returned head in its report; a command
that fails with an :class:`~appliance.core.errors.ApplianceError` is recorded
with its reason and exit code on the way out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from airlock_io.exit_codes import exit_code_for
from appliance.audit import AuditLog, Head
from appliance.cli import env
from appliance.core.errors import ApplianceError

if TYPE_CHECKING:
    from types import TracebackType


class Audited:
    """The audit context of one command."""

    def __init__(self, command: str, **context: Any) -> None:  # noqa: ANN401 - JSON values
        self.command = command
        self.context = context
        self.log = AuditLog(env.state_dir())
        self.head: Head | None = None

    def __enter__(self) -> Self:
        """Refuse to start if the log cannot take a line."""
        self.log.head()
        return self

    def record(self, record: dict[str, Any]) -> Head:
        """Append the command's decision; return the new head for its report."""
        self.head = self.log.append(self.command, {**self.context, **record})
        return self.head

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A failure before a decision was recorded is recorded as one."""
        del kind, traceback
        if self.head is not None or not isinstance(error, ApplianceError):
            return
        code = exit_code_for(error)
        reason = getattr(error, "reason", None)
        try:
            self.log.append(
                self.command,
                {
                    **self.context,
                    "exit_code": int(code),
                    "reason": None if reason is None else str(reason.value),
                    "error": error.diagnostics(),
                },
            )
        except ApplianceError:
            return  # the original failure is what the operator must see
