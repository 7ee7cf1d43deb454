"""The streamed JSON report is the same bytes ``json.dumps(..., indent=2)`` and a newline give."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airlock_io import jsonout

VALUES: list[Any] = [
    {},
    [],
    None,
    "",
    {"a": [1, 2.5, True, None, {"b": 'é\u2028\x00"\\'}], "c": {}, "d": []},
    # Over several batches, and a token longer than a batch.
    {"images": [{"i": i, "checks": ["x" * 50] * 20} for i in range(400)]},
    {"long": "y" * (3 << 16)},
]


@pytest.mark.parametrize("value", VALUES)
def test_the_bytes_are_those_of_json_dumps(value: Any) -> None:
    expected = json.dumps(value, indent=2) + "\n"
    assert jsonout.dump_bytes(value) == expected.encode()
    written: list[str] = []
    jsonout.dump(value, written.append)
    assert "".join(written) == expected


def test_a_big_report_is_written_in_batches_not_token_by_token() -> None:
    written: list[str] = []
    jsonout.dump(VALUES[5], written.append)
    assert 1 < len(written) < 40
    assert all(len(w) < 2 * (1 << 16) for w in written[:-1])


@pytest.mark.parametrize("bad", [{"k": object()}, {1j: 1}, [b"bytes"]])
def test_what_json_dumps_refuses_is_refused(bad: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(bad, indent=2)
    with pytest.raises(TypeError):
        jsonout.dump_bytes(bad)
