"""RFC 7512 PKCS#11 URIs, parsed into values (pure: no module is loaded).

``pkcs11:token=T;object=O;id=%01?module-path=/lib.so&pin-source=file:/pin``.
Path attributes select a token and an object; query attributes say how to
reach them. As in cosign, ``slot-id`` wins over ``token`` and ``id`` over
``object``. A PIN given in ``pin-value`` is kept out of every ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from appliance.core.errors import InputError

_PATH_ATTRIBUTES = frozenset(
    {
        "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
        "library-version", "slot-id", "slot-description", "slot-manufacturer", "object", "id", "type",
    }
)  # fmt: skip
_QUERY_ATTRIBUTES = frozenset({"pin-source", "pin-value", "module-name", "module-path"})
_SAFE = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:[]@!$'()*+,="
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pkcs11Uri:
    """A parsed PKCS#11 URI."""

    token: str | None = None
    slot_id: int | None = None
    object: str | None = None
    id: bytes | None = None
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    module_path: str | None = None
    pin_source: str | None = None
    pin_value: str | None = field(default=None, repr=False)

    def require_token(self) -> None:
        """Raise unless a token is named (by label or slot id)."""
        if self.token is None and self.slot_id is None:
            raise InputError(
                "the key URI names no token: add token=LABEL (or slot-id=N)",
                where="--key",
            )

    def require_object(self) -> None:
        """Raise unless a key is named (by label or id)."""
        self.require_token()
        if self.object is None and self.id is None:
            raise InputError(
                "the key URI names no key: add object=LABEL (or id=%XX...)",
                where="--key",
            )

    def for_key(self, *, label: str, key_id: bytes) -> str:
        """The URI of a key on this URI's token (no PIN in it, ever)."""
        path = []
        if self.token is not None:
            path.append(f"token={quote(self.token, safe=_SAFE)}")
        if self.slot_id is not None:
            path.append(f"slot-id={self.slot_id}")
        path.append(f"object={quote(label, safe=_SAFE)}")
        path.append("id=" + "".join(f"%{b:02x}" for b in key_id))
        query = (
            f"?module-path={quote(self.module_path, safe=_SAFE + '/')}"
            if self.module_path
            else ""
        )
        return "pkcs11:" + ";".join(path) + query


def _attributes(
    part: str, allowed: frozenset[str], separator: str, kind: str
) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for item in filter(None, part.split(separator)):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"malformed {kind} attribute {name!r}", where="--key")
        if name not in allowed and not name.startswith("x-"):
            raise InputError(f"unknown {kind} attribute {name!r}", where="--key")
        if name in found:
            raise InputError(f"{kind} attribute {name!r} given twice", where="--key")
        found[name] = unquote_to_bytes(value)
    return found


def _text(value: bytes | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"attribute {name!r} is not UTF-8", where="--key") from exc


def parse(uri: str) -> Pkcs11Uri:
    """Parse a ``pkcs11:`` URI.

    Raises:
        InputError: not a PKCS#11 URI, or an attribute is unknown, repeated
            or malformed. The message never repeats a ``pin-value``.
    """
    if not uri.startswith("pkcs11:"):
        raise InputError("not a PKCS#11 URI (expected pkcs11:...)", where="--key")
    path, _, query = uri[len("pkcs11:") :].partition("?")
    attributes = _attributes(path, _PATH_ATTRIBUTES, ";", "path")
    queries = _attributes(query, _QUERY_ATTRIBUTES, "&", "query")
    slot_text = _text(attributes.get("slot-id"), "slot-id")
    if slot_text is not None and not slot_text.isdigit():
        raise InputError("slot-id must be a decimal number", where="--key")
    if "pin-value" in queries and "pin-source" in queries:
        raise InputError("give pin-value or pin-source, not both", where="--key")
    return Pkcs11Uri(
        token=_text(attributes.get("token"), "token"),
        slot_id=None if slot_text is None else int(slot_text),
        object=_text(attributes.get("object"), "object"),
        id=attributes.get("id"),
        manufacturer=_text(attributes.get("manufacturer"), "manufacturer"),
        serial=_text(attributes.get("serial"), "serial"),
        model=_text(attributes.get("model"), "model"),
        module_path=_text(queries.get("module-path"), "module-path"),
        pin_source=_text(queries.get("pin-source"), "pin-source"),
        pin_value=_text(queries.get("pin-value"), "pin-value"),
    )
