"""The TOML policy file: which signers each image needs, checked before anything is read.

::

    version = 1

    [[rules]]
    match = ["ghcr.io/acme/**"]          # registry/repository globs
    threshold = 1                        # at least N of the signers below
    require_attestations = ["https://slsa.dev/provenance/v1"]
    each_platform = false                # every platform manifest signed too
    platforms = ["linux/amd64"]          # an index must carry these; others may be left out
    max_trust_age = "30d"                # trust stale at most this long
    insecure_ignore_tlog = false         # key signatures without a log entry
    annotations = { team = "release" }   # demanded in every signed payload (-a)
    annotations_on_attestations = false  # ... and in every attestation's statement
    trust = ["public-good", "github"]    # named trust roots the signers come from

      [[rules.signers]]
      identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
      issuer = "https://token.actions.githubusercontent.com"

      [[rules.signers]]
      key = "keys/release.pub"           # relative to the policy file

Rules are tried in order and the first whose ``match`` fits the image's
``registry/repository`` applies; an image no rule matches fails closed.
``*`` matches within one path component, ``**`` any number of components.

Fail closed, and never silently weaker: an unknown key, a wrong type, an empty
signer list, an empty value, a threshold above the signers, or a signer with
both a key and an identity is an input error naming the line (``tomllib``
gives no positions, so the line is found in the text). Parsing is pure: key
files are read by the caller (:meth:`PolicySpec.resolve`'s ``read_key``).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from appliance.core import extensions, keys
from appliance.core.archive.manifest import Platform
from appliance.core.deny import Denial, DenyList, parse_entry
from appliance.core.errors import InputError, Reason
from appliance.core.pattern import compile_pattern
from appliance.core.policy import IdentityPolicy, KeyPolicy, Policy
from appliance.core.predicates import PredicateCheck, parse_check

if TYPE_CHECKING:
    from collections.abc import Callable

_TOP = frozenset({"version", "rules", "deny", "revocation_keys", "max_revocation_age"})
_RULE = frozenset(
    {
        "match",
        "signers",
        "threshold",
        "require_attestations",
        "each_platform",
        "max_trust_age",
        "insecure_ignore_tlog",
        "annotations",
        "annotations_on_attestations",
        "platforms",
        "trust",
        "predicates",
    }
)
DEFAULT_TRUST = ("public-good",)
# The held-root name grammar (appliance/trust/held.py), checked here so a
# policy naming an impossible root is an input error with its line.
_TRUST_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# cosign's --certificate-github-workflow-* claims and their Fulcio OIDs.
GITHUB_CLAIMS = {
    "github_workflow_trigger": "2",
    "github_workflow_sha": "3",
    "github_workflow_name": "4",
    "github_workflow_repository": "5",
    "github_workflow_ref": "6",
}
_SIGNER = frozenset(
    {
        "identity",
        "identity_regexp",
        "issuer",
        "issuer_regexp",
        "key",
        *GITHUB_CLAIMS,
        *extensions.ALL_NAMES,
    }
)
_DURATION = re.compile(r"([0-9]{1,6})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str, *, where: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``: at most ten years.

    Raises:
        InputError: anything else.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        msg = f"expected a duration such as 30d, 12h or 2w, got {text[:40]!r}"
        raise InputError(msg, where=where, reason=Reason.USAGE)
    value = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if value > MAX_DURATION:
        msg = f"at most {MAX_DURATION.days} days"
        raise InputError(msg, where=where, reason=Reason.USAGE)
    return value


@functools.lru_cache(maxsize=4096)
def _literal_prefix(pattern: str) -> str:
    """The whole components before the first wildcard: any name the pattern matches starts with them.

    Literal characters match themselves, component by component, from the
    start, and ``**`` is only ever a whole component (holding ``*``).
    """
    for i, char in enumerate(pattern):
        if char in "*?[":
            # Up to the components before the wildcard's, without their
            # last "/": "a/**" matches "a" too (no component at all).
            return pattern[: max(pattern.rfind("/", 0, i), 0)]
    return pattern


def glob_matches(pattern: str, name: str) -> bool:
    """Whether ``registry/repository`` ``name`` fits ``pattern``.

    ``*`` (and ``?``, ``[...]``) match within one ``/``-separated component;
    ``**`` matches any number of components, none included.
    """
    if not name.startswith(_literal_prefix(pattern)):
        return False  # the common case with many rules: decided without a walk
    parts, names = pattern.split("/"), name.split("/")

    def walk(i: int, j: int) -> bool:
        if i == len(parts):
            return j == len(names)
        if parts[i] == "**":
            return any(walk(i + 1, k) for k in range(j, len(names) + 1))
        return (
            j < len(names)
            and fnmatch.fnmatchcase(names[j], parts[i])
            and walk(i + 1, j + 1)
        )

    return walk(0, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerSpec:
    """One allowed signer: an identity (and issuer), or a key file."""

    line: int
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    key: str | None = None
    claims: dict[str, str] = field(default_factory=dict)
    demands: tuple[extensions.Demand, ...] = ()

    def describe(self) -> str:
        """How a report names this signer."""
        if self.key is not None:
            return f"key {self.key}"
        who = self.identity or f"/{self.identity_regexp}/"
        return f"{who} ({self.issuer or f'/{self.issuer_regexp}/'})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """What images matching ``match`` need."""

    line: int
    match: tuple[str, ...]
    signers: tuple[SignerSpec, ...]
    threshold: int = 1
    require_attestations: tuple[str, ...] = ()
    each_platform: bool = False
    max_trust_age: timedelta | None = None
    insecure_ignore_tlog: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    annotations_on_attestations: bool = False
    # An index must carry these platforms; the others may have been left
    # out at export. Empty: every platform the index lists.
    platforms: tuple[Platform, ...] = ()
    # The named trust roots its signers come from (default: public-good, so
    # a policy written before named roots keeps its meaning); evidence
    # verifying only under another root does not count.
    trust: tuple[str, ...] = DEFAULT_TRUST
    trust_line: int = 0  # where ``trust`` is written (0: not written)
    # [[rules.predicates]]: checks over verified statements (core/predicates.py).
    predicates: tuple[PredicateCheck, ...] = ()

    def matches(self, name: str) -> bool:
        """Whether this rule applies to ``registry/repository`` ``name``."""
        return any(glob_matches(p, name) for p in self.match)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """A signer ready to verify with: its description and policy."""

    name: str
    policy: Policy


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedRule:
    """A rule whose signers are policies (keys loaded, patterns compiled)."""

    rule: Rule
    signers: tuple[Signer, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySpec:
    """A parsed, validated policy file."""

    rules: tuple[Rule, ...]
    source: str
    deny: tuple[Denial, ...] = ()  # [[deny]], key files not yet read
    # Keys (PEM files, relative to the policy) a revocation feed must verify
    # under to be applied; none: no feed is ever applied.
    revocation_keys: tuple[str, ...] = ()
    max_revocation_age: timedelta | None = None

    def deny_list(self, read_key: Callable[[str], bytes]) -> DenyList:
        """The ``[[deny]]`` entries, their key files read through ``read_key``.

        Raises:
            InputError: a key file that is not a PEM public key.
        """
        return DenyList(entries=tuple(d.resolve(read_key) for d in self.deny))

    def rule_for(self, name: str) -> Rule | None:
        """The first rule matching ``registry/repository`` ``name``, if any."""
        return next((r for r in self.rules if r.matches(name)), None)

    def resolve(self, read_key: Callable[[str], bytes]) -> tuple[ResolvedRule, ...]:
        """Each rule with its signers ready (keys read through ``read_key``).

        Raises:
            InputError: a key file that is not a public key, a bad pattern.
        """
        return tuple(
            ResolvedRule(
                rule=r,
                signers=tuple(_signer(s, read_key, self.source) for s in r.signers),
            )
            for r in self.rules
        )

    @classmethod
    def from_toml(cls, data: bytes, *, source: str) -> PolicySpec:
        """Parse and validate a policy file.

        Raises:
            InputError: not TOML, or anything the format does not allow,
                naming the line.
        """
        try:
            text = data.decode("utf-8")
            doc = tomllib.loads(text)
        except UnicodeDecodeError as exc:
            msg = "not UTF-8 text"
            raise InputError(msg, where=source) from exc
        except tomllib.TOMLDecodeError as exc:
            msg = f"not valid TOML ({exc})"
            raise InputError(msg, where=source, reason=Reason.USAGE) from exc
        lines = _Lines(text, source)
        _keys(doc, _TOP, lines, ())
        if doc.get("version", 1) != 1:
            lines.fail(
                ("version",),
                f"unknown policy version {doc.get('version')!r} (this appliance reads 1)",
            )
        rules = doc.get("rules")
        if not isinstance(rules, list) or not rules:
            lines.fail(
                ("rules",), "the policy has no [[rules]]: nothing would ever verify"
            )
        age = doc.get("max_revocation_age")
        if age is not None and not isinstance(age, str):
            lines.fail(
                ("max_revocation_age",),
                'max_revocation_age must be a duration such as "7d"',
            )
        feed_keys = doc.get("revocation_keys", [])
        if not isinstance(feed_keys, list) or not all(
            isinstance(k, str) and k for k in feed_keys
        ):
            lines.fail(
                ("revocation_keys",),
                "revocation_keys must be a list of PEM public key files",
            )
        if age is not None and not feed_keys:
            lines.fail(
                ("max_revocation_age",),
                "max_revocation_age needs revocation_keys: no feed could ever be fresh",
            )
        return cls(
            rules=tuple(_rule(r, i, lines) for i, r in enumerate(rules)),
            source=source,
            deny=_deny(doc.get("deny", []), lines),
            revocation_keys=tuple(feed_keys),
            max_revocation_age=None
            if age is None
            else parse_duration(
                age, where=f"{source}:{lines.line(('max_revocation_age',))}"
            ),
        )


class _Lines:
    """Finds the line of a key in the policy text (tomllib keeps no positions)."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.entries: list[tuple[tuple[str | int, ...], int]] = []
        table: tuple[str | int, ...] = ()
        counts: dict[tuple[str, ...], int] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if line.startswith("[["):
                name = tuple(line.strip("[] ").split("."))
                counts[name] = counts.get(name, -1) + 1
                # [[rules.signers]] belongs to the latest [[rules]].
                prefix: list[str | int] = []
                for depth in range(1, len(name) + 1):
                    prefix += [name[depth - 1], counts.get(name[:depth], 0)]
                table = tuple(prefix)
                if name == ("rules",):
                    counts.pop(("rules", "signers"), None)
                    counts.pop(("rules", "predicates"), None)
                self.entries.append((table, number))
                continue
            key = re.match(r"([A-Za-z0-9_-]+)\s*=", line)
            if key:
                self.entries.append(((*table, key.group(1)), number))
                for inner in re.findall(r"[{,]\s*([A-Za-z0-9_-]+)\s*=", line):
                    self.entries.append(((*table, key.group(1), inner), number))

    def line(self, path: tuple[str | int, ...]) -> int:
        best = 0
        for entry, number in self.entries:
            plain = tuple(p for p in entry if isinstance(p, str))
            want = tuple(p for p in path if isinstance(p, str))
            if entry == path[: len(entry)] or (plain == want and not best):
                best = number
        return best

    def fail(self, path: tuple[str | int, ...], message: str) -> NoReturn:
        line = self.line(path)
        where = f"{self.source}:{line}" if line else self.source
        raise InputError(message, where=where, reason=Reason.USAGE)


def _keys(
    obj: dict[str, Any],
    allowed: frozenset[str],
    lines: _Lines,
    path: tuple[str | int, ...],
) -> None:
    for key in obj:
        if key not in allowed:
            lines.fail(
                (*path, key),
                f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})",
            )


def _string(value: object, lines: _Lines, path: tuple[str | int, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        lines.fail(path, f"{path[-1]} must be a string")
    if not value:
        lines.fail(path, f"{path[-1]} is empty: an empty value names no one")
    return str(value)


def _rule(raw: object, index: int, lines: _Lines) -> Rule:
    path: tuple[str | int, ...] = ("rules", index)
    if not isinstance(raw, dict):
        lines.fail(path, "each [[rules]] entry must be a table")
    rule: dict[str, Any] = raw  # checked just above
    _keys(rule, _RULE, lines, path)
    match = rule.get("match")
    if (
        not isinstance(match, list)
        or not match
        or not all(isinstance(m, str) and m for m in match)
    ):
        lines.fail(
            (*path, "match"),
            "match must be a non-empty list of registry/repository patterns",
        )
    signers = rule.get("signers")
    if not isinstance(signers, list) or not signers:
        lines.fail(
            (*path, "signers"),
            "a rule needs at least one [[rules.signers]]: an empty list would pass anything",
        )
    parsed = tuple(_signer_spec(s, index, i, lines) for i, s in enumerate(signers))
    threshold = rule.get("threshold", 1)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int)
        or not 1 <= threshold <= len(parsed)
    ):
        lines.fail(
            (*path, "threshold"),
            f"threshold must be an integer from 1 to the number of signers ({len(parsed)})",
        )
    attestations = rule.get("require_attestations", [])
    if not isinstance(attestations, list) or not all(
        isinstance(a, str) and a for a in attestations
    ):
        lines.fail(
            (*path, "require_attestations"),
            "require_attestations must be a list of predicate type URIs",
        )
    for flag in (
        "each_platform",
        "insecure_ignore_tlog",
        "annotations_on_attestations",
    ):
        if not isinstance(rule.get(flag, False), bool):
            lines.fail((*path, flag), f"{flag} must be true or false")
    age = rule.get("max_trust_age")
    if age is not None and not isinstance(age, str):
        lines.fail(
            (*path, "max_trust_age"), 'max_trust_age must be a duration such as "30d"'
        )
    annotations = rule.get("annotations", {})
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) and v for v in annotations.values()
    ):
        lines.fail(
            (*path, "annotations"), "annotations must map names to non-empty strings"
        )
    return Rule(
        line=lines.line(path),
        match=tuple(match),
        signers=parsed,
        threshold=threshold,
        require_attestations=tuple(attestations),
        each_platform=rule.get("each_platform", False),
        max_trust_age=None
        if age is None
        else parse_duration(
            age, where=f"{lines.source}:{lines.line((*path, 'max_trust_age'))}"
        ),
        insecure_ignore_tlog=rule.get("insecure_ignore_tlog", False),
        annotations=dict(annotations),
        annotations_on_attestations=rule.get("annotations_on_attestations", False),
        platforms=_platforms(rule.get("platforms", []), lines, (*path, "platforms")),
        trust=_trust(rule.get("trust", list(DEFAULT_TRUST)), lines, (*path, "trust")),
        trust_line=lines.line((*path, "trust")) if "trust" in rule else 0,
        predicates=_predicates(rule.get("predicates", []), lines, path),
    )


def _predicates(
    value: object, lines: _Lines, rule: tuple[str | int, ...]
) -> tuple[PredicateCheck, ...]:
    if not isinstance(value, list):
        lines.fail(
            (*rule, "predicates"), "predicates must be [[rules.predicates]] tables"
        )
    checks = []
    for i, raw in enumerate(value):
        path = (*rule, "predicates", i)
        if not isinstance(raw, dict):
            lines.fail(path, "each [[rules.predicates]] entry must be a table")
        line = lines.line(path)
        where = f"{lines.source}:{line}" if line else lines.source
        checks.append(
            parse_check(
                raw,
                line=line,
                where=where,
                duration=functools.partial(parse_duration, where=where),
                pattern=functools.partial(compile_pattern, where=where),
            )
        )
    return tuple(checks)


def _trust(
    value: object, lines: _Lines, path: tuple[str | int, ...]
) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(n, str) and _TRUST_NAME.fullmatch(n) for n in value)
    ):
        lines.fail(
            path,
            'trust must be a non-empty list of trust root names such as ["public-good", "github"]',
        )
    if len(set(value)) != len(value):
        lines.fail(path, "trust names a root twice")
    return tuple(value)


def _deny(raw: object, lines: _Lines) -> tuple[Denial, ...]:
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        lines.fail(("deny",), "deny must be [[deny]] tables")
    found = []
    for index, entry in enumerate(raw):

        def fail(key: str, message: str, index: int = index) -> NoReturn:
            lines.fail(("deny", index, key), message)

        found.append(
            parse_entry(
                entry,
                where=f"{lines.source}:{lines.line(('deny', index))}",
                fail=fail,
                key_files=True,
            )
        )
    return tuple(found)


def _platforms(
    value: object, lines: _Lines, path: tuple[str | int, ...]
) -> tuple[Platform, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        lines.fail(
            path, 'platforms must be a list such as ["linux/amd64", "linux/arm64/v8"]'
        )
    parsed = []
    for text in value:
        try:
            parsed.append(Platform.parse(text))
        except InputError:
            lines.fail(
                path, f"platform {text[:40]!r} is not OS/ARCH or OS/ARCH/VARIANT"
            )
    return tuple(parsed)


def _signer_spec(raw: object, rule: int, index: int, lines: _Lines) -> SignerSpec:
    path: tuple[str | int, ...] = ("rules", rule, "signers", index)
    if not isinstance(raw, dict):
        lines.fail(path, "each signer must be a table")
    signer: dict[str, Any] = raw  # checked just above
    _keys(signer, _SIGNER, lines, path)
    demands: list[extensions.Demand] = []
    for name in sorted(extensions.ALL_NAMES & signer.keys()):
        at = lines.line((*path, name))
        demands += extensions.demands(
            name, signer.pop(name), where=f"{lines.source}:{at}" if at else lines.source
        )
    values = {k: _string(v, lines, (*path, k)) for k, v in signer.items()}
    identity = values.get("identity"), values.get("identity_regexp")
    issuer = values.get("issuer"), values.get("issuer_regexp")
    claims = {k: str(values[k]) for k in GITHUB_CLAIMS if values.get(k)}
    if values.get("key") is not None:
        if any(identity) or any(issuer) or claims or demands:
            lines.fail(
                path,
                "a signer is a key or an identity, not both (GitHub claims are certificate extensions)",
            )
    else:
        if sum(v is not None for v in identity) != 1:
            lines.fail(
                path,
                "a signer needs exactly one of identity and identity_regexp (or a key)",
            )
        if sum(v is not None for v in issuer) != 1:
            lines.fail(path, "a signer needs exactly one of issuer and issuer_regexp")
    return SignerSpec(
        line=lines.line(path),
        identity=identity[0],
        identity_regexp=identity[1],
        issuer=issuer[0],
        issuer_regexp=issuer[1],
        key=values.get("key"),
        claims=claims,
        demands=tuple(demands),
    )


def _signer(spec: SignerSpec, read_key: Callable[[str], bytes], source: str) -> Signer:
    where = f"{source}:{spec.line}"
    if spec.key is not None:
        return Signer(
            name=spec.describe(),
            policy=KeyPolicy(key=keys.load_pem(read_key(spec.key), where=where)),
        )
    return Signer(
        name=spec.describe(),
        policy=IdentityPolicy(
            identity=spec.identity,
            identity_regexp=None
            if spec.identity_regexp is None
            else compile_pattern(spec.identity_regexp, where=where),
            issuer=spec.issuer,
            issuer_regexp=None
            if spec.issuer_regexp is None
            else compile_pattern(spec.issuer_regexp, where=where),
            extensions={GITHUB_CLAIMS[k]: v for k, v in spec.claims.items()},
            demands=spec.demands,
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSpec:
    """A revocation feed's source (``bundle-tools revocations sign FILE.toml``).

    ::

    publisher = "site-security"
    version = 7                      # higher than every feed published before
    issued = 2026-12-01T09:00:00Z    # optional: the signing tool's clock

    [[deny]]                         # as in a policy file
    digest = "sha256:..."
    reason = "CVE-2026-1234: malicious build"
    """

    publisher: str
    version: int
    issued: datetime | None
    deny: tuple[Denial, ...]

    @classmethod
    def from_toml(cls, data: bytes, *, source: str) -> FeedSpec:
        """Parse and validate a feed source, naming the line of any fault.

        Raises:
            InputError: not TOML, an unknown key, a bad entry.
        """
        try:
            text = data.decode("utf-8")
            doc = tomllib.loads(text)
        except UnicodeDecodeError as exc:
            msg = "not UTF-8 text"
            raise InputError(msg, where=source) from exc
        except tomllib.TOMLDecodeError as exc:
            msg = f"not valid TOML ({exc})"
            raise InputError(msg, where=source, reason=Reason.USAGE) from exc
        lines = _Lines(text, source)
        _keys(doc, frozenset({"publisher", "version", "issued", "deny"}), lines, ())
        publisher = _string(doc.get("publisher"), lines, ("publisher",))
        if publisher is None or not re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9._ -]{0,63}", publisher
        ):
            lines.fail(
                ("publisher",),
                "publisher: letters, digits, . _ - and spaces, at most 64",
            )
        version = doc.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            lines.fail(("version",), "version must be a positive integer")
        issued = doc.get("issued")
        if issued is not None and (
            not isinstance(issued, datetime) or issued.tzinfo is None
        ):
            lines.fail(("issued",), "issued must be a date-time with an offset")
        deny = _deny(doc.get("deny", []), lines)
        if not deny:
            lines.fail(("deny",), "a feed with no [[deny]] entries revokes nothing")
        return cls(publisher=publisher, version=version, issued=issued, deny=deny)


# The exporter's image-set file (bundle_tools.imageset) is validated the same
# way, with the same file:line errors.
LineFinder = _Lines
check_keys = _keys
