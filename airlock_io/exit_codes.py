"""The appliance's documented exit codes (README "Exit codes" mirrors this)."""

from __future__ import annotations

from enum import IntEnum

from appliance.core.errors import (
    ApplianceError,
    InputError,
    SignerError,
    VerificationError,
)


class ExitCode(IntEnum):
    """What the process tells its caller."""

    # Everything asked for was positively verified (or the command succeeded).
    OK = 0
    # Verification failed, or something was not positively verified (fail closed).
    VERIFICATION_FAILED = 1
    # Usage error, or input that could not be read or understood.
    USAGE_OR_INPUT = 2


def exit_code_for(error: ApplianceError) -> ExitCode:
    """Map an error to the exit code its kind documents."""
    if isinstance(error, VerificationError):
        return ExitCode.VERIFICATION_FAILED
    if isinstance(error, InputError | SignerError):
        return ExitCode.USAGE_OR_INPUT
    # An ApplianceError of no known kind: nothing was verified, so fail closed.
    return ExitCode.VERIFICATION_FAILED
