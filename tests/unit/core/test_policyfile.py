"""The TOML policy file: what it accepts, and every way it refuses, naming the line."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core.errors import InputError, Reason
from appliance.core.policy import IdentityPolicy, KeyPolicy
from appliance.core.policyfile import PolicySpec, glob_matches, parse_duration

GOOD = """\
version = 1

[[rules]]
match = ["ghcr.io/acme/**", "registry.local:5000/app"]
threshold = 2
require_attestations = ["https://slsa.dev/provenance/v1"]
each_platform = true
max_trust_age = "30d"
annotations = { team = "release" }

  [[rules.signers]]
  identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
  issuer = "https://token.actions.githubusercontent.com"
  github_workflow_repository = "acme/app"

  [[rules.signers]]
  identity_regexp = "^ops@acme\\\\.example$"
  issuer_regexp = "^https://accounts\\\\.google\\\\.com$"

  [[rules.signers]]
  key = "keys/hsm.pub"

[[rules]]
match = ["**"]

  [[rules.signers]]
  key = "keys/hsm.pub"
"""


def _pem() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _parse(text: str) -> PolicySpec:
    return PolicySpec.from_toml(textwrap.dedent(text).encode(), source="policy.toml")


def test_a_full_policy_parses_into_rules() -> None:
    spec = _parse(GOOD)
    first, second = spec.rules
    assert first.line == 3
    assert first.match == ("ghcr.io/acme/**", "registry.local:5000/app")
    assert first.threshold == 2
    assert first.each_platform is True
    assert first.max_trust_age == timedelta(days=30)
    assert first.annotations == {"team": "release"}
    assert first.annotations_on_attestations is False
    assert first.platforms == ()
    assert [s.line for s in first.signers] == [11, 16, 20]
    assert first.signers[0].claims == {"github_workflow_repository": "acme/app"}
    assert first.signers[1].identity_regexp == "^ops@acme\\.example$"
    assert second.line == 23
    assert spec.rule_for("ghcr.io/acme/team/app") is first
    assert spec.rule_for("docker.io/library/alpine") is second


def test_platforms_and_attestation_annotations_parse() -> None:
    spec = _parse(
        BASE_RULE.format(
            rule='platforms = ["linux/amd64", "linux/arm64/v8"]\n'
            'annotations = { team = "release" }\nannotations_on_attestations = true',
            signer="",
        )
    )
    [rule] = spec.rules
    assert [str(p) for p in rule.platforms] == ["linux/amd64", "linux/arm64/v8"]
    assert rule.annotations_on_attestations is True


def test_resolve_reads_keys_relative_to_the_policy() -> None:
    pem = _pem()
    asked: list[str] = []

    def read_key(path: str) -> bytes:
        asked.append(path)
        return pem

    first, _ = _parse(GOOD).resolve(read_key)
    kinds = [type(s.policy) for s in first.signers]
    assert kinds == [IdentityPolicy, IdentityPolicy, KeyPolicy]
    assert asked == ["keys/hsm.pub", "keys/hsm.pub"]
    identity = first.signers[0].policy
    assert isinstance(identity, IdentityPolicy)
    assert identity.extensions == {"5": "acme/app"}


def test_a_key_file_that_is_not_a_key_names_the_signer_line() -> None:
    with pytest.raises(InputError) as caught:
        _parse(GOOD).resolve(lambda _: b"not a key")
    assert caught.value.where == "policy.toml:20"


def test_a_bad_pattern_names_the_signer_line() -> None:
    spec = _parse(
        """\
        [[rules]]
        match = ["**"]
          [[rules.signers]]
          identity_regexp = "(unclosed"
          issuer = "https://issuer"
        """
    )
    with pytest.raises(InputError) as caught:
        spec.resolve(lambda _: b"")
    assert caught.value.where == "policy.toml:3"


BASE_RULE = """\
[[rules]]
match = ["**"]
{rule}
  [[rules.signers]]
  identity = "a@b.example"
  issuer = "https://issuer.example"
{signer}
"""


@pytest.mark.parametrize(
    ("rule", "signer", "line", "words"),
    [
        ("requires_attestations = []", "", 3, "unknown key 'requires_attestations'"),
        (
            "threshold = 2",
            "",
            3,
            "threshold must be an integer from 1 to the number of signers (1)",
        ),
        ("threshold = 0", "", 3, "threshold must be"),
        ("threshold = true", "", 3, "threshold must be"),
        ("threshold = 1.0", "", 3, "threshold must be"),
        ('each_platform = "yes"', "", 3, "each_platform must be true or false"),
        (
            "insecure_ignore_tlog = 1",
            "",
            3,
            "insecure_ignore_tlog must be true or false",
        ),
        ("max_trust_age = 30", "", 3, "max_trust_age must be a duration"),
        ('max_trust_age = "30 days"', "", 3, "expected a duration"),
        ('max_trust_age = "9999d"', "", 3, "at most 3650 days"),
        (
            'require_attestations = "https://slsa.dev/provenance/v1"',
            "",
            3,
            "must be a list",
        ),
        ('require_attestations = [""]', "", 3, "must be a list"),
        (
            'annotations = { team = "" }',
            "",
            3,
            "annotations must map names to non-empty strings",
        ),
        ('annotations = ["team"]', "", 3, "annotations must map"),
        (
            'annotations_on_attestations = "yes"',
            "",
            3,
            "annotations_on_attestations must be true or false",
        ),
        ('platforms = "linux/amd64"', "", 3, "platforms must be a list"),
        ("platforms = [1]", "", 3, "platforms must be a list"),
        ('platforms = [""]', "", 3, "platforms must be a list"),
        ('platforms = ["linux"]', "", 3, "is not OS/ARCH or OS/ARCH/VARIANT"),
        ('platforms = ["linux/arm64/v8/x"]', "", 3, "is not OS/ARCH"),
        ('platforms = ["linux//v8"]', "", 3, "is not OS/ARCH"),
        ('trust = "github"', "", 3, "trust must be a non-empty list"),
        ("trust = []", "", 3, "trust must be a non-empty list"),
        ('trust = ["GitHub"]', "", 3, "trust must be a non-empty list"),
        ('trust = ["../x"]', "", 3, "trust must be a non-empty list"),
        ('trust = ["github", "github"]', "", 3, "trust names a root twice"),
        ("", '  identity_regex = "x"', 7, "unknown key 'identity_regex'"),
        ("", '  key = "k.pub"', 4, "a signer is a key or an identity, not both"),
        (
            "",
            '  identity_regexp = ".*"',
            4,
            "exactly one of identity and identity_regexp",
        ),
        ("", '  issuer_regexp = ".*"', 4, "exactly one of issuer and issuer_regexp"),
        ("", "  github_workflow_sha = 3", 7, "github_workflow_sha must be a string"),
    ],
)
def test_refusals_name_the_line(rule: str, signer: str, line: int, words: str) -> None:
    with pytest.raises(InputError) as caught:
        _parse(BASE_RULE.format(rule=rule, signer=signer))
    assert caught.value.reason is Reason.USAGE
    assert caught.value.where == f"policy.toml:{line}"
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 0, "the policy has no [[rules]]"),
        (
            "version = 2\n[[rules]]\nmatch=['**']\n[[rules.signers]]\nkey='k'\n",
            1,
            "unknown policy version 2",
        ),
        ("verson = 1\n", 1, "unknown key 'verson'"),
        ("rules = []\n", 1, "the policy has no [[rules]]"),
        ("[[rules]]\nmatch = ['**']\n", 1, "at least one [[rules.signers]]"),
        (
            "[[rules]]\nmatch = ['**']\nsigners = []\n",
            3,
            "at least one [[rules.signers]]",
        ),
        (
            "[[rules]]\nmatch = []\n[[rules.signers]]\nkey = 'k'\n",
            2,
            "match must be a non-empty list",
        ),
        (
            "[[rules]]\nmatch = '**'\n[[rules.signers]]\nkey = 'k'\n",
            2,
            "match must be a non-empty list",
        ),
        (
            "[[rules]]\nmatch = ['**']\n[[rules.signers]]\n",
            3,
            "exactly one of identity",
        ),
        (
            "[[rules]]\nmatch = ['**']\n[[rules.signers]]\nidentity = ''\nissuer = 'x'\n",
            4,
            "identity is empty",
        ),
        (
            "[[rules]]\nmatch = ['**']\n[[rules.signers]]\nkey = 'k'\n[[rules.signers]]\nkeys = 'k'\n",
            6,
            "unknown key 'keys'",
        ),
    ],
)
def test_document_refusals_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(InputError) as caught:
        _parse(text)
    assert caught.value.where == (f"policy.toml:{line}" if line else "policy.toml")
    assert words in caught.value.message


def test_the_second_rules_signer_is_found_on_its_own_line() -> None:
    text = GOOD.replace(
        '[[rules]]\nmatch = ["**"]\n\n  [[rules.signers]]\n  key = "keys/hsm.pub"',
        '[[rules]]\nmatch = ["**"]\n\n  [[rules.signers]]\n  kee = "keys/hsm.pub"',
    )
    with pytest.raises(InputError) as caught:
        _parse(text)
    assert caught.value.where == "policy.toml:27"


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe", b"[[rules]\n", b"rules = [[[", b"version = 1\nversion = 1\n"],
)
def test_not_toml_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError) as caught:
        PolicySpec.from_toml(data, source="policy.toml")
    assert caught.value.where == "policy.toml"


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("ghcr.io/acme/*", "ghcr.io/acme/app", True),
        ("ghcr.io/acme/*", "ghcr.io/acme/team/app", False),
        ("ghcr.io/acme/**", "ghcr.io/acme/team/app", True),
        ("ghcr.io/acme/**", "ghcr.io/acme", True),
        ("ghcr.io/acme/**", "ghcr.io/acmecorp/app", False),
        ("**/app", "registry.local:5000/team/app", True),
        ("**/app", "registry.local:5000/team/app2", False),
        ("**", "docker.io/library/alpine", True),
        ("*.example/app", "reg.example/app", True),
        ("*.example/app", "reg.example/app/more", False),
        ("ghcr.io/acme/app", "ghcr.io/acme/APP", False),
    ],
)
def test_globs(pattern: str, name: str, *, expected: bool) -> None:
    assert glob_matches(pattern, name) is expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, value: timedelta) -> None:
    assert parse_duration(text, where="x") == value


def test_rules_name_their_trust_roots_and_default_to_public_good() -> None:
    spec = _parse(
        BASE_RULE.format(rule='trust = ["github", "private-1"]', signer="")
        + BASE_RULE.format(rule="", signer="")
    )
    assert spec.rules[0].trust == ("github", "private-1")
    assert spec.rules[1].trust == ("public-good",)


@pytest.mark.parametrize(
    "text", ["", "d", "-1d", "1.5d", "1y", "1d2h", "1 d", "\uff11d"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError):
        parse_duration(text, where="x")


def test_readme_examples_parse(tmp_path: Path) -> None:
    """Every TOML block in README's policy section parses, and its keys resolve."""
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    # Only the policy section: other sections show other TOML files (image sets).
    section = readme.split("### Policy files", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```toml\n")[1:]]
    assert len(blocks) >= 3
    pem = _pem()
    for block in blocks:
        spec = PolicySpec.from_toml(block.encode(), source="README.md")
        assert spec.resolve(lambda _: pem)
