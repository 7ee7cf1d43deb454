r"""The one strict JSON reader for every untrusted document.

Bundles, trusted roots, TUF metadata, the appliance's own state, key files,
policy-adjacent documents and everything inside a transfer archive are read
through :func:`loads`. It refuses what Go's ``encoding/json`` and ``protojson``
would refuse, or what two parsers could read differently:

* duplicate object keys (two parsers picking different duplicates see
  different documents: a classic way to sign one thing and verify another);
* ``NaN``, ``Infinity`` and numbers that overflow a float (RFC 8259 §6 has no
  such values; Python accepts them by default);
* integers longer than :data:`MAX_INTEGER_DIGITS` digits (no field we read
  needs more; Python would otherwise spend quadratic time, or refuse with an
  exception of its own);
* lone UTF-16 surrogates in strings (``"\\ud800"``): valid JSON syntax, but
  not Unicode text, and fatal to anything that later encodes the string;
* nesting deeper than ``max_depth``, and text that is not UTF-8 (a byte-order
  mark included).

It lives in ``trustroot`` because that is the bottom of the import graph:
``trustroot``'s own model needs it, and it imports nothing of ours. It only
parses; field-level checks (types, ranges) belong to each document's reader.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_INTEGER_DIGITS = 32
DEFAULT_MAX_DEPTH = 64


class StrictJSONError(ValueError):
    """The bytes are not JSON this reader accepts; ``str()`` says why."""


# Every object any parse builds draws one number (``next`` is one C call,
# atomic under the GIL): a parse's draws bound the objects in its document
# from above (a parse in another thread only adds draws), without a scan of
# the text for "{" (_needs_tree_check).
_OBJECTS = itertools.count()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    next(_OBJECTS)
    result = dict(pairs)
    if len(result) == len(pairs):  # the common case, decided in C
        return result
    result = {}
    for key, value in pairs:
        if key in result:
            msg = f"duplicate JSON key {key[:60]!r}"
            raise StrictJSONError(msg)
        result[key] = value
    return result


def _sharing() -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """``_no_duplicates``, but equal objects of scalars (and lists of scalars) come back as one object.

    For a document that repeats itself (an export ledger lists the same
    evidence for every layer of every signature: 100,000 times at 10,000
    images), the parse holds one copy of each distinct object instead of
    every repeat: about 100 MB less at that size. The caller must not
    mutate what it gets (the ledger reader only reads it).
    """
    seen: dict[tuple[object, ...], dict[str, Any]] = {}

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = _no_duplicates(pairs)
        if len(pairs) > _SHARED_MEMBERS:
            return result
        # Flat: every member adds its name, its type and its value (a list:
        # its length, then each item's type and value), so that the key
        # costs a few pointers per member, never more than the object.
        key: list[object] = []
        for name, value in pairs:
            kind = type(value)
            if kind in _SCALARS:
                key += (name, kind, repr(value) if kind is float else value)
            elif (
                kind is list
                and len(value) <= _SHARED_MEMBERS
                and all(type(v) in _SCALARS for v in value)
            ):
                key += (name, list, len(value))
                for item in value:
                    kind = type(item)
                    key += (kind, repr(item) if kind is float else item)
            else:
                return result
        if len(seen) >= _SHARED_RECENT:
            seen.clear()
        return seen.setdefault(tuple(key), result)

    return hook


# type() in the key: 1, 1.0 and true are equal in Python, not in JSON;
# repr() for floats: 0.0 and -0.0 are equal in Python, not in JSON.
_SCALARS = frozenset({str, int, float, bool, type(None)})
# Only small objects (and lists) are shared: what repeats in our documents
# is small (an evidence entry: 8 members), and the key of a large one would
# cost as much as the object (a list of a million zeros, keyed item by item,
# took eleven times the parse's memory).
_SHARED_MEMBERS = 16
# The memo holds the keys of this many distinct objects at most, then starts
# again: repeats in our documents are near each other (one entry per layer
# of one manifest), and a document of distinct objects must not pay a key
# for each (that took three times the parse's memory).
_SHARED_RECENT = 4096


def _refuse_constant(name: str) -> Any:  # noqa: ANN401 - json's hook signature
    msg = f"{name} is not a JSON number"
    raise StrictJSONError(msg)


def _integer(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INTEGER_DIGITS:
        msg = f"integer of {digits} digits (at most {MAX_INTEGER_DIGITS} are accepted)"
        raise StrictJSONError(msg)
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        msg = f"number {text[:40]} is out of range"
        raise StrictJSONError(msg)
    return value


def _is_text(value: str) -> bool:
    """False for strings holding lone surrogates (not encodable as UTF-8)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_tree(doc: object, max_depth: int) -> None:
    # Iterative, so that the check itself cannot overflow the stack.
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not _is_text(node):
                msg = "string holds a lone UTF-16 surrogate"
                raise StrictJSONError(msg)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            msg = f"nested more than {max_depth} levels deep"
            raise StrictJSONError(msg)
        if isinstance(node, dict):
            for key, value in node.items():
                if not _is_text(key):
                    msg = "object key holds a lone UTF-16 surrogate"
                    raise StrictJSONError(msg)
                stack.append((value, depth + 1))
        else:
            stack.extend((value, depth + 1) for value in node)


# A lone surrogate can only arrive as a \uD800-\uDFFF escape: the text itself
# was strictly decoded from UTF-8, which cannot encode one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_HIGH_DIGITS = frozenset("89abcdefABCDEF")
# Backslashes looked at one by one before the regex takes the rest: a real
# document holds a handful (a checkpoint's "\n" escapes), a hostile one may
# hold millions, which the regex's one C pass handles in linear time.
_ESCAPES_BY_HAND = 32


def _has_surrogate_escape(text: str) -> bool:
    """``_SURROGATE_ESCAPE.search(text)``, decided without a scan where it can be.

    ``str.find`` of one character is a ``memchr``; the regex, or ``in`` of
    two characters, walk the text a character at a time (3-5 us on a
    10 KB bundle, every bundle: each holds a checkpoint's escapes, and Go
    writes its em dash as ``\u2014``).
    """
    i = text.find("\\")
    for _ in range(_ESCAPES_BY_HAND):
        if i < 0:
            return False
        if (
            text.startswith("u", i + 1)
            and text[i + 2 : i + 3] in ("d", "D")
            and text[i + 3 : i + 4] in _HIGH_DIGITS
        ):
            return True
        i = text.find("\\", i + 1)
    return i >= 0 and _SURROGATE_ESCAPE.search(text, i) is not None


def _more_brackets_than(text: str, limit: int) -> bool:
    """``text.count("[") > limit``, stopping at the first bracket past ``limit``.

    Each step is a ``memchr``; ``str.count`` of one character is not (3.5 us
    on a 10 KB bundle that holds five brackets).
    """
    i = -1
    for _ in range(max(limit, -1) + 1):
        i = text.find("[", i + 1)
        if i < 0:
            return False
    return True


def _needs_tree_check(text: str, max_depth: int, objects: int) -> bool:
    # The walk costs more than the parse; skip it when it cannot find
    # anything: no surrogate escape, and fewer containers than the depth cap
    # (``objects``: at least the objects parsed; every list opens with a
    # "[", and a "[" in a string only counts one more).
    return _more_brackets_than(text, max_depth - objects) or _has_surrogate_escape(text)


# One decoder for every plain parse: ``json.loads`` with hooks builds a new
# decoder and scanner on each call, which costs more than a bundle's objects.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_constant=_refuse_constant,
    parse_int=_integer,
    parse_float=_float,
)


def loads(
    data: bytes | bytearray, *, max_depth: int = DEFAULT_MAX_DEPTH, share: bool = False
) -> Any:  # noqa: ANN401 - JSON is untyped until read
    """Parse UTF-8 JSON bytes strictly.

    Args:
        data: the document's exact bytes.
        max_depth: the deepest nesting of arrays and objects accepted.
        share: equal flat objects come back as one (read-only) object
            (:func:`_sharing`): for large repetitive documents.

    Returns:
        The parsed value (dicts, lists, str, int, float, bool, None).

    Raises:
        StrictJSONError: anything this reader refuses (see the module doc).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text (byte {exc.start})"
        raise StrictJSONError(msg) from exc
    decoder = (
        json.JSONDecoder(
            object_pairs_hook=_sharing(),
            parse_constant=_refuse_constant,
            parse_int=_integer,
            parse_float=_float,
        )
        if share
        else _DECODER
    )
    if text.startswith("\ufeff"):
        # As json.loads says it: a byte-order mark is not JSON (RFC 8259 §8.1).
        msg = "not valid JSON (Unexpected UTF-8 BOM)"
        raise StrictJSONError(msg)
    first = next(_OBJECTS)
    try:
        doc = decoder.decode(text)
    except StrictJSONError:
        raise
    except RecursionError as exc:
        msg = f"nested more than {max_depth} levels deep"
        raise StrictJSONError(msg) from exc
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        msg = f"not valid JSON ({exc})"
        raise StrictJSONError(msg) from exc
    if _needs_tree_check(text, max_depth, next(_OBJECTS) - first - 1):
        _check_tree(doc, max_depth)
    return doc


def _camel(proto_name: str) -> str:
    head, *rest = proto_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class ProtoMessage:
    """The fields of one protobuf message, as proto3 JSON may spell them.

    A proto3 JSON parser accepts a field under its JSON name (lowerCamelCase)
    *and* under its original proto name (``tlog_entries`` for
    ``tlogEntries``). Reading only one spelling would silently ignore the
    other, so that ``dsse_envelope`` beside ``messageSignature`` passes as one
    member of a oneof where Go's ``protojson`` sees two. :meth:`read` maps
    both spellings to the JSON name and refuses a field given twice.

    Args:
        proto_names: the message's field names as the ``.proto`` file spells
            them (``tlog_entries``, or ``payloadType`` where the proto itself
            is camelCase).
    """

    def __init__(self, *proto_names: str) -> None:
        self._spellings: dict[str, str] = {}
        for name in proto_names:
            json_name = _camel(name)
            self._spellings[name] = json_name
            self._spellings[json_name] = json_name
        self._json_names = frozenset(self._spellings.values())

    def read(
        self, obj: dict[str, Any], *, where: str, ignore_unknown: bool = False
    ) -> dict[str, Any]:
        """Return ``obj``'s fields keyed by JSON name; ``null`` means absent.

        Args:
            obj: a parsed JSON object.
            where: the object's path, for messages.
            ignore_unknown: skip fields the message does not define (for
                documents whose schema grows, like trusted roots) instead of
                refusing them (``protojson``'s default, used for bundles).

        Raises:
            StrictJSONError: a field given twice, or an unknown field.
        """
        if obj.keys() <= self._json_names:
            # Every key a JSON name (the usual spelling): no key is unknown,
            # none can be a second spelling of another; only nulls drop. With
            # no null (the usual case), ``obj`` already is that mapping: no
            # copy (readers only read what this returns).
            if None not in obj.values():
                return obj
            return {k: v for k, v in obj.items() if v is not None}
        fields: dict[str, Any] = {}
        spellings = self._spellings
        for key, value in obj.items():
            name = spellings.get(key)
            if name is None:
                if ignore_unknown:
                    continue
                msg = f"{where}: unknown field {key[:60]!r}"
                raise StrictJSONError(msg)
            # A field has at most two spellings, and ``obj``'s keys are
            # unique: a proto-name key clashes exactly when its JSON name is
            # also a key (null or not).
            if key != name and name in obj:
                msg = f"{where}: field {name!r} is given twice (as {name!r} and its proto name)"
                raise StrictJSONError(msg)
            if value is not None:
                fields[name] = value
        return fields
