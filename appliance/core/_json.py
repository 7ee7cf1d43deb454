"""Strict JSON and proto3-JSON field readers for the core's parsers.

Duplicate object keys are refused: two parsers that pick different duplicates
see different documents, a classic way to sign one thing and verify another.
Every reader raises :class:`~appliance.core.errors.InputError` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from appliance.core.errors import InputError


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            msg = f"duplicate JSON key {key!r}"
            raise InputError(msg)
        result[key] = value
    return result


def loads(data: bytes, *, what: str) -> Any:  # noqa: ANN401 - JSON is untyped until read
    """Parse JSON bytes, refusing duplicate keys and non-UTF-8 text."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except InputError as exc:
        raise InputError(exc.message, where=what) from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        msg = f"not valid JSON ({type(exc).__name__}: {exc})"
        raise InputError(msg, where=what) from exc


def obj(value: object, where: str) -> dict[str, Any]:
    """Require a JSON object."""
    if not isinstance(value, dict):
        msg = "expected a JSON object"
        raise InputError(msg, where=where)
    return value


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
    parent: dict[str, Any], key: str, where: str, *, default: int | None = None
) -> int:
    """A proto3 int64: a decimal string or a JSON integer, never negative here."""
    value = parent.get(key)
    if value is None:
        if default is None:
            msg = "missing"
            raise InputError(msg, where=f"{where}.{key}")
        return default
    if isinstance(value, bool):
        msg = "expected an integer"
        raise InputError(msg, where=f"{where}.{key}")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        msg = f"expected a non-negative integer, got {value!r}"
        raise InputError(msg, where=f"{where}.{key}")
    if not 0 <= number < 2**63:
        msg = f"out of range: {number}"
        raise InputError(msg, where=f"{where}.{key}")
    return number


def b64(value: object, where: str, *, allow_empty: bool = False) -> bytes:
    """Decode proto3-JSON bytes: standard or URL-safe base64, padding optional."""
    if not isinstance(value, str) or (not value and not allow_empty):
        msg = "expected base64 text"
        raise InputError(msg, where=where)
    # Go's decoder (protojson) skips CR and LF, and real bundles carry MIME
    # line breaks; nothing else outside the two alphabets is accepted.
    text = value.replace("\r", "").replace("\n", "").replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "invalid base64"
        raise InputError(msg, where=where) from exc


def member_list(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    """An optional list member (absent or null is empty)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        msg = "expected a list"
        raise InputError(msg, where=f"{where}.{key}")
    return value
