"""A full disk in the operator's words: one phrase, the path, exit 2's kind."""

from __future__ import annotations

import errno

import pytest

from airlock_io.oserrors import cause, environment_error, write_error
from appliance.core.errors import InputError, Reason


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "no space left on device"),
        (OSError(errno.EFBIG, "File too large"), "File too large"),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
        (OSError("a short write"), "a short write"),
    ],
)
def test_cause_names_a_full_disk_one_way(exc: OSError, said: str) -> None:
    assert cause(exc) == said


def test_a_write_error_names_what_and_where() -> None:
    error = write_error(
        OSError(errno.ENOSPC, "No space left on device", "/x/.t.tmp"),
        "/x/t",
        doing="cannot write the layout",
    )
    assert (
        error.diagnostics() == "/x/t: cannot write the layout: no space left on device"
    )
    assert error.reason is Reason.INPUT_UNREADABLE


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device", "/x/a"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        OSError(errno.EFBIG, "File too large", b"/x/bytes-name"),
    ],
)
def test_the_machine_at_fault_is_an_input_error(exc: OSError) -> None:
    error = environment_error(exc)
    assert isinstance(error, InputError)
    assert error.reason is Reason.INPUT_UNREADABLE
    assert error.where == (exc.filename if isinstance(exc.filename, str) else None)


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOENT, "No such file or directory"),
        OSError("no errno"),
        ValueError("not an OSError"),
        KeyboardInterrupt(),
    ],
)
def test_anything_else_stays_what_it_was(exc: BaseException) -> None:
    assert environment_error(exc) is None
