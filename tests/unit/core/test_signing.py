"""What the appliance signs: cosign payloads byte for byte, key-signed bundles."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import Reason, VerificationError
from appliance.core.legacy import check_payload
from appliance.core.policy import IdentityPolicy, KeyPolicy
from appliance.core.signing import key_hint, key_signed_bundle, simple_signing_payload
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.sigstore_stack import DEFAULT_ISSUER, SigstoreStack
from tests.helpers.vectors import (
    PUBLIC_GOOD_ROOT,
    VECTORS,
    extra_cases,
    read_legacy_signature,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TRUST = TrustMaterial.from_bytes(
    PUBLIC_GOOD_ROOT.read_bytes(), source="pg", tuf_backed=False
)


@pytest.mark.parametrize(
    "name", ["legacy-keyless", "legacy-key-rekor", "legacy-key-only"]
)
def test_payload_matches_what_cosign_wrote(name: str) -> None:
    case = next(c for c in extra_cases("cosign-legacy") if c["name"] == name)
    written = read_legacy_signature(VECTORS / case["signature"]).payload
    critical = json.loads(written)["critical"]
    ours = simple_signing_payload(
        critical["image"]["docker-manifest-digest"],
        critical["identity"]["docker-reference"],
    )
    assert ours == written


def test_rekor_unit_payload_matches_byte_for_byte() -> None:
    written = (
        VECTORS / "cosign-legacy" / "rekor-set-unit" / "rekor-payload"
    ).read_bytes()
    doc = json.loads(written)
    ours = simple_signing_payload(
        doc["critical"]["image"]["docker-manifest-digest"],
        doc["critical"]["identity"]["docker-reference"],
        doc["optional"],
    )
    assert ours == written.rstrip(b"\n")


def test_skopeo_payload_means_the_same() -> None:
    """skopeo writes its own key order; the meaning is the same."""
    case = next(
        c for c in extra_cases("cosign-legacy") if c["name"] == "legacy-key-only-tagged"
    )
    written = json.loads(read_legacy_signature(VECTORS / case["signature"]).payload)
    ours = simple_signing_payload(
        written["critical"]["image"]["docker-manifest-digest"],
        written["critical"]["identity"]["docker-reference"],
        written["optional"],
    )
    assert json.loads(ours) == written


def test_annotations_are_sorted_and_html_escaped_as_go_does() -> None:
    payload = simple_signing_payload(
        "sha256:" + "0" * 64, "reg.example/app", {"z": "1", "a": "<b>&</b>"}
    )
    assert payload.endswith(
        b'"optional":{"a":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e","z":"1"}}'
    )


def test_key_signed_bundle_verifies_with_the_key_only() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    data = b"approved release\n"
    digest = hashlib.sha256(data).digest()
    bundle_bytes = key_signed_bundle(
        sha256_digest=digest,
        signature=key.sign(data, ec.ECDSA(hashes.SHA256())),
        public_key=key.public_key(),
    )
    doc = json.loads(bundle_bytes)
    assert doc["verificationMaterial"] == {
        "publicKey": {"hint": key_hint(key.public_key())},
        "tlogEntries": [],
    }
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert (
        base64.b64decode(doc["verificationMaterial"]["publicKey"]["hint"])
        == hashlib.sha256(spki).digest()
    )
    bundle = Bundle.from_bytes(bundle_bytes)
    # Without a log entry, as cosign: only where the operator says so.
    with pytest.raises(VerificationError) as refused:
        verify_bundle(
            bundle,
            artifact=Artifact(data),
            trust=TRUST,
            policy=KeyPolicy(key=key.public_key()),
            now=NOW,
        )
    assert refused.value.reason is Reason.TLOG_ENTRY_MISSING
    assert "--insecure-ignore-tlog" in refused.value.message
    result = verify_bundle(
        bundle,
        artifact=Artifact(data),
        trust=TRUST,
        policy=KeyPolicy(key=key.public_key()),
        now=NOW,
        insecure_ignore_tlog=True,
    )
    assert result.log_index is None
    assert any("key alone" in c for c in result.checks)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationError) as caught:
        verify_bundle(
            bundle,
            artifact=Artifact(data),
            trust=TRUST,
            policy=KeyPolicy(key=other),
            now=NOW,
            insecure_ignore_tlog=True,
        )
    assert caught.value.reason is Reason.SIGNATURE_INVALID


def test_certificate_bundle_without_a_log_entry_is_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    doc = sigstore_stack.sign_blob(b"x").bundle()
    doc["verificationMaterial"]["tlogEntries"] = []
    trust = TrustMaterial.from_bytes(
        sigstore_stack.trusted_root_json(), source="s", tuf_backed=False
    )
    with pytest.raises(VerificationError) as caught:
        verify_bundle(
            Bundle.from_bytes(json.dumps(doc).encode()),
            artifact=Artifact(b"x"),
            trust=trust,
            policy=IdentityPolicy(identity="dev@airlock.test", issuer=DEFAULT_ISSUER),
            now=NOW,
        )
    assert caught.value.reason is Reason.TLOG_ENTRY_MISSING


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-1e999"])
def test_simple_signing_payload_with_non_finite_numbers_is_refused(
    constant: str,
) -> None:
    payload = simple_signing_payload(
        "sha256:" + "a" * 64, "reg.example/app", {"n": "X"}
    )
    hostile = payload.replace(b'"X"', constant.encode())
    with pytest.raises(VerificationError) as caught:
        check_payload(hostile, image_digest="sha256:" + "a" * 64)
    assert caught.value.reason is Reason.MALFORMED_INPUT


def test_simple_signing_payload_key_case_as_go_decodes_it() -> None:
    digest = "sha256:" + "a" * 64
    payload = simple_signing_payload(digest, "reg.example/app").replace(
        b"docker-manifest-digest", b"Docker-manifest-digest"
    )
    check_payload(payload, image_digest=digest)
    both = payload.replace(
        b'"Docker-manifest-digest"',
        b'"docker-manifest-digest":"' + digest.encode() + b'","Docker-manifest-digest"',
    )
    with pytest.raises(VerificationError):
        check_payload(both, image_digest=digest)
