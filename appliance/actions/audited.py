"""Every decision a command makes goes into the audit log, refusals included.

A command opens :class:`Audited` before it starts work: an audit log that
ends in an incomplete line stops it there (run ``appliance audit verify``),
not after the work is done. The command records its decision with
:meth:`Audited.record` and puts the returned head in its report.

A command that fails (an :class:`~appliance.core.errors.ApplianceError`, a
full disk, an interruption) is recorded with its reason, its exit code and
what it had done by then (:func:`appliance.audit.attach`) on the way out,
even after its decision was recorded (a report that could not be written).
If the log itself cannot take that line, the operator's line says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from airlock_io.exit_codes import ExitCode, exit_code_for
from airlock_io.oserrors import environment_error
from appliance.audit import AuditLog, Head, attached
from appliance.core.errors import ApplianceError, Reason

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType


class Audited:
    """The audit context of one command.

    ``via`` names the face that asked when it is not the CLI (``tui``), so
    an auditor can tell; everything else is the same line from both faces.
    """

    def __init__(
        self,
        command: str,
        state_dir: Path,
        *,
        via: str = "cli",
        **context: Any,  # noqa: ANN401 - JSON values
    ) -> None:
        self.command = command
        self.context = {**context, **({} if via == "cli" else {"via": via})}
        self.log = AuditLog(state_dir)
        self.head: Head | None = None
        self._log_failed = False

    def __enter__(self) -> Self:
        """Refuse to start if the log cannot take a line."""
        self.log.head()
        return self

    def record(self, record: dict[str, Any]) -> Head:
        """Append the command's decision; return the new head for its report."""
        try:
            self.head = self.log.append(self.command, {**self.context, **record})
        except ApplianceError:
            self._log_failed = True  # the failure names the log already
            raise
        return self.head

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A failure is recorded as a decision (after the one recorded, if any).

        Raises:
            InputError: the failure was a full disk (raised as one clear
                line, from the ``OSError``).
        """
        del kind, traceback
        if error is None:
            return
        failure = _as_failure(error)
        if failure is None:
            return  # a bug: the frame reports it; nothing is claimed here
        code, reason, line = failure
        if not self._log_failed:
            self._append_failure(error, code=code, reason=reason, line=line)
        converted = environment_error(error)
        if converted is not None:
            converted.__notes__ = list(getattr(error, "__notes__", ()))
            raise converted from error

    def _append_failure(
        self, error: BaseException, *, code: ExitCode, reason: Reason, line: str
    ) -> None:
        record: dict[str, Any] = {
            **self.context,
            **attached(error),
            "exit_code": int(code),
            "reason": reason.value,
            "error": line,
        }
        if self.head is not None:
            record["after_line"] = self.head.seq  # the decision it followed
        try:
            self.log.append(self.command, record)
        except ApplianceError as exc:
            error.add_note(f"the audit log could not record this: {exc.diagnostics()}")


def _as_failure(error: BaseException) -> tuple[ExitCode, Reason, str] | None:
    """(exit code, reason, line) of a failure the audit log records, else None."""
    notes = [" ".join(n.split()) for n in getattr(error, "__notes__", ())]
    failure = environment_error(error) or error
    if isinstance(failure, ApplianceError):
        code, reason, line = (
            exit_code_for(failure),
            failure.reason,
            failure.diagnostics(),
        )
    elif isinstance(failure, KeyboardInterrupt):
        code, reason = ExitCode.VERIFICATION_FAILED, Reason.INTERRUPTED
        line = f"interrupted ({failure!s})" if str(failure) else "interrupted (SIGINT)"
    else:
        return None
    return code, reason, "; ".join([line, *notes])
