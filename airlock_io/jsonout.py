"""A JSON report written as it is encoded, never held whole as one string.

``json.dumps(report, indent=2)`` builds a list of every token before joining
them: for the report of an archive of 100,000 signatures (184 MB of text)
that list alone took over half a gigabyte at the peak of ``appliance
verify``. :func:`dump` writes the same bytes (``json.dumps(value, indent=2)``
and a newline) in batches of about 64 KiB as the encoder yields them.

A list of the report may also come :class:`Prerendered`: each element
rendered (:func:`render`) where it was made, kept compressed, and written
here as it is; the output is the same bytes as for the plain list.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_BATCH = 1 << 16


def render(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """``value`` as :func:`dump` would write it at the top level (no newline), compressed."""
    return zlib.compress(json.dumps(value, indent=2).encode(), 1)


class Prerendered(Sequence[Any]):
    """A list whose elements were rendered already (:func:`render`): written as they are.

    Read as a sequence (``report["images"][0]``), an element is parsed back
    from its text, so a caller in the same process sees what a reader of the
    written report sees.
    """

    def __init__(self, rendered: Sequence[bytes]) -> None:
        self._rendered = list(rendered)

    def __len__(self) -> int:
        """How many elements."""
        return len(self._rendered)

    @overload
    def __getitem__(self, index: int) -> Any: ...  # noqa: ANN401 - a JSON value
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        """The element(s), parsed from the rendered text."""
        if isinstance(index, slice):
            return [json.loads(self.text(i)) for i in range(len(self))[index]]
        return json.loads(self.text(index))

    def text(self, index: int) -> str:
        """The element as rendered at the top level (``json.dumps(e, indent=2)``)."""
        return zlib.decompress(self._rendered[index]).decode()

    def texts(self) -> Iterator[str]:
        """Every element's text, in order, one decompressed at a time."""
        for i in range(len(self)):
            yield self.text(i)


def dump(value: Any, write: Callable[[str], object]) -> None:  # noqa: ANN401 - any JSON value
    """Write what ``json.dumps(value, indent=2)`` gives, and a newline, through ``write``, a batch at a time.

    A :class:`Prerendered` list may be a value of the top-level object.
    """
    if isinstance(value, dict) and any(
        isinstance(v, Prerendered) for v in value.values()
    ):
        _dump_object(value, write)
        return
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


def _dump_object(value: dict[str, Any], write: Callable[[str], object]) -> None:
    """The top-level object member by member, each value indented as one level down."""
    write("{")
    for n, (key, member) in enumerate(value.items()):
        write(("," if n else "") + "\n  " + json.dumps(key) + ": ")
        if isinstance(member, Prerendered):
            if not member:
                write("[]")
                continue
            write("[")
            for i, text in enumerate(member.texts()):
                # An element of a member's list: two levels down (JSON text
                # has no raw newline inside a string: every one is layout).
                write(("," if i else "") + "\n    " + text.replace("\n", "\n    "))
            write("\n  ]")
        else:
            for chunk in json.JSONEncoder(indent=2).iterencode(member):
                write(chunk.replace("\n", "\n  "))
    write("\n}\n" if value else "}\n")


def dump_bytes(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """What ``json.dumps(value, indent=2)`` gives and a newline, UTF-8, without the token list at its peak."""
    out = bytearray()
    dump(value, lambda text: out.extend(text.encode()))
    return bytes(out)
