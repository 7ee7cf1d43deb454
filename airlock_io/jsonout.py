"""A JSON report written as it is encoded, never held whole as one string.

``json.dumps(report, indent=2)`` builds a list of every token before joining
them: for the report of an archive of 100,000 signatures (184 MB of text)
that list alone took over half a gigabyte at the peak of ``appliance
verify``. :func:`dump` writes the same bytes (``json.dumps(value, indent=2)``
and a newline) in batches of about 64 KiB as the encoder yields them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

_BATCH = 1 << 16


def dump(value: Any, write: Callable[[str], object]) -> None:  # noqa: ANN401 - any JSON value
    """Write what ``json.dumps(value, indent=2)`` gives, and a newline, through ``write``, a batch at a time."""
    batch: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2).iterencode(value):
        batch.append(chunk)
        size += len(chunk)
        if size >= _BATCH:
            write("".join(batch))
            batch.clear()
            size = 0
    batch.append("\n")
    write("".join(batch))


def dump_bytes(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """What ``json.dumps(value, indent=2)`` gives and a newline, UTF-8, without the token list at its peak."""
    out = bytearray()
    dump(value, lambda text: out.extend(text.encode()))
    return bytes(out)
