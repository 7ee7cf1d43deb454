"""Predicate content rules: declarative, fail-closed checks over a *verified* in-toto statement.

A rule's ``[[rules.predicates]]`` entries each name a predicate type, a field
and one operator::

    [[rules.predicates]]
    type = "https://slsa.dev/provenance/v1"
    field = "builder.id"
    equals = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0"

    [[rules.predicates]]
    type = "https://cosign.sigstore.dev/attestation/vuln/v1"
    field = "scan_finished_on"
    max_age = "7d"

An image passes when, for each predicate type named, one verified
attestation of that type by a signer of the rule meets *every* entry of that
type. Values are read only from the statement whose signature verified
(never from an archive's annotations), and a field that is absent or of the
wrong kind fails the entry.

Named fields follow the specifications: SLSA provenance v1
(slsa.dev/spec/v1.0/provenance: ``runDetails.builder.id``,
``buildDefinition.buildType``, ``externalParameters``,
``resolvedDependencies``, ``runDetails.metadata``), SLSA provenance v0.2
(slsa.dev/provenance/v0.2: ``builder.id``, ``buildType``,
``invocation.configSource``, ``metadata``), SLSA verification summaries
(slsa.dev/spec/v1.0/verification_summary: ``verifier.id``, ``resourceUri``,
``policy.uri``, ``verificationResult``, ``verifiedLevels``, ``timeVerified``)
and cosign's vulnerability predicate (``scanner.uri``,
``metadata.scanFinishedOn``). Any other value is reachable by its JSON path
under ``predicate.`` (dots, and ``[N]`` for a list element). An unknown
field, operator or predicate type for a named field is an input error
naming the policy line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from appliance.core.pattern import Pattern

SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
VSA_V1 = "https://slsa.dev/verification_summary/v1"
VSA_V02 = "https://slsa.dev/verification_summary/v0.2"
VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"

OPERATORS = frozenset(
    {"equals", "not_equals", "one_of", "prefix", "matches", "contains", "max_age"}
)
_RAW_PATH = re.compile(r"predicate(\.[A-Za-z0-9_@$-]+|\[[0-9]{1,4}\])+")
_STEP = re.compile(r"\.([A-Za-z0-9_@$-]+)|\[([0-9]{1,4})\]")

_MISSING: Any = object()


def _get(doc: object, path: str) -> Any:  # noqa: ANN401 - JSON is untyped
    """The value at a dotted path (``a.b[0].c``) under ``doc``, or ``_MISSING``."""
    node: object = doc
    for name, index in _STEP.findall(path if path[:1] in {".", "["} else "." + path):
        if name:
            if not isinstance(node, dict) or name not in node:
                return _MISSING
            node = node[name]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
    return node


def _first(*values: object) -> Any:  # noqa: ANN401
    return next((v for v in values if v is not _MISSING), _MISSING)


def _git_uri(uri: object) -> tuple[object, object]:
    """``git+https://github.com/o/r@refs/tags/v1`` -> (``https://github.com/o/r``, ``refs/tags/v1``)."""
    if not isinstance(uri, str):
        return _MISSING, _MISSING
    bare = uri.removeprefix("git+")
    repository, sep, ref = bare.partition("@")
    return repository, (ref if sep else _MISSING)


def _v1_source(p: object) -> tuple[object, object]:
    workflow = _get(p, "buildDefinition.externalParameters.workflow")
    repo, ref = _git_uri(_get(p, "buildDefinition.resolvedDependencies[0].uri"))
    return (
        _first(_get(workflow, "repository"), repo),
        _first(_get(workflow, "ref"), ref),
    )


def _v02_source(p: object) -> tuple[object, object]:
    return _git_uri(_get(p, "invocation.configSource.uri"))


FIELDS: Mapping[str, Mapping[str, Callable[[object], Any]]] = {
    SLSA_V1: {
        "builder.id": lambda p: _get(p, "runDetails.builder.id"),
        "build_type": lambda p: _get(p, "buildDefinition.buildType"),
        "source.repository": lambda p: _v1_source(p)[0],
        "source.ref": lambda p: _v1_source(p)[1],
        "source.digest": lambda p: _first(
            _get(p, "buildDefinition.resolvedDependencies[0].digest.gitCommit"),
            _get(p, "buildDefinition.resolvedDependencies[0].digest.sha1"),
        ),
        "workflow.path": lambda p: _get(
            p, "buildDefinition.externalParameters.workflow.path"
        ),
        "invocation.id": lambda p: _get(p, "runDetails.metadata.invocationId"),
        "started_on": lambda p: _get(p, "runDetails.metadata.startedOn"),
        "finished_on": lambda p: _get(p, "runDetails.metadata.finishedOn"),
    },
    SLSA_V02: {
        "builder.id": lambda p: _get(p, "builder.id"),
        "build_type": lambda p: _get(p, "buildType"),
        "source.repository": lambda p: _v02_source(p)[0],
        "source.ref": lambda p: _v02_source(p)[1],
        "source.digest": lambda p: _get(p, "invocation.configSource.digest.sha1"),
        "workflow.path": lambda p: _get(p, "invocation.configSource.entryPoint"),
        "invocation.id": lambda p: _get(p, "metadata.buildInvocationId"),
        "started_on": lambda p: _get(p, "metadata.buildStartedOn"),
        "finished_on": lambda p: _get(p, "metadata.buildFinishedOn"),
    },
    VSA_V1: {
        "verifier.id": lambda p: _get(p, "verifier.id"),
        "resource_uri": lambda p: _get(p, "resourceUri"),
        "policy.uri": lambda p: _get(p, "policy.uri"),
        "result": lambda p: _get(p, "verificationResult"),
        "levels": lambda p: _get(p, "verifiedLevels"),
        "time_verified": lambda p: _get(p, "timeVerified"),
    },
    VULN: {
        "scanner.uri": lambda p: _get(p, "scanner.uri"),
        "scanner.version": lambda p: _get(p, "scanner.version"),
        "scan_finished_on": lambda p: _get(p, "metadata.scanFinishedOn"),
    },
}
FIELDS = {**FIELDS, VSA_V02: FIELDS[VSA_V1]}


@dataclass(frozen=True, slots=True, kw_only=True)
class PredicateCheck:
    """One ``[[rules.predicates]]`` entry: a field of a predicate type, an operator, a value."""

    line: int
    predicate_type: str
    field: str
    operator: str
    value: str | tuple[str, ...] | timedelta
    pattern: Pattern | None = None

    def describe(self) -> str:
        """``field operator value``, as the report shows it."""
        value = (
            f"{self.value.days}d"
            if isinstance(self.value, timedelta)
            else json.dumps(
                list(self.value) if isinstance(self.value, tuple) else self.value
            )
        )
        return f"{self.field} {self.operator} {value}"

    def read(self, predicate: object) -> Any:  # noqa: ANN401 - JSON is untyped
        """The field's value in ``predicate``, or ``_MISSING``."""
        if self.field.startswith("predicate"):
            return _get(predicate, self.field.removeprefix("predicate"))
        return FIELDS[self.predicate_type][self.field](predicate)

    def failure(self, predicate: object, *, now: datetime) -> str | None:
        """Why ``predicate`` does not meet this check, or None if it does."""
        found = self.read(predicate)
        if found is _MISSING:
            return f"{self.field} is absent"
        shown = json.dumps(found)[:120]
        ok: bool
        if self.operator == "contains":
            ok = isinstance(found, list) and self.value in found
        elif self.operator == "max_age":
            when = _time(found)
            if when is None:
                return f"{self.field} is not an RFC 3339 time: {shown}"
            assert isinstance(self.value, timedelta)  # noqa: S101 - parse guarantees it
            ok = when <= now and now - when <= self.value
        elif not isinstance(found, str):
            return f"{self.field} is not a string: {shown}"
        elif self.operator == "equals":
            ok = found == self.value
        elif self.operator == "not_equals":
            ok = found != self.value
        elif self.operator == "one_of":
            ok = isinstance(self.value, tuple) and found in self.value
        elif self.operator == "prefix":
            assert isinstance(self.value, str)  # noqa: S101 - parse guarantees it
            ok = found.startswith(self.value)
        else:  # matches
            ok = self.pattern is not None and self.pattern.search(found)
        return None if ok else f"{self.field} is {shown}"


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)  # 3.11+: "Z" included (RFC 3339)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def parse_check(  # noqa: C901, PLR0912 - one branch per operator, each named
    raw: Mapping[str, Any],
    *,
    line: int,
    where: str,
    duration: Callable[[str], timedelta],
    pattern: Callable[[str], Pattern],
) -> PredicateCheck:
    """A validated check from a ``[[rules.predicates]]`` table.

    Raises:
        InputError: an unknown key, field or operator; none or two
            operators; a value of the wrong kind.
    """

    def fail(message: str) -> InputError:
        return InputError(message, where=where, reason=Reason.USAGE)

    unknown = set(raw) - {"type", "field"} - OPERATORS
    if unknown:
        msg = f"unknown key {min(unknown)!r} in a predicate rule (allowed: type, field, and one of {', '.join(sorted(OPERATORS))})"
        raise fail(msg)
    kind = raw.get("type")
    field = raw.get("field")
    if not isinstance(kind, str) or not kind:
        msg = "a predicate rule needs type = the predicate type URI"
        raise fail(msg)
    if not isinstance(field, str) or not field:
        msg = "a predicate rule needs field = a named field or a predicate.<path>"
        raise fail(msg)
    if field.startswith("predicate"):
        if not _RAW_PATH.fullmatch(field):
            msg = f"field {field[:60]!r} is not a path such as predicate.a.b[0].c"
            raise fail(msg)
    elif field not in FIELDS.get(kind, {}):
        known = ", ".join(sorted(FIELDS.get(kind, {}))) or "none: use predicate.<path>"
        msg = f"unknown field {field[:60]!r} for {kind[:80]} (named fields: {known})"
        raise fail(msg)
    ops = [op for op in OPERATORS if op in raw]
    if len(ops) != 1:
        msg = f"a predicate rule needs exactly one operator ({', '.join(sorted(OPERATORS))})"
        raise fail(msg)
    op = ops[0]
    value = raw[op]
    compiled: Pattern | None = None
    parsed: str | tuple[str, ...] | timedelta
    if op == "one_of":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
        ):
            msg = "one_of must be a non-empty list of strings"
            raise fail(msg)
        parsed = tuple(value)
    elif not isinstance(value, str) or not value:
        msg = f"{op} must be a non-empty string"
        raise fail(msg)
    elif op == "max_age":
        parsed = duration(value)
    else:
        parsed = value
        if op == "matches":
            compiled = pattern(value)
    return PredicateCheck(
        line=line,
        predicate_type=kind,
        field=field,
        operator=op,
        value=parsed,
        pattern=compiled,
    )


def predicate_of(payload: bytes | None) -> object:
    """The ``predicate`` of a verified statement's payload (``_MISSING`` if none)."""
    if payload is None:
        return _MISSING
    try:
        doc = json.loads(payload)
    except ValueError:
        return _MISSING
    return doc.get("predicate", _MISSING) if isinstance(doc, dict) else _MISSING


def first_failure(
    checks: tuple[PredicateCheck, ...], predicate: object, *, now: datetime
) -> tuple[PredicateCheck, str] | None:
    """The first check ``predicate`` fails, with why; None if it meets them all."""
    for check in checks:
        why = check.failure(predicate, now=now)
        if why is not None:
            return check, why
    return None
