"""The one strict JSON reader: what Go would refuse, or two parsers could read apart."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustroot import strict_json
from trustroot.strict_json import ProtoMessage, StrictJSONError


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (b'{"a": 1, "a": 2}', "duplicate JSON key 'a'"),
        (b'{"x": {"b": [], "b": {}}}', "duplicate"),
        (b'{"n": NaN}', "NaN"),
        (b'{"n": Infinity}', "Infinity"),
        (b'{"n": -Infinity}', "Infinity"),
        (b'{"n": 1e400}', "out of range"),
        (b'{"n": -1e400}', "out of range"),
        (b'{"n": ' + b"9" * 33 + b"}", "33 digits"),
        (b'{"n": -' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"s": "\\ud800"}', "surrogate"),
        (b'{"s": "a\\udfffb"}', "surrogate"),
        (b'{"\\ud800": 1}', "surrogate"),
        (b"[" * 65 + b"]" * 65, "64 levels"),
        (b"[" * 100_000 + b"]" * 100_000, "levels deep"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "not valid JSON"),  # a BOM
        (b"", "not valid JSON"),
        (b'{"a": 1} trailing', "not valid JSON"),
    ],
)
def test_refused(text: bytes, needle: str) -> None:
    with pytest.raises(StrictJSONError, match=needle):
        strict_json.loads(text)


def test_accepted_values_come_back_unchanged() -> None:
    text = (
        b'{"i": 9007199254740993, "f": 1.5, "s": "caf\\u00e9 \\ud83d\\ude00",'
        b' "l": [true, false, null], "deep": ' + b"[" * 63 + b"]" * 63 + b"}"
    )
    doc = strict_json.loads(text)
    assert doc["i"] == 2**53 + 1  # exact: no float detour
    assert doc["s"] == "café 😀"  # a surrogate *pair* is one character
    assert doc["f"] == 1.5


def test_max_depth_is_a_parameter() -> None:
    strict_json.loads(b"[[[]]]", max_depth=3)
    with pytest.raises(StrictJSONError):
        strict_json.loads(b"[[[]]]", max_depth=2)


@pytest.mark.parametrize(
    ("opening", "closing"), [(b'{"a":', b"}"), (b'[{"a":', b"}]"), (b"[", b"]")]
)
def test_depth_is_decided_for_objects_lists_and_both(
    opening: bytes, closing: bytes
) -> None:
    """Objects are counted as parsed, lists by their brackets in the text:
    a document of objects alone (no bracket at all) is held to the cap too."""
    levels = 64 // (len(closing))  # containers per repeat: one or two
    strict_json.loads(opening * levels + b"1" + closing * levels)
    with pytest.raises(StrictJSONError, match="levels deep"):
        strict_json.loads(opening * (levels + 1) + b"1" + closing * (levels + 1))
    with pytest.raises(StrictJSONError, match="levels deep"):
        strict_json.loads(b"[" + opening * levels + b"1" + closing * levels + b"]")


ENTRY = ProtoMessage("log_index", "kind_version", "canonicalized_body")


def test_proto_fields_accept_either_spelling() -> None:
    assert ENTRY.read({"log_index": "1", "kindVersion": {}}, where="e") == {
        "logIndex": "1",
        "kindVersion": {},
    }


@pytest.mark.parametrize(
    "obj",
    [
        {"logIndex": "1", "log_index": "2"},
        {"canonicalized_body": "a", "canonicalizedBody": None},
        {"canonicalizedBody": "a", "canonicalized_body": None},
        {"log_index": None, "kindVersion": {}, "logIndex": None},
    ],
)
def test_proto_field_given_twice_is_refused(obj: dict[str, object]) -> None:
    with pytest.raises(StrictJSONError, match="given twice"):
        ENTRY.read(obj, where="e")


def test_proto_unknown_field_refused_or_skipped() -> None:
    with pytest.raises(StrictJSONError, match="unknown field 'logindex'"):
        ENTRY.read({"logindex": "1"}, where="e")
    assert ENTRY.read(
        {"future": 1, "log_index": "1"}, where="e", ignore_unknown=True
    ) == {"logIndex": "1"}


def test_proto_null_means_absent() -> None:
    assert ENTRY.read({"logIndex": None}, where="e") == {}


# -- share=True: equal flat objects come back as one ---------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)


@given(_json_values)
def test_sharing_never_changes_what_is_read(value: object) -> None:
    data = json.dumps(value).encode()
    assert strict_json.loads(data, share=True) == strict_json.loads(data)
    # The same values, of the same types (1, 1.0 and true are not one object).
    assert json.dumps(strict_json.loads(data, share=True)) == json.dumps(
        strict_json.loads(data)
    )


def test_equal_flat_objects_are_one_object_and_unequal_ones_are_not() -> None:
    doc = strict_json.loads(
        b'[{"a": 1, "l": ["x"]}, {"a": 1, "l": ["x"]}, {"a": 1.0, "l": ["x"]},'
        b' {"a": true, "l": ["x"]}, {"a": 1, "l": ["x", "y"]}, {"l": ["x"], "a": 1}]',
        share=True,
    )
    assert doc[0] is doc[1]
    assert doc[2] is not doc[0]  # 1.0 is not 1 in JSON
    assert type(doc[2]["a"]) is float
    assert doc[3] is not doc[0]  # true is not 1
    assert doc[3]["a"] is True
    assert doc[4] is not doc[0]
    assert doc[5] is not doc[0]  # another member order: another document's bytes


def test_zero_and_negative_zero_are_not_one_object() -> None:
    doc = strict_json.loads(
        b'[{"a": 0.0}, {"a": -0.0}, {"l": [0.0]}, {"l": [-0.0]}]', share=True
    )
    assert json.dumps(doc) == '[{"a": 0.0}, {"a": -0.0}, {"l": [0.0]}, {"l": [-0.0]}]'


def test_sharing_still_refuses_duplicate_keys() -> None:
    with pytest.raises(strict_json.StrictJSONError, match="duplicate"):
        strict_json.loads(b'[{"a": 1}, {"a": 1, "a": 2}]', share=True)


# -- the gate before the tree walk ----------------------------------------------


def _gate_by_scan(text: str, max_depth: int, objects: int) -> bool:
    """The gate as it was written first: a count and a regex over the whole text."""
    return objects + text.count("[") > max_depth or (
        strict_json._SURROGATE_ESCAPE.search(text) is not None
    )


@given(
    st.text(alphabet='\\u[dD89aAfF0x"é', max_size=200),
    st.integers(min_value=0, max_value=70),
    st.integers(min_value=-3, max_value=70),
)
def test_the_gate_decides_as_a_full_scan(text: str, objects: int, depth: int) -> None:
    """Stopping at the cap, and looking at backslashes one by one, never
    skips a walk the whole-text scan would make (nor makes one it would not)."""
    gate = strict_json._needs_tree_check
    assert gate(text, depth, objects) == _gate_by_scan(text, depth, objects)


@pytest.mark.parametrize("escapes", [0, 31, 32, 33, 1000])
def test_a_surrogate_after_many_escapes_is_still_found(escapes: int) -> None:
    """Past the backslashes looked at by hand, the regex takes the rest."""
    text = '{"s": "' + "\\n" * escapes + '\\udc00"}'
    with pytest.raises(StrictJSONError, match="surrogate"):
        strict_json.loads(text.encode())
    assert strict_json.loads(('{"s": "' + "\\n" * escapes + '"}').encode())
