"""GitHub artifact attestations: the verification rule lives with the trust root.

A root with no transparency log (GitHub's instance: fulcio.githubapp.com,
timestamp.githubapp.com) demands one verified RFC 3161 timestamp and no log
entry; a root with logs (public-good) demands a counted entry, so the same
TSA-only bundle fails there. Roots come from ``gh attestation trusted-root``'s
JSON lines. Data: tests/assets/vectors/github (README there, provenance).
Negatives first.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import Reason, TrustRootError, VerificationError
from appliance.core.policy import IdentityPolicy
from appliance.core.report import TimeSource
from appliance.core.trust import TrustMaterial, materials_from_bytes
from appliance.core.verifier import under_roots, verify_bundle
from tests.helpers.vectors import PUBLIC_GOOD_ROOT, VECTORS

GITHUB_VECTORS = VECTORS / "github"
JSONL = GITHUB_VECTORS / "trusted_root.jsonl"
TSA_ONLY = (
    GITHUB_VECTORS
    / "actions-attest-build-provenance-attestation-13531551.sigstore.json"
)
TSA_ONLY_DIGEST = "b03d18ed0a16864ef2d2e559c660159a2170b9d086a1f42f570b1679326b90e6"
PUBLIC = (
    GITHUB_VECTORS
    / "actions-attest-build-provenance-attestation-13532655.sigstore.json"
)
PUBLIC_DIGEST = "bb030cb9e028ff6d4051f2103b3b08f7e3928aa80a7d3626cef6e2553dc714b8"
REUSABLE = GITHUB_VECTORS / "reusable-workflow-attestation.sigstore.json"
REUSABLE_ARTIFACT = GITHUB_VECTORS / "reusable-workflow-artifact"
PROBER = "https://github.com/actions/attest-build-provenance/.github/workflows/prober.yml@refs/heads/main"
ACTIONS = "https://token.actions.githubusercontent.com"
POLICY = IdentityPolicy(identity=PROBER, issuer=ACTIONS)
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JSONL.read_text().splitlines()]


def _root(doc: dict[str, Any], name: str = "test") -> TrustMaterial:
    (material,) = materials_from_bytes(
        json.dumps(doc).encode(), source=name, tuf_backed=False
    )
    return material


def _bundle(path: Any = TSA_ONLY, edit: Any = None) -> Bundle:
    doc = json.loads(path.read_text())
    if edit is not None:
        edit(doc)
    return Bundle.from_bytes(json.dumps(doc).encode())


def _digest(hexdigest: str = TSA_ONLY_DIGEST) -> Artifact:
    return Artifact.from_digest("sha256", bytes.fromhex(hexdigest))


def _verify(
    trust: TrustMaterial,
    bundle: Bundle | None = None,
    *,
    artifact: Artifact | None = None,
    policy: IdentityPolicy = POLICY,
) -> Any:
    return verify_bundle(
        bundle or _bundle(),
        artifact=artifact or _digest(),
        trust=trust,
        policy=policy,
        now=NOW,
    )


def _reason(trust: TrustMaterial, bundle: Bundle | None = None, **kw: Any) -> Reason:
    with pytest.raises(VerificationError) as caught:
        _verify(trust, bundle, **kw)
    return caught.value.reason


@pytest.fixture(scope="module")
def roots() -> dict[str, TrustMaterial]:
    found = materials_from_bytes(JSONL.read_bytes(), source="gh", tuf_backed=False)
    return {m.name: m for m in found}


# --- the TSA-only bundle: negatives -----------------------------------------


def test_tsa_only_bundle_fails_under_the_public_good_root(
    roots: dict[str, TrustMaterial],
) -> None:
    # Its stamp is from timestamp.githubapp.com, which public-good does not trust.
    assert _reason(roots["public-good"]) is Reason.TIMESTAMP_INVALID


def test_tsa_only_bundle_fails_under_the_sealed_public_good_snapshot() -> None:
    trust = TrustMaterial.from_bytes(
        PUBLIC_GOOD_ROOT.read_bytes(), source="snapshot", tuf_backed=False
    )
    assert _reason(trust) is Reason.TIMESTAMP_INVALID


def test_a_root_with_logs_still_demands_an_entry_even_if_its_tsa_vouches() -> None:
    # GitHub's CAs and TSAs plus public-good's logs: the rule follows the
    # logs, so the trusted stamp alone no longer stands for an entry.
    public, github = _lines()
    mixed = {**github, "tlogs": public["tlogs"], "ctlogs": public["ctlogs"]}
    assert _reason(_root(mixed)) is Reason.TLOG_ENTRY_MISSING


def test_without_its_timestamp_nothing_stands_for_the_log(
    roots: dict[str, TrustMaterial],
) -> None:
    def drop(doc: dict[str, Any]) -> None:
        del doc["verificationMaterial"]["timestampVerificationData"]

    assert _reason(roots["github"], _bundle(edit=drop)) is Reason.NO_VERIFIED_TIME


def test_a_stamp_over_other_bytes_is_refused(roots: dict[str, TrustMaterial]) -> None:
    def resign(doc: dict[str, Any]) -> None:
        sig = doc["dsseEnvelope"]["signatures"][0]
        raw = bytearray(base64.b64decode(sig["sig"]))
        raw[-1] ^= 1
        sig["sig"] = base64.b64encode(bytes(raw)).decode()

    # The DSSE signature no longer verifies: refused before the stamp.
    assert _reason(roots["github"], _bundle(edit=resign)) is Reason.SIGNATURE_INVALID


def test_a_damaged_stamp_is_refused(roots: dict[str, TrustMaterial]) -> None:
    def damage(doc: dict[str, Any]) -> None:
        stamps = doc["verificationMaterial"]["timestampVerificationData"][
            "rfc3161Timestamps"
        ]
        raw = bytearray(base64.b64decode(stamps[0]["signedTimestamp"]))
        raw[len(raw) // 2] ^= 0xFF
        stamps[0]["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()

    assert _reason(roots["github"], _bundle(edit=damage)) is Reason.TIMESTAMP_INVALID


def test_github_root_without_its_tsas_verifies_nothing() -> None:
    _, github = _lines()
    assert _reason(_root({**github, "timestampAuthorities": []})) is (
        Reason.TIMESTAMP_INVALID
    )


def test_github_root_without_its_cas_verifies_nothing() -> None:
    _, github = _lines()
    bare = {**github, "certificateAuthorities": []}
    assert _reason(_root(bare)) is Reason.CHAIN_UNTRUSTED


def test_wrong_workflow_is_refused(roots: dict[str, TrustMaterial]) -> None:
    other = IdentityPolicy(
        identity=PROBER.replace("prober.yml", "release.yml"), issuer=ACTIONS
    )
    assert _reason(roots["github"], policy=other) is Reason.IDENTITY_MISMATCH


def test_wrong_subject_is_refused(roots: dict[str, TrustMaterial]) -> None:
    assert _reason(roots["github"], artifact=_digest(PUBLIC_DIGEST)) is (
        Reason.DIGEST_MISMATCH
    )


def test_public_good_bundle_fails_under_the_github_root(
    roots: dict[str, TrustMaterial],
) -> None:
    # Rekor is not GitHub's log, and its Fulcio is not GitHub's CA.
    assert _reason(
        roots["github"], _bundle(PUBLIC), artifact=_digest(PUBLIC_DIGEST)
    ) in {
        Reason.NO_VERIFIED_TIME,
        Reason.CHAIN_UNTRUSTED,
    }


def test_public_good_bundle_without_its_entry_fails_under_public_good(
    roots: dict[str, TrustMaterial],
) -> None:
    def drop(doc: dict[str, Any]) -> None:
        doc["verificationMaterial"]["tlogEntries"] = []

    bundle = _bundle(PUBLIC, edit=drop)
    assert _reason(roots["public-good"], bundle, artifact=_digest(PUBLIC_DIGEST)) in {
        Reason.NO_VERIFIED_TIME,
        Reason.TLOG_ENTRY_MISSING,
    }


# --- positives ----------------------------------------------------------------


def test_tsa_only_bundle_verifies_under_the_github_root(
    roots: dict[str, TrustMaterial],
) -> None:
    result = _verify(roots["github"])
    assert result.time_source is TimeSource.TIMESTAMP_AUTHORITY
    assert result.signing_time == datetime(2025, 11, 18, 7, 58, 34, tzinfo=UTC)
    assert result.log_index is None
    assert result.log_url is None
    assert result.predicate_type == "https://slsa.dev/provenance/v1"
    assert any("has no transparency log" in c for c in result.checks)
    assert any("no SCT is demanded" in c for c in result.checks)
    assert not any("embedded SCT verifies" in c for c in result.checks)


def test_public_good_bundles_keep_verifying(roots: dict[str, TrustMaterial]) -> None:
    result = _verify(
        roots["public-good"], _bundle(PUBLIC), artifact=_digest(PUBLIC_DIGEST)
    )
    assert result.log_index == 707288064
    assert any("embedded SCT verifies" in c for c in result.checks)
    reusable = _verify(
        roots["public-good"],
        _bundle(REUSABLE),
        artifact=Artifact(REUSABLE_ARTIFACT.read_bytes()),
        policy=IdentityPolicy(
            identity=_san(REUSABLE),
            issuer=ACTIONS,
        ),
    )
    assert reusable.log_index is not None


def _san(path: Any) -> str:
    from cryptography import x509  # noqa: PLC0415

    raw = json.loads(path.read_text())["verificationMaterial"]["certificate"][
        "rawBytes"
    ]
    cert = x509.load_der_x509_certificate(base64.b64decode(raw))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(san.get_values_for_type(x509.UniformResourceIdentifier)[0])


# --- several roots: each by its own rule --------------------------------------


def test_json_lines_name_each_root() -> None:
    found = materials_from_bytes(JSONL.read_bytes(), source="gh", tuf_backed=False)
    assert [m.name for m in found] == ["public-good", "github"]
    assert [m.requires_tlog for m in found] == [True, False]
    assert [m.requires_sct for m in found] == [True, False]
    assert "line 2 (github)" in found[1].source


def test_a_single_document_is_the_default_root() -> None:
    (only,) = materials_from_bytes(
        PUBLIC_GOOD_ROOT.read_bytes(), source="f", tuf_backed=False
    )
    assert only.name == "public-good"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (JSONL.read_bytes().splitlines()[1] + b"\nnot json\n", "line 2"),
        (b"not json\n", "x"),
        (b"", "x"),
    ],
)
def test_malformed_json_lines_are_refused(text: bytes, where: str) -> None:
    with pytest.raises(TrustRootError) as caught:
        materials_from_bytes(text, source="x", tuf_backed=False)
    assert where in (caught.value.where or "")


def test_two_lines_of_one_instance_are_refused() -> None:
    line = JSONL.read_bytes().splitlines()[1]
    with pytest.raises(TrustRootError, match="second root named 'github'"):
        materials_from_bytes(line + b"\n" + line + b"\n", source="x", tuf_backed=False)


def test_under_roots_takes_the_root_that_verifies(
    roots: dict[str, TrustMaterial],
) -> None:
    both = (roots["public-good"], roots["github"])
    result = under_roots(both, _verify)
    assert result.trust_source == roots["github"].source


def test_under_roots_names_the_root_that_got_furthest(
    roots: dict[str, TrustMaterial],
) -> None:
    other = IdentityPolicy(identity=PROBER + "x", issuer=ACTIONS)
    both = (roots["public-good"], roots["github"])
    with pytest.raises(VerificationError) as caught:
        under_roots(both, lambda t: _verify(t, policy=other))
    assert caught.value.reason is Reason.IDENTITY_MISMATCH
    assert "under github:" in caught.value.message


def test_under_no_root_is_refused() -> None:
    with pytest.raises(TrustRootError):
        under_roots((), _verify)


def test_the_tui_shows_the_root_and_the_source_claims(
    roots: dict[str, TrustMaterial],
) -> None:
    from appliance.tui.present import _provenance_lines  # noqa: PLC0415

    shown = [line.text for line in _provenance_lines(_verify(roots["github"]))]
    assert shown[0] == "  trust root: github"
    assert shown[1].startswith(
        "  source: https://github.com/actions/attest-build-provenance refs/heads/main, workflow "
    )
    assert shown[1].endswith("runner github-hosted")
    public = _verify(
        roots["public-good"], _bundle(PUBLIC), artifact=_digest(PUBLIC_DIGEST)
    )
    assert not any("trust root" in line.text for line in _provenance_lines(public))


def test_the_identities_snippet_names_repository_workflow_and_root(
    roots: dict[str, TrustMaterial],
) -> None:
    from appliance.core.policyfile import PolicySpec  # noqa: PLC0415
    from appliance.tui.present import Identity, policy_snippet  # noqa: PLC0415

    result = _verify(roots["github"])
    assert result.identity is not None
    found = Identity(
        kind="keyless",
        who=PROBER,
        issuer=ACTIONS,
        repo=result.identity.extensions["12"],
        workflow=result.identity.extensions["9"],
        root=result.trust_name,
    )
    text = policy_snippet([found])
    assert 'trust = ["github"]' in text
    assert 'repo = "https://github.com/actions/attest-build-provenance"' in text
    (rule,) = PolicySpec.from_toml(text.encode(), source="snippet").resolve(
        lambda _: b""
    )
    assert rule.rule.trust == ("github",)
    policy = rule.signers[0].policy
    assert isinstance(policy, IdentityPolicy)
    assert {d.name for d in policy.demands} == {"repo", "signer_workflow"}
    assert _verify(roots["github"], policy=policy).signer == PROBER
