"""Strict JSON and proto3-JSON field readers for the core's parsers.

Parsing goes through the one strict reader (:mod:`trustroot.strict_json`):
duplicate keys, ``NaN``, lone surrogates, runaway integers and deep nesting
are refused before any field is read. The readers here check each field's
type and range and raise :class:`~appliance.core.errors.InputError` naming
the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from appliance.core import _base64
from appliance.core.errors import InputError
from trustroot import strict_json
from trustroot.strict_json import ProtoMessage, StrictJSONError

# The largest integer a JSON number carries exactly (IEEE 754 double) and that
# RFC 8785 (the Rekor SET's canonical form) can print: 2**53 - 1.
MAX_SAFE_INTEGER = 2**53 - 1
MAX_INT64 = 2**63 - 1
# 9999-12-31T23:59:59Z: the last second a datetime (and RFC 3339) can name.
MAX_UNIX_SECONDS = 253_402_300_799


def loads(data: bytes | bytearray, *, what: str, share: bool = False) -> Any:  # noqa: ANN401 - JSON is untyped until read
    """Parse JSON bytes strictly (see :mod:`trustroot.strict_json`; ``share``: equal flat objects as one).

    Raises:
        InputError: the bytes are not strict JSON; names ``what``.
    """
    try:
        return strict_json.loads(data, share=share)
    except StrictJSONError as exc:
        raise InputError(str(exc), where=what) from exc


def obj(value: object, where: str) -> dict[str, Any]:
    """Require a JSON object."""
    if not isinstance(value, dict):
        msg = "expected a JSON object"
        raise InputError(msg, where=where)
    return value


def document(doc: dict[str, Any]) -> bytes:
    """One of our own documents as bytes: sorted keys, one line per member, a final newline.

    The same document always gives the same bytes (an inventory is known by its
    SHA-256, a parts index is compared part by part).
    """
    return json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n"


def versioned(  # noqa: PLR0913 - keyword-only, each named
    data: bytes | bytearray,
    *,
    what: str,
    key: str,
    version: int,
    where: str,
    share: bool = False,
) -> dict[str, Any]:
    """Parse one of our own documents: an object whose ``key`` is the version we read.

    Raises:
        InputError: not JSON, not an object, or another version.
    """
    doc = obj(loads(data, what=what, share=share), where)
    found = doc.get(key)
    if type(found) is not int or found != version:  # not true, not 1.0
        msg = f"unknown {what} version {str(found)[:20]}"
        raise InputError(msg, where=where)
    return doc


def message(value: object, schema: ProtoMessage, where: str) -> dict[str, Any]:
    """Require a JSON object and read it as a proto3 message.

    Both spellings of a field (JSON and proto name) are the same field; a
    field given twice, or one the message does not define, is refused, as
    Go's ``protojson`` refuses them. ``null`` members are absent.
    """
    try:
        return schema.read(obj(value, where), where=where)
    except StrictJSONError as exc:
        raise InputError(str(exc)) from exc


def opt_message(
    parent: dict[str, Any], key: str, schema: ProtoMessage, where: str
) -> dict[str, Any] | None:
    """An optional message member."""
    value = parent.get(key)
    return None if value is None else message(value, schema, f"{where}.{key}")


def opt_obj(parent: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    """An optional object member (proto3 JSON: null means absent)."""
    value = parent.get(key)
    return None if value is None else obj(value, f"{where}.{key}")


def string(parent: dict[str, Any], key: str, where: str) -> str:
    """A required non-empty string member."""
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        msg = "expected a non-empty string"
        raise InputError(msg, where=f"{where}.{key}")
    return value


def opt_string(parent: dict[str, Any], key: str, where: str) -> str | None:
    """An optional string member."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        msg = "expected a string"
        raise InputError(msg, where=f"{where}.{key}")
    return value


def int64(
    parent: dict[str, Any],
    key: str,
    where: str,
    *,
    default: int | None = None,
    maximum: int = MAX_INT64,
) -> int:
    """A proto3 int64: a decimal string or a JSON integer, never negative here.

    Args:
        parent: the object holding the member.
        key: the member's name.
        where: the object's path, for messages.
        default: the value when absent (None: the member is required).
        maximum: the largest value accepted (``MAX_SAFE_INTEGER`` for values
            that a Rekor SET must reproduce exactly).
    """
    value = parent.get(key)
    if value is None:
        if default is None:
            msg = "missing"
            raise InputError(msg, where=f"{where}.{key}")
        return default
    if isinstance(value, bool):
        msg = "expected an integer"
        raise InputError(msg, where=f"{where}.{key}")
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and len(value) <= len(str(MAX_INT64))
    ):
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        msg = f"expected a non-negative integer, got {str(value)[:40]!r}"
        raise InputError(msg, where=f"{where}.{key}")
    if not 0 <= number <= maximum:
        msg = f"out of range: {str(number)[:40]} (at most {maximum})"
        raise InputError(msg, where=f"{where}.{key}")
    return number


def b64(value: object, where: str, *, allow_empty: bool = False) -> bytes:
    """Decode proto3-JSON bytes: standard or URL-safe base64, padding optional."""
    if not isinstance(value, str) or (not value and not allow_empty):
        msg = "expected base64 text"
        raise InputError(msg, where=where)
    try:  # the common case first: standard, padded, on one line
        return _base64.decode(value)
    except (binascii.Error, ValueError):
        pass
    # Go's decoder (protojson) skips CR and LF, and real bundles carry MIME
    # line breaks; nothing else outside the two alphabets is accepted.
    text = value.replace("\r", "").replace("\n", "").replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "invalid base64"
        raise InputError(msg, where=where) from exc


def b64_items(values: list[Any], where: str) -> tuple[bytes, ...]:
    """Decode a list of proto3-JSON bytes, each as :func:`b64` would.

    The common case (every item standard, padded base64) is decoded in one
    pass; otherwise each item goes through :func:`b64`, which names it.
    """
    if all(type(value) is str and value for value in values):
        try:
            return tuple(binascii.a2b_base64(v, strict_mode=True) for v in values)
        except (binascii.Error, ValueError):
            pass
    return tuple(b64(v, f"{where}[{i}]") for i, v in enumerate(values))


def member_list(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    """An optional list member (absent or null is empty)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        msg = "expected a list"
        raise InputError(msg, where=f"{where}.{key}")
    return value
