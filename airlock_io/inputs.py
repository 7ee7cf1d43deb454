"""Read the operator's input files with their size checked before reading.

Every file a command reads (a bundle, a trusted root, a key, a policy, a PIN
file, the appliance's own state) goes through :func:`read_file`: a file over
its cap is refused from its size alone, so a 3 GB ``--bundle`` is one clear
line, not a ``MemoryError``. Streams that have no size (a FIFO, ``/dev/stdin``)
are read up to the cap plus one byte, and refused if longer.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Final

from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.core.policyfile import ResolvedRule

KIB: Final = 1024
MIB: Final = 1024 * KIB
# Caps by kind of document; each far above any real one.
MAX_BUNDLE_BYTES: Final = 16 * MIB  # = core Limits.max_bundle_bytes
MAX_TRUSTED_ROOT_BYTES: Final = 16 * MIB
MAX_KEY_BYTES: Final = 64 * KIB  # PEM keys, cosign key files
MAX_SECRET_BYTES: Final = 4 * KIB  # PIN files
MAX_STATE_BYTES: Final = 64 * MIB  # state.json, the log memory
MAX_POLICY_BYTES: Final = 1 * MIB


def read_file(path: Path, *, what: str, max_bytes: int) -> bytes:
    """Return the bytes of ``path``, at most ``max_bytes`` of them.

    Args:
        path: the file.
        what: what the file is, for messages ("bundle", "trusted root").
        max_bytes: the cap; a larger file is refused before it is read.

    Raises:
        InputError: unreadable (``input-unreadable``) or over the cap
            (``limit-exceeded``).
    """
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                msg = f"{what} is {info.st_size} bytes, over the {max_bytes}-byte limit"
                raise InputError(msg, where=str(path), reason=Reason.LIMIT_EXCEEDED)
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        msg = f"cannot read {what}: {exc.strerror or exc}"
        raise InputError(msg, where=str(path), reason=Reason.INPUT_UNREADABLE) from exc
    except ValueError as exc:  # a path no system call accepts (an embedded NUL)
        msg = f"cannot read {what}: not a usable path ({exc})"
        raise InputError(
            msg, where=repr(str(path)), reason=Reason.INPUT_UNREADABLE
        ) from exc
    if len(data) > max_bytes:
        msg = f"{what} is over the {max_bytes}-byte limit"
        raise InputError(msg, where=str(path), reason=Reason.LIMIT_EXCEEDED)
    return data


def read_policy(path: Path) -> tuple[ResolvedRule, ...]:
    """A policy file, parsed, validated and resolved (keys read relative to it).

    Both programs read policies through this: ``appliance verify --policy``
    and ``bundle-tools export --verify-with`` cannot disagree on one.

    Raises:
        InputError: unreadable, or anything the policy format refuses (naming the line).
    """
    from appliance.core.policyfile import PolicySpec  # noqa: PLC0415 - only commands with a policy

    spec = PolicySpec.from_toml(
        read_file(path, what="policy", max_bytes=MAX_POLICY_BYTES), source=str(path)
    )
    return spec.resolve(
        lambda relative: read_file(
            path.parent / relative, what="key", max_bytes=MAX_KEY_BYTES
        )
    )
