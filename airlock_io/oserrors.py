"""Failures of the machine a command runs on, said in the operator's words.

A full disk (or quota, or file size limit) is neither a bug nor bad input:
the operator frees space and runs the command again. Every write site wraps
its ``OSError`` with :func:`cause` and the path it was writing; anything that
still escapes a command is turned into the same one line by
:func:`environment_error` (in the CLI frame and the audit context), never an
"internal error".

This module decides only the wording and the kind; it writes nothing.
"""

from __future__ import annotations

import errno
from typing import Final

from appliance.core.errors import InputError, Reason

# The disk, or the operator's share of it, is full: free space and rerun.
NO_SPACE: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
# A file grew past what the file system or the process limit allows.
TOO_LARGE: Final = frozenset({errno.EFBIG})


def cause(exc: OSError) -> str:
    """What went wrong, in a few words.

    "no space left on device" for a full disk or a quota (one phrase,
    whatever the C library calls EDQUOT), else the system's own words.
    """
    if exc.errno in NO_SPACE:
        return "no space left on device"
    return exc.strerror or str(exc)


def write_error(
    exc: OSError, where: object, *, doing: str = "cannot write"
) -> InputError:
    """One clear line for a failed write: what was being done, where, and why.

    Args:
        exc: the failure.
        where: the path being written (or its directory).
        doing: what was being done, e.g. "cannot write the layout".
    """
    return InputError(
        f"{doing}: {cause(exc)}", where=str(where), reason=Reason.INPUT_UNREADABLE
    )


def environment_error(exc: BaseException) -> InputError | None:
    """``exc`` as an input/environment error (exit 2), if the machine is at fault.

    A full disk, a quota or a file size limit, wherever it surfaced; None for
    anything else (which stays what it was).
    """
    if not isinstance(exc, OSError) or exc.errno not in NO_SPACE | TOO_LARGE:
        return None
    where = exc.filename if isinstance(exc.filename, str) else None
    return InputError(
        f"cannot write: {cause(exc)}",
        where=where,
        reason=Reason.INPUT_UNREADABLE,
    )
