"""Revocation feeds: deny entries a party the operator trusts by key publishes, signed and versioned.

A feed crosses the gap in an archive (``bundle-tools export --revocations``)
or on its own (``appliance revocations import``) and is applied only when
its signature verifies under a key of the policy's ``revocation_keys``
(docs/revocation.md §2). The format::

    {
      "mediaType": "application/vnd.dev.airlock.revocations.v1+json",
      "payload": {
        "type": "https://airlock.dev/revocations/v1",
        "publisher": "site-security",
        "version": 7,
        "issued": "2026-12-01T09:00:00Z",
        "entries": [{"digest": "sha256:...", "reason": "..."}, ...]
      },
      "signatures": [{"keyid": "<hex SHA-256 of the SPKI>", "sig": "<base64>"}]
    }

Each signature is over the RFC 8785 (JCS) canonical bytes of ``payload``,
so the feed may be re-indented, re-ordered or carried inside another JSON
document (the export ledger) and still verify; the payload's ``type`` keeps
a signature made for one kind of document from being taken for another
(an approval signs :data:`appliance.core.approvals.APPROVAL_TYPE`). Entries
are the policy file's ``[[deny]]`` keys, with ``since`` an RFC 3339 UTC
string and keys named by ``key_id`` only. Pure: bytes and keys in, a
verified :class:`Feed` out.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import rfc8785

from appliance.core import _json, keys
from appliance.core.deny import Denial, DenyList, parse_entry
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MEDIA_TYPE = "application/vnd.dev.airlock.revocations.v1+json"
FEED_TYPE = "https://airlock.dev/revocations/v1"
MAX_FEED_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 10_000
MAX_SIGNATURES = 16
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_PUBLISHER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,63}")


def iso(when: datetime) -> str:
    """RFC 3339 UTC, to the second: how feeds write times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, where: str) -> datetime:
    """An RFC 3339 UTC time as :func:`iso` writes it.

    Raises:
        InputError: anything else.
    """
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        msg = "expected a UTC time such as 2026-12-01T09:00:00Z"
        raise InputError(msg, where=where)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        msg = "not a valid date and time"
        raise InputError(msg, where=where) from exc


def canonical(payload: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: RFC 8785 canonical JSON of ``payload``."""
    try:
        return rfc8785.dumps(dict(payload))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        msg = f"cannot be canonicalised (RFC 8785): {exc}"
        raise InputError(msg, where="payload") from exc


def signed_by(
    payload: Mapping[str, Any],
    signatures: object,
    trusted: Sequence[keys.PublicKey],
    *,
    where: str,
    data: bytes | None = None,
) -> tuple[bytes, ...]:
    """The ids of the ``trusted`` keys whose signature over ``payload`` verifies (each once).

    ``data``: the payload's canonical bytes, when the caller has them already.

    A signature by a key not in ``trusted``, or one that does not verify, is
    passed over: only what verifies counts. The caller decides how many are
    enough.

    Raises:
        InputError: ``signatures`` is not a list of ``{keyid, sig}``.
    """
    if not isinstance(signatures, list) or len(signatures) > MAX_SIGNATURES:
        msg = f"signatures must be a list of at most {MAX_SIGNATURES}"
        raise InputError(msg, where=where)
    data = canonical(payload) if data is None else data
    by_id = {keys.key_id(k): k for k in trusted}
    found: list[bytes] = []
    for i, raw in enumerate(signatures):
        entry = _json.obj(raw, f"{where}.signatures[{i}]")
        try:
            key_id = bytes.fromhex(
                _json.string(entry, "keyid", f"{where}.signatures[{i}]")
            )
        except ValueError as exc:
            msg = "keyid must be hex"
            raise InputError(msg, where=f"{where}.signatures[{i}]") from exc
        signature = _json.b64(entry.get("sig"), f"{where}.signatures[{i}].sig")
        key = by_id.get(key_id)
        if key is None or key_id in found:
            continue
        try:
            keys.verify(key, signature, data, what=where)
        except VerificationError:
            continue
        found.append(key_id)
    return tuple(found)


def sign_entry(key_id: bytes, signature: bytes) -> dict[str, str]:
    """One ``signatures`` member, as :func:`signed_by` reads it."""
    return {"keyid": key_id.hex(), "sig": base64.b64encode(signature).decode()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    """A verified revocation feed."""

    publisher: str
    version: int
    issued: datetime
    key_id: bytes  # the revocation key it verified under
    sha256: str  # hex, of the canonical payload: two feeds of one version differ by it
    deny: DenyList

    def describe(self) -> str:
        """How reports name it: publisher, version, date, key."""
        return (
            f"revocation feed {self.publisher} v{self.version} "
            f"of {iso(self.issued)} (key {self.key_id.hex()[:16]})"
        )


def document(data: bytes, *, where: str) -> dict[str, Any]:
    """A feed's outer object, parsed strictly (not yet verified).

    Raises:
        InputError: too large, not strict JSON, not a feed.
    """
    if len(data) > MAX_FEED_BYTES:
        msg = f"is {len(data)} bytes, over the {MAX_FEED_BYTES}-byte limit for a feed"
        raise InputError(msg, where=where)
    return _json.obj(_json.loads(data, what=where), where)


def verify_feed(
    doc: Mapping[str, Any],
    *,
    trusted: Sequence[keys.PublicKey],
    where: str,
) -> Feed:
    """Verify a feed's signature under one of ``trusted``, then read its entries.

    Raises:
        InputError: not a feed of this format (before any signature is checked).
        VerificationError: no key of ``trusted`` verifies it (``feed-untrusted``).
    """
    if doc.get("mediaType") != MEDIA_TYPE:
        msg = f"not a revocation feed (mediaType must be {MEDIA_TYPE})"
        raise InputError(msg, where=where)
    for key in doc:
        if key not in {"mediaType", "payload", "signatures"}:
            msg = f"unknown member {key[:40]!r}"
            raise InputError(msg, where=where)
    payload = _json.obj(doc.get("payload"), f"{where}.payload")
    if not trusted:
        msg = "the policy names no revocation_keys: no feed is applied"
        raise VerificationError(msg, reason=Reason.FEED_UNTRUSTED, where=where)
    data = canonical(payload)
    verified = signed_by(
        payload, doc.get("signatures"), trusted, where=where, data=data
    )
    if not verified:
        msg = "not signed by any key of the policy's revocation_keys"
        raise VerificationError(msg, reason=Reason.FEED_UNTRUSTED, where=where)
    return _read(
        payload,
        key_id=verified[0],
        sha256=hashlib.sha256(data).hexdigest(),
        where=where,
    )


def _read(payload: dict[str, Any], *, key_id: bytes, sha256: str, where: str) -> Feed:
    allowed = {"type", "publisher", "version", "issued", "entries"}
    for key in payload:
        if key not in allowed:
            msg = f"unknown member {key[:40]!r}"
            raise InputError(msg, where=f"{where}.payload")
    if payload.get("type") != FEED_TYPE:
        msg = f"payload type must be {FEED_TYPE}"
        raise InputError(msg, where=f"{where}.payload")
    publisher = _json.string(payload, "publisher", f"{where}.payload")
    if not _PUBLISHER.fullmatch(publisher):
        msg = "publisher: letters, digits, . _ - and spaces, at most 64"
        raise InputError(msg, where=f"{where}.payload")
    version = payload.get("version")
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not 1 <= version <= _json.MAX_SAFE_INTEGER
    ):
        msg = "version must be a positive integer"
        raise InputError(msg, where=f"{where}.payload")
    issued = parse_time(payload.get("issued"), f"{where}.payload.issued")
    raw = _json.member_list(payload, "entries", f"{where}.payload")
    if len(raw) > MAX_ENTRIES:
        msg = f"{len(raw)} entries, over the limit of {MAX_ENTRIES}"
        raise InputError(msg, where=f"{where}.payload")
    name = f"feed {publisher} v{version}"
    return Feed(
        publisher=publisher,
        version=version,
        issued=issued,
        key_id=key_id,
        sha256=sha256,
        deny=DenyList(entries=tuple(_entry(e, i, name) for i, e in enumerate(raw))),
    )


def _entry(raw: object, index: int, name: str) -> Denial:
    where = f"{name} entry {index}"
    entry = dict(_json.obj(raw, where))

    def fail(key: str, message: str) -> NoReturn:
        raise InputError(message, where=f"{where} ({key})")

    if "since" in entry:
        entry["since"] = parse_time(entry["since"], f"{where} (since)")
    return parse_entry(entry, where=where, fail=fail, key_files=False)


def entry_json(denial: Denial) -> dict[str, str]:
    """A deny entry as a feed writes it (keys by id, ``since`` as RFC 3339 UTC)."""
    out: dict[str, str] = {"reason": denial.reason}
    if denial.since is not None:
        out["since"] = iso(denial.since)
    if denial.digest is not None:
        out["digest"] = denial.digest
    if denial.identity is not None:
        policy = denial.identity
        named = {
            "identity": policy.identity,
            "identity_regexp": None
            if policy.identity_regexp is None
            else policy.identity_regexp.text,
            "issuer": policy.issuer,
            "issuer_regexp": None
            if policy.issuer_regexp is None
            else policy.issuer_regexp.text,
        }
        out.update({k: v for k, v in named.items() if v is not None})
    if denial.key_id is not None:
        out["key_id"] = denial.key_id.hex()
    if denial.log is not None:
        out["log"] = f"{denial.log[0].hex()}:{denial.log[1]}"
    if denial.serial is not None:
        out["certificate_serial"] = f"{denial.serial:x}"
    return out


def unsigned(
    *, publisher: str, version: int, issued: datetime, entries: Sequence[Denial]
) -> dict[str, Any]:
    """A feed's payload, ready to sign (:func:`canonical`)."""
    return {
        "type": FEED_TYPE,
        "publisher": publisher,
        "version": version,
        "issued": iso(issued),
        "entries": [entry_json(d) for d in entries],
    }
