"""The hot path's base64 is the standard library's, whichever codec runs.

:mod:`appliance.core._base64` hands long input to ``pybase64`` (SIMD) and
short input, or anything ``pybase64`` refuses, to ``binascii``. These tests
hold the pair to ``binascii`` alone: the same bytes for every text it
accepts, a refusal for every text it refuses.
"""

from __future__ import annotations

import base64
import binascii

import pybase64
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import _base64

# Long enough for pybase64 to take it (_base64._LONG_TEXT is 256).
_LONG = 300


def _stdlib(text: str) -> bytes | None:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _ours(text: str) -> bytes | None:
    try:
        return _base64.decode(text)
    except (binascii.Error, ValueError):
        return None


# Text near base64: the alphabets, padding, line breaks, spaces, a non-ASCII
# letter; and real encodings of random bytes with one character changed,
# dropped or added at a random place, or padding cut or added.
_NEAR = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\n\r é",
    max_size=_LONG + 40,
)


@st.composite
def _damaged(draw: st.DrawFn) -> str:
    data = draw(st.binary(min_size=_LONG * 3 // 4 - 8, max_size=_LONG))
    text = base64.b64encode(data).decode()
    where = draw(st.integers(min_value=0, max_value=len(text)))
    change = draw(
        st.sampled_from(["none", "replace", "drop", "insert", "strip", "pad"])
    )
    char = draw(st.sampled_from(list("A/+=-_\n é")))
    if change == "replace" and where < len(text):
        return text[:where] + char + text[where + 1 :]
    if change == "drop":
        return text[:where] + text[where + 1 :]
    if change == "insert":
        return text[:where] + char + text[where:]
    if change == "strip":
        return text.rstrip("=")
    if change == "pad":
        return text + "=" * draw(st.integers(min_value=1, max_value=4))
    return text


@settings(max_examples=600)
@given(st.one_of(_NEAR, _damaged()))
def test_decode_is_binascii_strict(text: str) -> None:
    assert _ours(text) == _stdlib(text)


@settings(max_examples=300)
@given(st.one_of(_NEAR, _damaged()))
def test_what_pybase64_accepts_binascii_accepts_the_same(text: str) -> None:
    """The fast codec never widens: its yes is binascii's yes, byte for byte."""
    try:
        fast = pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return
    assert fast == _stdlib(text)


@pytest.mark.parametrize(
    "text",
    [
        "QUJD" * 80 + "====",  # padding after a full quantum: binascii says yes
        "QR==" * 80,  # padding mid-text
        "QUJD" * 80 + "QR==",  # non-zero bits past the last byte: binascii says yes
        "QUJD" * 80 + "\n",
        "QUJD" * 80 + "QUI",  # unpadded
        "-_" * 160,  # the URL-safe alphabet is not the standard one
        "é" * 300,
    ],
)
def test_long_edge_cases_follow_binascii(text: str) -> None:
    assert len(text) >= _base64._LONG_TEXT  # the fast path is taken
    assert _ours(text) == _stdlib(text)


@given(st.binary(max_size=600))
def test_encode_is_binascii(data: bytes) -> None:
    assert _base64.encode(data) == binascii.b2a_base64(data, newline=False)


def test_the_fast_codec_is_compiled() -> None:
    """pybase64 falls back to the standard library when its extension is missing:
    correct, but then the hot path pays binascii's cost twice."""
    assert "C extension active" in pybase64.get_version()
