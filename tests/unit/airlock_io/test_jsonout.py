"""The streamed JSON report is the same bytes ``json.dumps(..., indent=2)`` and a newline give."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# -- a list rendered where it was made (Prerendered) ---------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    head=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    elements=st.lists(json_values, max_size=5),
    tail=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)
def test_a_prerendered_member_gives_the_bytes_of_the_plain_list(
    head: dict[str, Any], elements: list[Any], tail: dict[str, Any]
) -> None:
    """Whatever the values around it and in it: the same bytes as ``json.dumps(..., indent=2)``."""
    plain = {
        **head,
        "images": elements,
        **{k: v for k, v in tail.items() if k != "images"},
    }
    spliced = {
        **plain,
        "images": jsonout.Prerendered([jsonout.render(e) for e in elements]),
    }
    expected = json.dumps(plain, indent=2) + "\n"
    assert jsonout.dump_bytes(spliced) == expected.encode()


def test_a_prerendered_list_reads_back_as_its_elements() -> None:
    elements = [{"ref": "a\nb", "n": 1}, [], "é\u2028"]
    rendered = jsonout.Prerendered([jsonout.render(e) for e in elements])
    assert len(rendered) == 3
    assert list(rendered) == elements
    assert rendered[0] == elements[0]
    assert rendered[1:] == elements[1:]
    assert rendered.text(2) == json.dumps(elements[2], indent=2)


def test_a_prerendered_list_cannot_reach_json_dumps_unnoticed() -> None:
    """Only :func:`jsonout.dump` knows it: the stdlib refuses it rather than writing something else."""
    with pytest.raises(TypeError):
        json.dumps({"images": jsonout.Prerendered([jsonout.render(1)])})
