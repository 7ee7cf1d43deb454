"""Every sigstore-conformance bundle-verify case, by file and by digest (140 runs).

The verdict must match, and a refusal must come from the check the case is
about: each ``_fail`` case is pinned to its reason code (``input`` for an
:class:`InputError`), so a case cannot pass by failing for the wrong reason.
Data: tests/assets/vectors/conformance (see its README and provenance).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from appliance.core import keys
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, Reason, TrustRootError, VerificationError
from appliance.core.policy import IdentityPolicy, KeyPolicy, Policy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.vectors import CONFORMANCE, conformance_cases, trusted_root_path

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
INPUT = "input"
R = Reason
EXPECTED_REASON: dict[str, str] = {
    "bundle-empty-certificate-chain_fail": INPUT,
    "bundle-from-wrong-instance_fail": R.TLOG_ENTRY_MISSING,
    "bundle-invalid-base64-signature_fail": INPUT,
    "bundle-malformed-json_fail": INPUT,
    "bundle-negative-log-index_fail": INPUT,
    "bundle-unknown-version_fail": INPUT,
    # The case's own README: it fails on identity (its SAN is a@tny.town).
    "bundle-with-root-cert_fail": R.IDENTITY_MISMATCH,
    "checkpoint-bad-keyhint_fail": R.CHECKPOINT_INVALID,
    "checkpoint-wrong-roothash_fail": R.CHECKPOINT_INVALID,
    "dsse-invalid-sig_fail": R.SIGNATURE_INVALID,
    "dsse-mismatch-envelope_fail": R.TLOG_ENTRY_INVALID,
    "dsse-mismatch-sig_fail": R.TLOG_ENTRY_INVALID,
    "inclusion-proof-corrupted-hash_fail": R.INCLUSION_PROOF_INVALID,
    # The altered body no longer hashes to the proven leaf.
    "incorrect-public-key_fail": R.INCLUSION_PROOF_INVALID,
    "integrated-time-in-future_fail": R.CHAIN_UNTRUSTED,
    "intoto-expired-certificate_fail": R.CHAIN_UNTRUSTED,
    "intoto-log-entry-mismatch_fail": R.TLOG_ENTRY_INVALID,
    "intoto-missing-inclusion-proof_fail": INPUT,
    "intoto-set-outside-signing-cert-validity_fail": R.CHAIN_UNTRUSTED,
    "intoto-tsa-timestamp-outside-cert-validity_fail": R.CHAIN_UNTRUSTED,
    "invalid-checkpoint-signature_fail": R.CHECKPOINT_INVALID,
    "invalid-ct-key_fail": R.SCT_INVALID,
    "invalid-inclusion-proof_fail": INPUT,  # v0.2 proof without a checkpoint
    "managed-key-no-key_fail": R.POLICY_UNSATISFIED,
    "managed-key-wrong-key_fail": INPUT,  # the offered PEM is not a valid key
    "message-digest-mismatch_fail": R.DIGEST_MISMATCH,
    "rekor2-checkpoint-missing-log-signature_fail": R.CHECKPOINT_INVALID,
    "rekor2-checkpoint-missing-origin_fail": R.CHECKPOINT_INVALID,
    "rekor2-checkpoint-missing-root-hash_fail": R.CHECKPOINT_INVALID,
    "rekor2-checkpoint-missing-size_fail": R.CHECKPOINT_INVALID,
    "rekor2-checkpoint-no-matching-signature_fail": R.CHECKPOINT_INVALID,
    "rekor2-dsse-invalid-sig_fail": R.SIGNATURE_INVALID,
    "rekor2-dsse-mismatch-envelope_fail": R.TLOG_ENTRY_INVALID,
    "rekor2-dsse-mismatch-sig_fail": R.TLOG_ENTRY_INVALID,
    "rekor2-no-inclusion-proof_fail": INPUT,
    "rekor2-no-timestamp_fail": R.NO_VERIFIED_TIME,
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": R.TIMESTAMP_INVALID,
    "rekor2-timestamp-outside-tsa-cert-validity_fail": R.TIMESTAMP_INVALID,
    "rekor2-timestamp-payload-mismatch_fail": R.TIMESTAMP_INVALID,
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": R.TIMESTAMP_INVALID,
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": R.TIMESTAMP_INVALID,
    "rekor2-timestamp-with-incorrect-time_fail": R.CHAIN_UNTRUSTED,
    "set-invalid-signature_fail": R.SET_INVALID,
    "signature-mismatch_fail": R.SIGNATURE_INVALID,
    "trust-root-tlog-missing-validity-start_fail": R.TRUST_ROOT_INVALID,
    "wrong-hashedrekord-artifact_fail": R.TLOG_ENTRY_INVALID,
    "wrong-hashedrekord-cert-and-sig_fail": R.TLOG_ENTRY_INVALID,
    "wrong-hashedrekord-entry_fail": R.TLOG_ENTRY_INVALID,
    "wrong-material_fail": R.DIGEST_MISMATCH,
}
CASES = conformance_cases()


def _policy(case: dict[str, Any]) -> Policy:
    if case.get("key"):
        return KeyPolicy(
            key=keys.load_pem((CONFORMANCE / case["key"]).read_bytes(), where="key")
        )
    return IdentityPolicy(identity=case["identity"], issuer=case["issuer"])


def _artifact(case: dict[str, Any], mode: str) -> Artifact:
    if mode == "file":
        return Artifact((CONFORMANCE / case["artifact"]).read_bytes())
    algorithm, hex_digest = case["artifact_digest"].split(":")
    return Artifact.from_digest(algorithm, bytes.fromhex(hex_digest))


def verdict(case: dict[str, Any], mode: str) -> str:
    """Run one case through the core; return "pass" or the failure's reason."""
    try:
        trust = TrustMaterial.from_bytes(
            trusted_root_path(case, CONFORMANCE).read_bytes(),
            source="case",
            tuf_backed=False,
        )
        bundle = Bundle.from_bytes((CONFORMANCE / case["bundle"]).read_bytes())
        verify_bundle(
            bundle,
            artifact=_artifact(case, mode),
            trust=trust,
            policy=_policy(case),
            now=NOW,
        )
    except InputError:
        return INPUT
    except (VerificationError, TrustRootError) as exc:
        return str(exc.reason)
    return "pass"


def test_every_failing_case_has_a_pinned_reason() -> None:
    failing = {c["name"] for c in CASES if c["expect"] == "fail"}
    assert failing == set(EXPECTED_REASON)
    assert len(CASES) == 70


@pytest.mark.parametrize("mode", ["file", "digest"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_conformance_case(case: dict[str, Any], mode: str) -> None:
    expected = "pass" if case["expect"] == "pass" else EXPECTED_REASON[case["name"]]
    assert verdict(case, mode) == expected, case["why"]
