"""Deny entries: what the operator (or a trusted revocation feed) says no longer counts.

Sigstore has no revocation (a Fulcio certificate lives ten minutes and is
never revoked; a Rekor entry is forever), so an appliance that must stop
admitting a compromised signer or a malicious release is told so here,
from the operator's side only: a policy file's ``[[deny]]`` entries, or a
revocation feed that verified under a key the policy names
(:mod:`appliance.core.revocations`). Nothing in an archive is a deny entry
because it is there.

Each entry names one thing (docs/revocation.md §1):

``digest``
    an image (or platform manifest) digest. Undated: the image fails, however
    it is signed. Dated: signatures *about that digest* made at or after
    ``since`` do not count.
``identity`` / ``identity_regexp`` with ``issuer`` / ``issuer_regexp``
    a keyless signer, matched as the policy's signers are (cosign's exact
    SAN match or an RE2 search, and the OIDC issuer).
``key`` (a PEM file) or ``key_id``
    a signing key, by the SHA-256 of its SubjectPublicKeyInfo (the key id
    every report shows).
``log``
    ``"<log id hex>:<log index>"``: one Rekor entry, by the log's id (the
    SHA-256 of its key, as in the trusted root) and the entry's index.
``certificate_serial``
    a certificate serial number (hex, colons allowed, as ``openssl x509
    -serial`` prints it): the signing certificate's, or that of any CA
    certificate of the trusted chain it was validated to.

A denied signer's signatures do not count towards any threshold; the
report names the entry and its reason. ``since`` is judged by the
*verified* signing time (a log's integrated time or a timestamp
authority's stamp, the earliest), never the archive's word: a signature
with no verified time falls under every dated entry (fail closed: nothing
proves it was made before the compromise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, NoReturn

from appliance.core import keys
from appliance.core.errors import InputError, VerificationError
from appliance.core.pattern import compile_pattern
from appliance.core.policy import IdentityPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from appliance.core.report import VerificationResult

    Fail = Callable[[str, str], NoReturn]  # (key, message) -> raises

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HEX = re.compile(
    r"[0-9a-f]{1,64}"
)  # a serial is at most 20 octets (RFC 5280 §4.1.2.2)
_LOG = re.compile(r"([0-9a-f]{2,128}):([0-9]{1,19})")
# The keys an entry may hold, in the policy file and in a feed alike.
ENTRY_KEYS = frozenset(
    {
        "digest",
        "identity",
        "identity_regexp",
        "issuer",
        "issuer_regexp",
        "key",
        "key_id",
        "log",
        "certificate_serial",
        "reason",
        "since",
    }
)


class DenyKind(StrEnum):
    """What a deny entry names."""

    DIGEST = "digest"
    IDENTITY = "identity"
    KEY = "key"
    LOG = "log"
    CERTIFICATE_SERIAL = "certificate-serial"


@dataclass(frozen=True, slots=True, kw_only=True)
class Denial:
    """One deny entry, ready to match.

    ``where`` says where it came from (``policy.toml:12``, ``feed security
    v7 entry 2``): the report names it with its ``reason``.
    """

    kind: DenyKind
    where: str
    reason: str
    since: datetime | None = None
    digest: str | None = None
    identity: IdentityPolicy | None = None
    key_id: bytes | None = None
    key_file: str | None = None  # a policy's ``key``, until resolved
    log: tuple[bytes, int] | None = None
    serial: int | None = None

    def resolve(self, read_key: Callable[[str], bytes]) -> Denial:
        """The entry with its ``key`` file read (a key id from then on).

        Raises:
            InputError: the file is not a PEM public key (naming the entry).
        """
        if self.key_file is None:
            return self
        key = keys.load_pem(read_key(self.key_file), where=self.where)
        return replace(self, key_id=keys.key_id(key), key_file=None)

    def describe(self) -> str:
        """How the report names this entry: where it is, and why."""
        dated = "" if self.since is None else f", since {self.since:%Y-%m-%dT%H:%M:%SZ}"
        return f"deny entry {self.where} ({self.kind.value}{dated}): {self.reason}"

    def _applies_at(self, when: datetime | None) -> bool:
        # No verified time proves nothing about "before": it is denied.
        return self.since is None or when is None or when >= self.since

    def _names(self, result: VerificationResult, subject: str) -> bool:  # noqa: PLR0911 - one return per kind
        if self.kind is DenyKind.DIGEST:
            return subject == self.digest
        if self.kind is DenyKind.KEY:
            return result.key_id is not None and result.key_id == self.key_id
        if self.kind is DenyKind.LOG:
            return self.log in result.log_entries
        if self.kind is DenyKind.CERTIFICATE_SERIAL:
            return self.serial in result.certificate_serials
        if self.identity is None or result.identity is None:
            return False
        try:
            self.identity.verify(result.identity)
        except VerificationError:  # this entry names someone else
            return False
        return True

    def denies(self, result: VerificationResult, *, subject: str) -> bool:
        """Whether this entry denies a verified signature about ``subject``."""
        if self.kind is DenyKind.DIGEST and self.since is None:
            return False  # judged on the image itself (DenyList.image)
        return self._names(result, subject) and self._applies_at(result.signing_time)


def _keys_of(denial: Denial) -> list[object]:
    """The exact values ``denial`` is found under in :class:`DenyList`'s index (none: scanned)."""
    if denial.kind is DenyKind.DIGEST:
        return [("digest", denial.digest)]
    if denial.kind is DenyKind.KEY:
        return [("key", denial.key_id)]
    if denial.kind is DenyKind.LOG:
        return [("log", denial.log)]
    if denial.kind is DenyKind.CERTIFICATE_SERIAL:
        return [("serial", denial.serial)]
    policy = denial.identity
    if policy is not None and policy.identity is not None:
        return [("san", policy.identity)]
    return []  # a pattern: tried on every signature


@dataclass(frozen=True, slots=True, kw_only=True)
class DenyList:
    """Every deny entry in force: the policy's, then the applied feed's.

    Entries that name an exact value are indexed by it, so a signature is
    checked against a feed of thousands of entries by a few lookups; only
    identity patterns are tried one by one. The first entry (in order)
    that denies is the one reported.
    """

    entries: tuple[Denial, ...] = ()
    _index: dict[object, list[tuple[int, Denial]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _patterns: list[tuple[int, Denial]] = field(
        init=False, repr=False, compare=False, default_factory=list
    )

    def __post_init__(self) -> None:
        """Index the entries by the exact value each names."""
        for position, denial in enumerate(self.entries):
            found = _keys_of(denial)
            if not found:
                self._patterns.append((position, denial))
            for key in found:
                self._index.setdefault(key, []).append((position, denial))

    def image(self, digests: Iterable[str]) -> Denial | None:
        """The first undated digest entry naming one of ``digests`` (the image and its platforms)."""
        candidates = [
            (position, d)
            for digest in set(digests)
            for position, d in self._index.get(("digest", digest), ())
            if d.since is None
        ]
        return min(candidates, key=lambda c: c[0])[1] if candidates else None

    def signature(self, result: VerificationResult, *, subject: str) -> Denial | None:
        """The first entry denying this verified signature about ``subject``, if any."""
        keys_: list[object] = [("digest", subject)]
        if result.key_id is not None:
            keys_.append(("key", result.key_id))
        keys_ += [("log", entry) for entry in result.log_entries]
        keys_ += [("serial", serial) for serial in result.certificate_serials]
        if result.identity is not None:
            keys_ += [("san", san) for san in result.identity.sans]
        candidates = [c for key in keys_ for c in self._index.get(key, ())]
        candidates += self._patterns
        return next(
            (
                d
                for _, d in sorted(candidates, key=lambda c: c[0])
                if d.denies(result, subject=subject)
            ),
            None,
        )

    def __add__(self, other: DenyList) -> DenyList:
        """Both lists' entries, this one's first."""
        return DenyList(entries=(*self.entries, *other.entries))


NOTHING_DENIED = DenyList()


def _string(raw: Mapping[str, object], key: str, fail: Fail) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        fail(key, f"{key} must be a string")
    if not value:
        fail(key, f"{key} is empty: an empty value names nothing")
    return value


def parse_serial(text: str) -> int | None:
    """A certificate serial as ``openssl x509 -serial`` prints it (hex, colons allowed)."""
    cleaned = text.lower().removeprefix("0x").replace(":", "")
    if not _HEX.fullmatch(cleaned):
        return None
    return int(cleaned, 16)


def parse_entry(  # noqa: C901, PLR0912 - one branch per entry kind, each naming its fault
    raw: Mapping[str, object],
    *,
    where: str,
    fail: Fail,
    key_files: bool,
) -> Denial:
    """One entry (a ``[[deny]]`` table, or a feed's entry) as a :class:`Denial`.

    Pure: a policy's ``key`` (a PEM file, ``key_files``) is read later
    (:meth:`Denial.resolve`); a feed names keys by ``key_id`` only.

    Raises:
        InputError: through ``fail``: an unknown key, no or two things named,
            an empty or malformed value, a naive ``since``.
    """
    for key in raw:
        if key not in ENTRY_KEYS:
            fail(key, f"unknown key {key!r} (allowed: {', '.join(sorted(ENTRY_KEYS))})")
    values = {k: _string(raw, k, fail) for k in ENTRY_KEYS - {"since"} if k in raw}
    reason = values.get("reason")
    if reason is None:
        fail("reason", "a deny entry needs a reason: the report names it")
    since = raw.get("since")
    if since is not None and (not isinstance(since, datetime) or since.tzinfo is None):
        fail(
            "since",
            "since must be a date-time with an offset, such as 2026-11-30T00:00:00Z",
        )
    named = [
        kind
        for kind, present in (
            (DenyKind.DIGEST, "digest" in values),
            (DenyKind.IDENTITY, "identity" in values or "identity_regexp" in values),
            (DenyKind.KEY, "key" in values or "key_id" in values),
            (DenyKind.LOG, "log" in values),
            (DenyKind.CERTIFICATE_SERIAL, "certificate_serial" in values),
        )
        if present
    ]
    issuer_given = "issuer" in values or "issuer_regexp" in values
    if len(named) != 1:
        fail(
            "reason",
            "a deny entry names exactly one of: digest, identity (or identity_regexp), "
            "key (or key_id), log, certificate_serial",
        )
    kind = named[0]
    if issuer_given and kind is not DenyKind.IDENTITY:
        fail("issuer", "issuer belongs with identity or identity_regexp")
    denial = Denial(kind=kind, where=where, reason=str(reason), since=since)
    if kind is DenyKind.DIGEST:
        digest = str(values["digest"])
        if not _DIGEST.fullmatch(digest):
            fail("digest", "digest must be sha256: and 64 lowercase hex digits")
        return replace(denial, digest=digest)
    if kind is DenyKind.IDENTITY:
        return replace(denial, identity=_identity(values, where=where, fail=fail))
    if kind is DenyKind.KEY:
        return _key(denial, values, fail=fail, key_files=key_files)
    if kind is DenyKind.LOG:
        match = _LOG.fullmatch(str(values["log"]).lower())
        if match is None or len(match.group(1)) % 2:
            fail("log", 'log must be "<log id in hex>:<log index>"')
        return replace(denial, log=(bytes.fromhex(match.group(1)), int(match.group(2))))
    serial = parse_serial(str(values["certificate_serial"]))
    if serial is None:
        fail(
            "certificate_serial",
            "certificate_serial must be hex (colons allowed), as openssl x509 -serial prints it",
        )
    return replace(denial, serial=serial)


def _identity(
    values: Mapping[str, str | None], *, where: str, fail: Fail
) -> IdentityPolicy:
    identity, identity_re = values.get("identity"), values.get("identity_regexp")
    issuer, issuer_re = values.get("issuer"), values.get("issuer_regexp")
    if identity is not None and identity_re is not None:
        fail("identity", "give one of identity and identity_regexp, not both")
    if (issuer is None) == (issuer_re is None):
        fail(
            "identity",
            "an identity entry needs exactly one of issuer and issuer_regexp",
        )
    try:
        return IdentityPolicy(
            identity=identity,
            identity_regexp=None
            if identity_re is None
            else compile_pattern(identity_re, where=where),
            issuer=issuer,
            issuer_regexp=None
            if issuer_re is None
            else compile_pattern(issuer_re, where=where),
        )
    except InputError as exc:
        fail("identity" if identity_re is None else "identity_regexp", exc.message)


def _key(
    denial: Denial,
    values: Mapping[str, str | None],
    *,
    fail: Fail,
    key_files: bool,
) -> Denial:
    if values.get("key") is not None and values.get("key_id") is not None:
        fail("key", "give one of key and key_id, not both")
    if values.get("key_id") is None:
        if not key_files:
            fail(
                "key",
                "a feed names keys by key_id (the signing tool converts key files)",
            )
        return replace(denial, key_file=str(values["key"]))
    text = str(values["key_id"]).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        fail(
            "key_id",
            "key_id must be 64 hex digits (the SHA-256 of the key's SubjectPublicKeyInfo)",
        )
    return replace(denial, key_id=bytes.fromhex(text))
