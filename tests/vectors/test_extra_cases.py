"""Real bundles, attestations and cosign legacy signatures from other projects.

Cases from tests/assets/vectors/extra-cases.json (see vectors/README.md for
where each came from and who else reached the same verdict).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from appliance.core import keys
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.legacy import LegacySignature, verify_legacy
from appliance.core.pattern import compile_pattern
from appliance.core.policy import IdentityPolicy, KeyPolicy, Policy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.vectors import (
    PUBLIC_GOOD_ROOT,
    VECTORS,
    extra_cases,
    manifest_digest,
    read_legacy_signature,
    trusted_root_path,
)

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
BUNDLES = extra_cases("bundle", "attestation")
LEGACY = extra_cases("cosign-legacy")
EXPECTED_REASON = {
    "no-signed-time": Reason.NO_VERIFIED_TIME,
    "no-cert-v1": "input",
    "no-log-entry": Reason.TLOG_ENTRY_MISSING,
    "staging-v3-against-public-good": Reason.TLOG_ENTRY_MISSING,
    "staging-cve-2022-36056": Reason.TLOG_ENTRY_INVALID,
    "sigstore-go-dsse-2sigs": "input",
    "legacy-keyless-wrong-identity": Reason.IDENTITY_MISMATCH,
    "legacy-key-rekor-wrong-key": Reason.SIGNATURE_INVALID,
    "legacy-key-only-unknown-key": Reason.SIGNATURE_INVALID,
    "legacy-key-only-modified-manifest": Reason.DIGEST_MISMATCH,
}


def _policy(case: dict[str, Any]) -> Policy:
    if case.get("key"):
        return KeyPolicy(
            key=keys.load_pem((VECTORS / case["key"]).read_bytes(), where="key")
        )
    return IdentityPolicy(identity=case["identity"], issuer=case["issuer"])


def _trust(case: dict[str, Any]) -> TrustMaterial:
    return TrustMaterial.from_bytes(
        trusted_root_path(case, VECTORS).read_bytes(), source="case", tuf_backed=False
    )


def _run(fn: Any) -> str:
    try:
        fn()
    except InputError:
        return "input"
    except VerificationError as exc:
        return str(exc.reason)
    return "pass"


def verdict(case: dict[str, Any], mode: str = "digest") -> str:
    """Run one bundle/attestation case through the core; "pass" or the reason."""
    if mode == "file":
        artifact = Artifact((VECTORS / case["artifact"]).read_bytes())
    else:
        algorithm, hex_digest = case["artifact_digest"].split(":")
        artifact = Artifact.from_digest(algorithm, bytes.fromhex(hex_digest))

    def run() -> None:
        bundle = Bundle.from_bytes((VECTORS / case["bundle"]).read_bytes())
        verify_bundle(
            bundle, artifact=artifact, trust=_trust(case), policy=_policy(case), now=NOW
        )

    return _run(run)


def _bundle_params() -> list[Any]:
    params: list[Any] = []
    for case in BUNDLES:
        modes = ["digest", "file"] if case["artifact"] else ["digest"]
        params.extend(
            pytest.param(case, mode, id=f"{case['name']}-{mode}") for mode in modes
        )
    return params


@pytest.mark.parametrize(("case", "mode"), _bundle_params())
def test_bundle_and_attestation_cases(case: dict[str, Any], mode: str) -> None:
    expected = "pass" if case["expect"] == "pass" else EXPECTED_REASON[case["name"]]
    assert verdict(case, mode) == expected, case["why"]


@pytest.mark.parametrize(
    "require_tlog", [True, False], ids=["tlog-demanded", "tlog-optional"]
)
@pytest.mark.parametrize("case", LEGACY, ids=[c["name"] for c in LEGACY])
def test_cosign_legacy_cases(case: dict[str, Any], require_tlog: bool) -> None:
    layer = read_legacy_signature(VECTORS / case["signature"])
    digest = manifest_digest(VECTORS / case["manifest"])

    def run() -> None:
        verify_legacy(
            layer,
            image_digest=digest,
            trust=_trust(case),
            policy=_policy(case),
            now=NOW,
            insecure_ignore_tlog=not require_tlog,
        )

    if case["expect"] == "pass" and case.get("condition") and require_tlog:
        expected: str = (
            Reason.TLOG_ENTRY_MISSING
        )  # passes only when no log entry is demanded
    elif case["expect"] == "pass":
        expected = "pass"
    elif (
        require_tlog
        and "key-only" in case["name"]
        and EXPECTED_REASON[case["name"]] is not Reason.SIGNATURE_INVALID
    ):
        # The signature verifies; the missing log entry is refused before
        # the payload's own flaw is reached.
        expected = Reason.TLOG_ENTRY_MISSING
    else:
        expected = EXPECTED_REASON[case["name"]]
    assert _run(run) == expected


def test_bare_rekor_set_unit_vector() -> None:
    """containers/image's SET unit vector, assembled as the layer it came from."""
    base = VECTORS / "cosign-legacy" / "rekor-set-unit"
    payload = (base / "rekor-payload").read_bytes()
    layer = LegacySignature(
        payload=payload,
        annotations={
            "dev.cosignproject.cosign/signature": (base / "rekor-sig")
            .read_text()
            .strip(),
            "dev.sigstore.cosign/certificate": (base / "rekor-cert").read_text(),
            "dev.sigstore.cosign/chain": (base / "fulcio-chain").read_text(),
            "dev.sigstore.cosign/bundle": (base / "rekor-set").read_text(),
        },
    )
    digest = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
    trust = TrustMaterial.from_bytes(
        PUBLIC_GOOD_ROOT.read_bytes(), source="pg", tuf_backed=False
    )
    policy = IdentityPolicy(
        identity="mitr@redhat.com", issuer_regexp=compile_pattern(".", where="test")
    )
    result = verify_legacy(
        layer, image_digest=digest, trust=trust, policy=policy, now=NOW
    )
    assert result.log_index == 8949589
    assert result.signing_time == datetime(2022, 12, 12, 18, 48, 19, tzinfo=UTC)
    # The same layer with its SET's logIndex changed must be refused.
    tampered = dict(layer.annotations)
    tampered["dev.sigstore.cosign/bundle"] = tampered[
        "dev.sigstore.cosign/bundle"
    ].replace("8949589", "8949590")
    with pytest.raises(VerificationError) as caught:
        verify_legacy(
            LegacySignature(payload=payload, annotations=tampered),
            image_digest=digest,
            trust=trust,
            policy=policy,
            now=NOW,
        )
    assert caught.value.reason is Reason.SET_INVALID
