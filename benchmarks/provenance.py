"""GitHub artifact attestations and provenance policy: the TSA-only bundle and the cost of many rules.

Two measurements (issue #22):

* per bundle, in process: the real GitHub-instance bundle (no log entry, one
  RFC 3161 timestamp) verified under GitHub's root, ours (``Bundle.from_bytes``
  + ``verify_bundle``) against sigstore-js's ``Verifier`` with the
  thresholds ``gh`` sets for that root, trust material built once on both
  sides, warmed up alike (benchmarks/js/verify_tsa_loop.js);
* policy overhead: 1,000 images judged the way ``verify`` judges each one
  (the first matching rule among the policy's, the bundle verified under
  the rule's roots, the signer's extension demands, the predicate rules
  over the verified statement), with a policy of 200 rules whose last one
  matches and carries four extension demands and four predicate rules,
  against one rule with none. The peer column is the one-rule run: the goal
  is the added time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.core.archive.verdict import Evidence, Site
from appliance.core.archive.verify import _predicates_met
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.policy import IdentityPolicy, Policy
from appliance.core.policyfile import PolicySpec, ResolvedRule
from appliance.core.trust import TrustMaterial, materials_from_bytes
from appliance.core.verifier import under_roots, verify_bundle

if TYPE_CHECKING:
    from appliance.core.report import VerificationResult

ROOT = Path(__file__).parents[1]
GH = ROOT / "tests" / "assets" / "vectors" / "github"
BUNDLE = GH / "actions-attest-build-provenance-attestation-13531551.sigstore.json"
DIGEST = "b03d18ed0a16864ef2d2e559c660159a2170b9d086a1f42f570b1679326b90e6"
PROBER = "https://github.com/actions/attest-build-provenance/.github/workflows/prober.yml@refs/heads/main"
ACTIONS = "https://token.actions.githubusercontent.com"
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
ORACLE = ROOT / "tests" / "oracle-js" / "node_modules"


def _roots() -> tuple[TrustMaterial, ...]:
    return materials_from_bytes(
        (GH / "trusted_root.jsonl").read_bytes(), source="gh", tuf_backed=False
    )


def tsa_only_per_bundle(n: int = 150) -> tuple[float, float]:
    """Milliseconds per bundle: ours, sigstore-js's (median of 3 runs of ``n``)."""
    github = _roots()[1]
    data = BUNDLE.read_bytes()
    artifact = Artifact.from_digest("sha256", bytes.fromhex(DIGEST))
    policy = IdentityPolicy(identity=PROBER, issuer=ACTIONS)

    def once() -> None:
        verify_bundle(
            Bundle.from_bytes(data),
            artifact=artifact,
            trust=github,
            policy=policy,
            now=NOW,
        )

    for _ in range(20):
        once()
    ours = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            once()
        ours.append((time.perf_counter() - start) * 1000 / n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "github.json"
        root.write_bytes((GH / "trusted_root.jsonl").read_bytes().splitlines()[1])
        theirs = []
        for _ in range(3):
            done = subprocess.run(
                [
                    "node",
                    str(ROOT / "benchmarks" / "js" / "verify_tsa_loop.js"),
                    str(BUNDLE),
                    str(root),
                    PROBER,
                    ACTIONS,
                    str(n),
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "NODE_PATH": str(ORACLE)},
            )
            theirs.append(float(done.stdout.strip()))
    return statistics.median(ours), statistics.median(theirs)


_SIGNER = """
  [[rules.signers]]
  identity = "{identity}"
  issuer = "{issuer}"
{extra}
"""
_DEMANDS = """  repo = "actions/attest-build-provenance"
  signer_workflow = "actions/attest-build-provenance/.github/workflows/prober.yml"
  source_ref = "refs/heads/main"
  deny_self_hosted_runners = true
"""
_PREDICATES = """
  [[rules.predicates]]
  type = "https://slsa.dev/provenance/v1"
  field = "builder.id"
  prefix = "https://github.com/actions/attest-build-provenance/"

  [[rules.predicates]]
  type = "https://slsa.dev/provenance/v1"
  field = "source.ref"
  one_of = ["refs/heads/main", "refs/heads/release"]

  [[rules.predicates]]
  type = "https://slsa.dev/provenance/v1"
  field = "source.repository"
  equals = "https://github.com/actions/attest-build-provenance"

  [[rules.predicates]]
  type = "https://slsa.dev/provenance/v1"
  field = "invocation.id"
  matches = "^https://github.com/actions/attest-build-provenance/actions/runs/[0-9]+/"
"""


def _policy(rules: int) -> str:
    text = ""
    for i in range(rules - 1):
        text += (
            f'[[rules]]\nmatch = ["other.example/team-{i}/**"]\ntrust = ["github"]\n'
        )
        text += _SIGNER.format(identity=f"https://x/{i}", issuer=ACTIONS, extra="")
    last = '[[rules]]\nmatch = ["ghcr.io/acme/**"]\ntrust = ["github", "public-good"]\n'
    extra = _DEMANDS if rules > 1 else ""
    last += _SIGNER.format(identity=PROBER, issuer=ACTIONS, extra=extra)
    return text + last + (_PREDICATES if rules > 1 else "")


def policy_overhead(images: int = 1000, rules: int = 200) -> tuple[float, float]:
    """Seconds for ``images`` judgements: with ``rules`` rules, and with one (median of 3 sums)."""
    held = {m.name: m for m in _roots()}
    data = BUNDLE.read_bytes()
    artifact = Artifact.from_digest("sha256", bytes.fromhex(DIGEST))
    site = Site(
        kind="attestation", form="sigstore-bundle", manifest="m", blob="b", subject="s"
    )
    names = [f"ghcr.io/acme/app-{i}" for i in range(images)]

    def judge(resolved: tuple[ResolvedRule, ...], name: str) -> float:
        start = time.perf_counter()
        chosen = next(r for r in resolved if r.rule.matches(name))
        trusts = tuple(held[n] for n in chosen.rule.trust)
        policy = chosen.signers[0].policy

        def verify(trust: TrustMaterial, policy: Policy = policy) -> VerificationResult:
            return verify_bundle(
                Bundle.from_bytes(data),
                artifact=artifact,
                trust=trust,
                policy=policy,
                now=NOW,
            )

        result = under_roots(trusts, verify)
        found = Evidence(
            site=site,
            verified=True,
            satisfies=(chosen.signers[0].name,),
            predicate_type=result.predicate_type,
            result=result,
        )
        _predicates_met(chosen.rule, [found], now=NOW)
        return time.perf_counter() - start

    def resolve(text: str) -> tuple[ResolvedRule, ...]:
        return PolicySpec.from_toml(text.encode(), source="bench.toml").resolve(
            lambda _: b""
        )

    many, one = resolve(_policy(rules)), resolve(_policy(1))
    for name in names[:20]:  # warm-up
        judge(one, name)
    with_many, with_one = [], []
    for _ in range(3):
        # Image by image, alternating: a machine shared with other work
        # slows both policies alike, which whole runs one after the other
        # do not guarantee.
        pair = [(judge(many, name), judge(one, name)) for name in names]
        with_many.append(sum(m for m, _ in pair))
        with_one.append(sum(o for _, o in pair))
    return statistics.median(with_many), statistics.median(with_one)
