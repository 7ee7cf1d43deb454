"""Predicate content rules: every operator and named field, on real statements.

Statements: SLSA provenance v1 from GitHub's instance and from sigstore-js's
release, SLSA provenance v0.2 from sigstore-go's vectors (all real, see
tests/assets/vectors/README.md); a VSA and a vulnerability scan written here
after the SLSA and cosign specifications (no real ones were found). The
archive-level test judges evidence built from a real verification result,
so the values come from a statement whose signature verified. Negatives
first.
"""

from __future__ import annotations

import base64
import json
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest

from appliance.core.archive.verdict import Evidence, Site, Unmet
from appliance.core.archive.verify import _predicates_met
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError
from appliance.core.pattern import compile_pattern
from appliance.core.policy import IdentityPolicy
from appliance.core.policyfile import PolicySpec, parse_duration
from appliance.core.predicates import (
    FIELDS,
    SLSA_V02,
    SLSA_V1,
    VSA_V1,
    VULN,
    parse_check,
)
from appliance.core.trust import materials_from_bytes
from appliance.core.verifier import verify_bundle
from tests.helpers.vectors import VECTORS

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
GH = VECTORS / "github"
GITHUB_BUNDLE = (
    GH / "actions-attest-build-provenance-attestation-13531551.sigstore.json"
)
SIGSTORE_JS_V1 = (
    VECTORS
    / "attestations"
    / "sigstore-go"
    / "sigstore.js@2.0.0-provenance.sigstore.json"
)
SIGSTORE_JS_V02 = VECTORS / "attestations" / "sigstore-go" / "bundle-provenance.json"


def _predicate(path: Any) -> Any:
    payload = json.loads(path.read_text())["dsseEnvelope"]["payload"]
    return json.loads(base64.b64decode(payload))["predicate"]


GITHUB_V1 = _predicate(GITHUB_BUNDLE)
JS_V1 = _predicate(SIGSTORE_JS_V1)
JS_V02 = _predicate(SIGSTORE_JS_V02)
VSA = {
    "verifier": {"id": "https://airlock.example/appliance"},
    "timeVerified": "2026-10-30T12:00:00Z",
    "resourceUri": "oci://registry.gap:5000/acme/app@sha256:" + "ab" * 32,
    "policy": {"uri": "https://airlock.example/policy.toml"},
    "verificationResult": "PASSED",
    "verifiedLevels": ["SLSA_BUILD_LEVEL_3"],
}
SCAN = {
    "scanner": {"uri": "pkg:github/aquasecurity/trivy@0.50.0", "version": "0.50.0"},
    "metadata": {
        "scanStartedOn": "2026-10-28T11:00:00Z",
        "scanFinishedOn": "2026-10-28T11:05:00Z",
    },
}


def _check(kind: str, field: str, **op: Any) -> Any:
    return parse_check(
        {"type": kind, "field": field, **op},
        line=7,
        where="policy.toml:7",
        duration=lambda t: parse_duration(t, where="policy.toml:7"),
        pattern=lambda t: compile_pattern(t, where="policy.toml:7"),
    )


# (type, predicate, field, the value there)
TABLE: list[tuple[str, Any, str, Any]] = [
    (SLSA_V1, GITHUB_V1, "builder.id", "https://github.com/actions/attest-build-provenance/.github/workflows/prober.yml@refs/heads/main"),
    (SLSA_V1, GITHUB_V1, "build_type", "https://actions.github.io/buildtypes/workflow/v1"),
    (SLSA_V1, GITHUB_V1, "source.repository", "https://github.com/actions/attest-build-provenance"),
    (SLSA_V1, GITHUB_V1, "source.ref", "refs/heads/main"),
    (SLSA_V1, GITHUB_V1, "source.digest", "ba965ac88abfc6fa49344893ed19e5bf479a07d6"),
    (SLSA_V1, GITHUB_V1, "workflow.path", ".github/workflows/prober-github.yml"),
    (SLSA_V1, GITHUB_V1, "invocation.id", "https://github.com/actions/attest-build-provenance/actions/runs/19458472622/attempts/1"),
    (SLSA_V1, GITHUB_V1, "predicate.buildDefinition.internalParameters.github.runner_environment", "github-hosted"),
    (SLSA_V1, JS_V1, "builder.id", "https://github.com/actions/runner/github-hosted"),
    (SLSA_V1, JS_V1, "build_type", "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"),
    (SLSA_V1, JS_V1, "source.repository", "https://github.com/sigstore/sigstore-js"),
    (SLSA_V1, JS_V1, "source.digest", "f0b49a04e5a62250e0f60fb128004a73110fe311"),
    (SLSA_V1, JS_V1, "predicate.buildDefinition.resolvedDependencies[0].uri", "git+https://github.com/sigstore/sigstore-js@refs/heads/main"),
    (SLSA_V02, JS_V02, "builder.id", "https://github.com/actions/runner"),
    (SLSA_V02, JS_V02, "build_type", "https://github.com/npm/cli/gha/v2"),
    (SLSA_V02, JS_V02, "source.repository", "https://github.com/sigstore/sigstore-js"),
    (SLSA_V02, JS_V02, "source.ref", "refs/heads/main"),
    (SLSA_V02, JS_V02, "source.digest", "dae8bd8eb433a4147b4655c00fe73e0f22bc0fb1"),
    (SLSA_V02, JS_V02, "workflow.path", ".github/workflows/release.yml"),
    (SLSA_V02, JS_V02, "invocation.id", "4735384265-1"),
    (VSA_V1, VSA, "verifier.id", "https://airlock.example/appliance"),
    (VSA_V1, VSA, "resource_uri", VSA["resourceUri"]),
    (VSA_V1, VSA, "policy.uri", "https://airlock.example/policy.toml"),
    (VSA_V1, VSA, "result", "PASSED"),
    (VSA_V1, VSA, "time_verified", "2026-10-30T12:00:00Z"),
    (VULN, SCAN, "scanner.uri", "pkg:github/aquasecurity/trivy@0.50.0"),
    (VULN, SCAN, "scanner.version", "0.50.0"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "predicate", "field", "value"), TABLE)
def test_every_string_field_and_operator(
    kind: str, predicate: Any, field: str, value: str
) -> None:
    meets: list[dict[str, Any]] = [
        {"equals": value},
        {"not_equals": value + "x"},
        {"one_of": ["other", value]},
        {"prefix": value[: len(value) // 2]},
        {"matches": "^" + value[:3].replace(".", "\\.")},
    ]
    misses: list[dict[str, Any]] = [
        {"equals": value + "x"},
        {"equals": value.upper() if value.upper() != value else value + "X"},
        {"not_equals": value},
        {"one_of": ["other"]},
        {"prefix": value + "x"},
        {"matches": "^x-never-"},
    ]
    for op in misses:
        why = _check(kind, field, **op).failure(predicate, now=NOW)
        assert why is not None, op
        assert field in why, op
    for op in meets:
        assert _check(kind, field, **op).failure(predicate, now=NOW) is None, op


def test_every_named_field_is_in_the_table() -> None:
    tabled = {(k, f) for k, _, f, _ in TABLE}
    timed = {"started_on", "finished_on", "time_verified", "scan_finished_on", "levels"}
    for kind in (SLSA_V1, SLSA_V02, VSA_V1, VULN):
        for field in FIELDS[kind]:
            assert (kind, field) in tabled or field in timed, (kind, field)


def test_contains_reads_lists_only() -> None:
    assert _check(VSA_V1, "levels", contains="SLSA_BUILD_LEVEL_2").failure(VSA, now=NOW)
    assert _check(VSA_V1, "result", contains="PASSED").failure(VSA, now=NOW)
    assert (
        _check(VSA_V1, "levels", contains="SLSA_BUILD_LEVEL_3").failure(VSA, now=NOW)
        is None
    )


@pytest.mark.parametrize(
    ("kind", "predicate", "field", "age", "ok"),
    [
        (VULN, SCAN, "scan_finished_on", "7d", True),
        (VULN, SCAN, "scan_finished_on", "3d", False),
        (VSA_V1, VSA, "time_verified", "2d", True),
        (VSA_V1, VSA, "time_verified", "1d", False),
        (VSA_V1, VSA, "result", "7d", False),  # not a time
        (SLSA_V1, GITHUB_V1, "finished_on", "3650d", False),  # absent
        (SLSA_V02, JS_V02, "started_on", "3650d", False),  # absent
        (SLSA_V1, {"runDetails": {"metadata": {"startedOn": "2026-11-02T00:00:00Z"}}}, "started_on", "7d", False),  # future
        (SLSA_V1, {"runDetails": {"metadata": {"startedOn": "2026-10-31T00:00:00"}}}, "started_on", "7d", False),  # no zone
        (SLSA_V1, {"runDetails": {"metadata": {"finishedOn": "2026-10-31T00:00:00+00:00"}}}, "finished_on", "7d", True),
    ],
)  # fmt: skip
def test_max_age(kind: str, predicate: Any, field: str, age: str, ok: bool) -> None:
    assert (_check(kind, field, max_age=age).failure(predicate, now=NOW) is None) is ok


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"type": SLSA_V1, "field": "builder.id"}, "exactly one operator"),
        ({"type": SLSA_V1, "field": "builder.id", "equals": "a", "prefix": "a"}, "exactly one operator"),
        ({"type": SLSA_V1, "field": "builder.id", "startswith": "a"}, "unknown key 'startswith'"),
        ({"type": SLSA_V1, "field": "builder", "equals": "a"}, "unknown field 'builder'"),
        ({"type": SLSA_V1, "field": "verifier.id", "equals": "a"}, "unknown field"),
        ({"type": "https://example.com/custom", "field": "builder.id", "equals": "a"}, "use predicate.<path>"),
        ({"type": SLSA_V1, "field": "predicate..x", "equals": "a"}, "is not a path"),
        ({"type": SLSA_V1, "field": "predicate.a[x]", "equals": "a"}, "is not a path"),
        ({"type": SLSA_V1, "field": "predicates.a", "equals": "a"}, "is not a path"),
        ({"type": SLSA_V1, "equals": "a"}, "needs field"),
        ({"field": "builder.id", "equals": "a"}, "needs type"),
        ({"type": SLSA_V1, "field": "builder.id", "equals": ""}, "non-empty string"),
        ({"type": SLSA_V1, "field": "builder.id", "equals": 3}, "non-empty string"),
        ({"type": SLSA_V1, "field": "builder.id", "one_of": []}, "non-empty list"),
        ({"type": SLSA_V1, "field": "builder.id", "one_of": "a"}, "non-empty list"),
        ({"type": SLSA_V1, "field": "finished_on", "max_age": "a week"}, "expected a duration"),
        ({"type": SLSA_V1, "field": "builder.id", "matches": "(unclosed"}, ""),
    ],
)  # fmt: skip
def test_malformed_checks_are_input_errors(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_check(
            raw,
            line=7,
            where="policy.toml:7",
            duration=lambda t: parse_duration(t, where="policy.toml:7"),
            pattern=lambda t: compile_pattern(t, where="policy.toml:7"),
        )
    assert caught.value.where == "policy.toml:7"
    assert words in caught.value.message


POLICY = textwrap.dedent(
    """\
    [[rules]]
    match = ["**"]
    trust = ["github"]
      [[rules.signers]]
      identity_regexp = "^https://github.com/actions/attest-build-provenance/"
      issuer = "https://token.actions.githubusercontent.com"
      repo = "actions/attest-build-provenance"

      [[rules.predicates]]
      type = "https://slsa.dev/provenance/v1"
      field = "source.ref"
      equals = "refs/heads/main"

      [[rules.predicates]]
      type = "https://slsa.dev/provenance/v1"
      field = "builder.id"
      prefix = "https://github.com/actions/attest-build-provenance/"
    """
)


def test_policy_file_lines_of_predicate_rules() -> None:
    (rule,) = PolicySpec.from_toml(POLICY.encode(), source="policy.toml").rules
    assert [c.line for c in rule.predicates] == [9, 14]
    broken = POLICY.replace('field = "builder.id"', 'field = "builder.name"')
    with pytest.raises(InputError) as caught:
        PolicySpec.from_toml(broken.encode(), source="policy.toml")
    assert caught.value.where == "policy.toml:14"
    broken = POLICY.replace('equals = "refs/heads/main"', 'equal = "refs/heads/main"')
    with pytest.raises(InputError) as caught:
        PolicySpec.from_toml(broken.encode(), source="policy.toml")
    assert caught.value.where == "policy.toml:9"


def _evidence(
    policy_text: str = POLICY, *, satisfied: bool = True
) -> tuple[Any, list[Evidence]]:
    (rule,) = PolicySpec.from_toml(policy_text.encode(), source="policy.toml").resolve(
        lambda _: b""
    )
    roots = materials_from_bytes(
        (GH / "trusted_root.jsonl").read_bytes(), source="gh", tuf_backed=False
    )
    statement = json.loads(
        base64.b64decode(
            json.loads(GITHUB_BUNDLE.read_text())["dsseEnvelope"]["payload"]
        )
    )
    digest = statement["subject"][0]["digest"]["sha256"]
    result = verify_bundle(
        Bundle.from_bytes(GITHUB_BUNDLE.read_bytes()),
        artifact=Artifact.from_digest("sha256", bytes.fromhex(digest)),
        trust=roots[1],
        policy=rule.signers[0].policy,
        now=NOW,
    )
    assert isinstance(rule.signers[0].policy, IdentityPolicy)
    site = Site(
        kind="attestation", form="sigstore-bundle", manifest="m", blob="b", subject="s"
    )
    found = Evidence(
        site=site,
        verified=True,
        satisfies=(rule.signers[0].name,) if satisfied else (),
        predicate_type=result.predicate_type,
        result=result,
    )
    return rule.rule, [found]


def test_a_verified_attestation_that_misses_a_rule_fails_naming_its_line() -> None:
    rule, found = _evidence(POLICY.replace("refs/heads/main", "refs/tags/v1"))
    with pytest.raises(Unmet) as caught:
        _predicates_met(rule, found, now=NOW)
    assert "line 9" in caught.value.message
    assert "refs/heads/main" in caught.value.message


def test_an_attestation_of_no_counted_signer_meets_nothing() -> None:
    rule, found = _evidence(satisfied=False)
    with pytest.raises(Unmet) as caught:
        _predicates_met(rule, found, now=NOW)
    assert "no verified attestation" in caught.value.message


def test_no_attestation_of_the_type_meets_nothing() -> None:
    rule, _ = _evidence()
    with pytest.raises(Unmet):
        _predicates_met(rule, [], now=NOW)


def test_a_verified_attestation_meeting_every_rule_passes() -> None:
    rule, found = _evidence()
    _predicates_met(rule, found, now=NOW)
    aged = POLICY + textwrap.dedent(
        """
          [[rules.predicates]]
          type = "https://slsa.dev/provenance/v1"
          field = "predicate.runDetails.metadata.invocationId"
          matches = "/actions/runs/[0-9]+/attempts/1$"
        """
    )
    rule, found = _evidence(aged)
    _predicates_met(rule, found, now=NOW)
