"""Fulcio extensions as policy: every name, gh attestation verify's checks, on a real certificate.

The real GitHub-instance attestation (tests/assets/vectors/github) carries
OIDs .8-.22 for actions/attest-build-provenance's prober workflow; each named
demand is checked against it, matching and not. A self-hosted runner comes
from the local Sigstore stack (no real one was found). Negatives first.
"""

from __future__ import annotations

import base64
import json
import textwrap

import pytest
from cryptography import x509

from appliance.core import certs
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.extensions import NAMES, demands
from appliance.core.policy import IdentityPolicy
from appliance.core.policyfile import PolicySpec
from tests.helpers.sigstore_stack import DEFAULT_ISSUER, GitHubClaims, SigstoreStack
from tests.helpers.vectors import VECTORS

BUNDLE = (
    VECTORS
    / "github"
    / "actions-attest-build-provenance-attestation-13531551.sigstore.json"
)
PROBER = "https://github.com/actions/attest-build-provenance/.github/workflows/prober.yml@refs/heads/main"
ACTIONS = "https://token.actions.githubusercontent.com"


def _identity() -> certs.Identity:
    raw = json.loads(BUNDLE.read_text())["verificationMaterial"]["certificate"][
        "rawBytes"
    ]
    return certs.identity_of(x509.load_der_x509_certificate(base64.b64decode(raw)))


IDENTITY = _identity()


def _check(name: str, value: str | bool) -> None:
    IdentityPolicy(
        identity=PROBER, issuer=ACTIONS, demands=demands(name, value, where="t")
    ).verify(IDENTITY)


MATCHING: list[tuple[str, str | bool]] = [
    ("repo", "actions/attest-build-provenance"),
    ("repo", "https://github.com/actions/attest-build-provenance"),
    ("owner", "actions"),
    ("signer_workflow", "actions/attest-build-provenance/.github/workflows/prober.yml"),
    ("signer_workflow", PROBER),
    ("signer_workflow", PROBER.removeprefix("https://github.com/")),
    ("signer_repo", "actions/attest-build-provenance"),
    ("source_ref", "refs/heads/main"),
    ("source_digest", IDENTITY.extensions["13"]),
    ("deny_self_hosted_runners", True),
    ("deny_self_hosted_runners", False),
    *((name, IDENTITY.extensions[suffix]) for name, suffix in NAMES.items()),
]
DIFFERING: list[tuple[str, str | bool]] = [
    ("repo", "actions/attest-build-provenance-fork"),
    ("repo", "actions"),
    ("repo", "https://ghes.example/actions/attest-build-provenance"),
    ("owner", "action"),
    ("signer_workflow", "actions/attest-build-provenance/.github/workflows/prober"),
    (
        "signer_workflow",
        "actions/attest-build-provenance/.github/workflows/release.yml",
    ),
    ("signer_workflow", PROBER.removesuffix("main") + "release"),
    ("signer_repo", "actions/attest"),
    ("signer_repo", "actions/other"),
    ("source_ref", "refs/heads/mai"),
    ("source_ref", "refs/tags/v1"),
    ("source_digest", "0" * 40),
    *((name, IDENTITY.extensions[suffix] + "x") for name, suffix in NAMES.items()),
]


@pytest.mark.parametrize(("name", "value"), DIFFERING)
def test_a_differing_extension_is_refused(name: str, value: str) -> None:
    with pytest.raises(VerificationError) as caught:
        _check(name, value)
    assert caught.value.reason is Reason.POLICY_UNSATISFIED
    assert f"({name})" in caught.value.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("repository", "x"),
        ("repo", ""),
        ("repo", True),
        ("deny_self_hosted_runners", "yes"),
    ],
)
def test_bad_demands_are_input_errors(name: str, value: str | bool) -> None:
    with pytest.raises(InputError) as caught:
        demands(name, value, where="policy.toml:9")
    assert caught.value.where == "policy.toml:9"


def test_self_hosted_runner_is_refused_where_denied(
    sigstore_stack: SigstoreStack,
) -> None:
    from appliance.core.artifact import Artifact  # noqa: PLC0415
    from appliance.core.bundle import Bundle  # noqa: PLC0415
    from appliance.core.trust import TrustMaterial  # noqa: PLC0415
    from appliance.core.verifier import verify_bundle  # noqa: PLC0415

    data = b"built on a self-hosted runner\n"
    signed = sigstore_stack.sign_blob(
        data, identity="dev@airlock.test", github=GitHubClaims(runner="self-hosted")
    ).bundle()
    trust = TrustMaterial.from_bytes(
        sigstore_stack.trusted_root_json(), source="stack", tuf_backed=False
    )

    def verify(*, deny: bool) -> None:
        verify_bundle(
            Bundle.from_bytes(json.dumps(signed).encode()),
            artifact=Artifact(data),
            trust=trust,
            policy=IdentityPolicy(
                identity="dev@airlock.test",
                issuer=DEFAULT_ISSUER,
                demands=demands("deny_self_hosted_runners", value=deny, where="t"),
            ),
            now=sigstore_stack.now,
        )

    with pytest.raises(VerificationError) as caught:
        verify(deny=True)
    assert "'self-hosted'" in caught.value.message
    verify(deny=False)


@pytest.mark.parametrize(("name", "value"), MATCHING)
def test_a_matching_extension_passes(name: str, value: str | bool) -> None:
    _check(name, value)


def test_policy_signers_take_extensions_and_name_their_lines() -> None:
    text = textwrap.dedent(
        """\
        [[rules]]
        match = ["**"]
        trust = ["github"]
          [[rules.signers]]
          identity_regexp = "^https://github.com/actions/"
          issuer = "https://token.actions.githubusercontent.com"
          repo = "actions/attest-build-provenance"
          signer_workflow = "actions/attest-build-provenance/.github/workflows/prober.yml"
          deny_self_hosted_runners = true
          build_trigger = "schedule"
        """
    )
    (rule,) = PolicySpec.from_toml(text.encode(), source="policy.toml").resolve(
        lambda _: b""
    )
    (signer,) = rule.signers
    assert isinstance(signer.policy, IdentityPolicy)
    assert {d.name for d in signer.policy.demands} == {
        "repo",
        "signer_workflow",
        "deny_self_hosted_runners",
        "build_trigger",
    }
    signer.policy.verify(IDENTITY)
    for bad, line in (
        ('  deny_self_hosted_runners = "yes"', 9),
        ('  build_trigger = ""', 10),
        ('  repository = "x"', 11),
    ):
        broken = (
            text + bad + "\n"
            if line == 11
            else text.replace(text.splitlines()[line - 1], bad)
        )
        with pytest.raises(InputError) as caught:
            PolicySpec.from_toml(broken.encode(), source="policy.toml")
        assert caught.value.where == f"policy.toml:{line}", bad


def test_a_key_signer_cannot_demand_extensions() -> None:
    text = '[[rules]]\nmatch = ["**"]\n[[rules.signers]]\nkey = "k.pub"\nrepo = "a/b"\n'
    with pytest.raises(InputError, match="not both"):
        PolicySpec.from_toml(text.encode(), source="policy.toml")


def test_flags_carry_their_demands_into_the_policy() -> None:
    from appliance.actions.policy import SignerFlags, identity_policy  # noqa: PLC0415

    flags = SignerFlags(
        identity=PROBER,
        issuer=ACTIONS,
        demands=demands("repo", "actions/other", where="--repo"),
    )
    assert flags.identity_given
    with pytest.raises(VerificationError, match=r"\(repo\)"):
        identity_policy(flags).verify(IDENTITY)
    assert SignerFlags(demands=flags.demands).identity_given
