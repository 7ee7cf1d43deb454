"""The local Sigstore stack is faithful: sigstore-python accepts what it mints.

sigstore-python (a test-only oracle) verifies the stack's bundles offline
against the stack's own ``trusted_root.json``, and refuses them when any one
piece of evidence changes by a single byte. If the stack were a toy, these
tests would fail; they are what lets the rest of the suite trust it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier, policy

from tests.helpers.sigstore_stack import (
    DEFAULT_ISSUER,
    GitHubClaims,
    SigstoreStack,
    merkle,
)
from tests.helpers.tamper import TAMPERINGS, flip_b64

if TYPE_CHECKING:
    from pathlib import Path

ARTIFACT = b"an artifact that crossed the gap\n"
IDENTITY = "dev@airlock.test"
POLICY = policy.Identity(identity=IDENTITY, issuer=DEFAULT_ISSUER)


def _verifier(stack: SigstoreStack, tmp_path: Path, **root_kwargs: Any) -> Verifier:
    path = tmp_path / "trusted_root.json"
    path.write_bytes(stack.trusted_root_json(**root_kwargs))
    return Verifier(trusted_root=TrustedRoot.from_file(str(path)))


def _load(bundle: dict[str, Any]) -> Bundle:
    return Bundle.from_json(json.dumps(bundle))


# -- accepted -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3"])
def test_message_signature_bundles_verify(
    sigstore_stack: SigstoreStack, tmp_path: Path, version: str
) -> None:
    signed = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY)
    bundle = _load(signed.bundle(version=version))  # type: ignore[arg-type]
    _verifier(sigstore_stack, tmp_path).verify_artifact(ARTIFACT, bundle, POLICY)


def test_v01_bundle_with_full_chain_verifies(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    signed = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY)
    bundle = _load(signed.bundle(version="0.1", include_chain=True))
    _verifier(sigstore_stack, tmp_path).verify_artifact(ARTIFACT, bundle, POLICY)


def test_dsse_attestation_verifies(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    digest = hashlib.sha256(ARTIFACT).hexdigest()
    signed = sigstore_stack.attest({"artifact.bin": digest}, identity=IDENTITY)
    payload_type, payload = _verifier(sigstore_stack, tmp_path).verify_dsse(
        _load(signed.bundle()), POLICY
    )
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    assert statement["subject"] == [
        {"name": "artifact.bin", "digest": {"sha256": digest}}
    ]


def test_github_workflow_claims_verify(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    claims = GitHubClaims(
        repository="airlock-test/app", ref="refs/tags/v1.0.0", trigger="release"
    )
    san = "https://github.com/airlock-test/app/.github/workflows/release.yml@refs/tags/v1.0.0"
    issuer = "https://token.actions.githubusercontent.com"
    signed = sigstore_stack.sign_blob(
        ARTIFACT, identity=san, issuer=issuer, github=claims
    )
    github_policy = policy.AllOf(
        [
            policy.Identity(identity=san, issuer=issuer),
            policy.GitHubWorkflowRepository("airlock-test/app"),
            policy.GitHubWorkflowRef("refs/tags/v1.0.0"),
            policy.GitHubWorkflowTrigger("release"),
            policy.GitHubWorkflowSHA(claims.sha),
            policy.GitHubWorkflowName("release"),
            policy.OIDCSourceRepositoryURI("https://github.com/airlock-test/app"),
            policy.OIDCBuildTrigger("release"),
        ]
    )
    _verifier(sigstore_stack, tmp_path).verify_artifact(
        ARTIFACT, _load(signed.bundle()), github_policy
    )


def test_legacy_signature_layer_is_real_evidence(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    """The ``.sig`` layer's signature, certificate and SET are the ones Rekor logged.

    sigstore-python cannot read cosign layers, so the same log entry is
    re-expressed as a v0.2 bundle (adding the proof the annotation lacks) and
    verified; then each annotation is shown to carry exactly that evidence.
    """
    image_digest = "sha256:" + hashlib.sha256(b"manifest").hexdigest()
    legacy = sigstore_stack.sign_image_legacy(
        image_digest, reference="registry.airlock.test/app", identity=IDENTITY
    )
    _verifier(sigstore_stack, tmp_path).verify_artifact(
        legacy.payload, _load(legacy.signed.bundle(version="0.2")), POLICY
    )

    payload = json.loads(legacy.payload)
    assert payload["critical"]["image"]["docker-manifest-digest"] == image_digest
    assert payload["critical"]["type"] == "cosign container image signature"
    notes = legacy.annotations
    cert = x509.load_pem_x509_certificate(
        notes["dev.sigstore.cosign/certificate"].encode()
    )
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        base64.b64decode(notes["dev.cosignproject.cosign/signature"]),
        legacy.payload,
        ec.ECDSA(hashes.SHA256()),
    )
    chain = x509.load_pem_x509_certificates(notes["dev.sigstore.cosign/chain"].encode())
    assert chain == [sigstore_stack.ca.intermediate, sigstore_stack.ca.root]
    rekor_bundle = json.loads(notes["dev.sigstore.cosign/bundle"])
    entry = legacy.signed.entry
    assert rekor_bundle["Payload"] == {
        "body": base64.b64encode(entry.body).decode(),
        "integratedTime": entry.integrated_time,
        "logIndex": entry.log_index,
        "logID": entry.log_id.hex(),
    }
    assert base64.b64decode(rekor_bundle["SignedEntryTimestamp"]) == entry.set_signature


def test_leaf_has_the_fulcio_profile(sigstore_stack: SigstoreStack) -> None:
    cert = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY).certificate
    assert cert is not None
    assert cert.subject == x509.Name([])
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(minutes=10)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.RFC822Name) == [IDENTITY]
    assert (
        x509.oid.ExtendedKeyUsageOID.CODE_SIGNING
        in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    v1 = cert.extensions.get_extension_for_oid(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
    ).value
    v8 = cert.extensions.get_extension_for_oid(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
    ).value
    assert isinstance(v1, x509.UnrecognizedExtension)
    assert isinstance(v8, x509.UnrecognizedExtension)
    assert v1.value == DEFAULT_ISSUER.encode()
    assert v8.value == b"\x0c" + bytes([len(DEFAULT_ISSUER)]) + DEFAULT_ISSUER.encode()
    scts = cert.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    assert len(scts) == 1
    assert scts[0].log_id == sigstore_stack.ct_log.log_id


def test_merkle_proofs_match_the_rfc_9162_verifier() -> None:
    """The stack's recursive RFC 6962 PATH agrees with the iterative verifier."""
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(37)]
    for size in (1, 2, 3, 7, 8, 9, 16, 37):
        tree = leaves[:size]
        root = merkle.root(tree)
        for index in range(size):
            h, fn, sn = tree[index], index, size - 1
            for p in merkle.inclusion_proof(index, tree):
                if fn % 2 == 1 or fn == sn:
                    h = merkle.node_hash(p, h)
                    while fn % 2 == 0 and fn != 0:
                        fn, sn = fn >> 1, sn >> 1
                else:
                    h = merkle.node_hash(h, p)
                fn, sn = fn >> 1, sn >> 1
            assert (sn, h) == (0, root)


# -- refused: one changed byte anywhere in the evidence -------------------------


@pytest.mark.parametrize("where", sorted(TAMPERINGS))
def test_one_changed_byte_is_refused(
    sigstore_stack: SigstoreStack, tmp_path: Path, where: str
) -> None:
    signed = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY)
    verifier = _verifier(sigstore_stack, tmp_path)
    bundle = signed.bundle()
    verifier.verify_artifact(
        ARTIFACT, _load(copy.deepcopy(bundle)), POLICY
    )  # the control
    TAMPERINGS[where](bundle)
    with pytest.raises(SigstoreError):
        verifier.verify_artifact(ARTIFACT, _load(bundle), POLICY)


def test_changed_artifact_is_refused(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    signed = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY)
    with pytest.raises(SigstoreError):
        _verifier(sigstore_stack, tmp_path).verify_artifact(
            ARTIFACT + b"!", _load(signed.bundle()), POLICY
        )


def test_changed_dsse_payload_is_refused(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    signed = sigstore_stack.attest({"a": "00" * 32}, identity=IDENTITY)
    bundle = signed.bundle()
    bundle["dsseEnvelope"]["payload"] = flip_b64(bundle["dsseEnvelope"]["payload"], 10)
    with pytest.raises(SigstoreError):
        _verifier(sigstore_stack, tmp_path).verify_dsse(_load(bundle), POLICY)


@pytest.mark.parametrize(
    "wrong",
    [
        policy.Identity(identity="someone-else@airlock.test", issuer=DEFAULT_ISSUER),
        policy.Identity(identity=IDENTITY, issuer="https://accounts.google.com"),
    ],
    ids=["identity", "issuer"],
)
def test_wrong_identity_is_refused(
    sigstore_stack: SigstoreStack, tmp_path: Path, wrong: policy.Identity
) -> None:
    signed = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY)
    with pytest.raises(SigstoreError):
        _verifier(sigstore_stack, tmp_path).verify_artifact(
            ARTIFACT, _load(signed.bundle()), wrong
        )


def test_certificate_expired_at_integration_is_refused(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    signed = sigstore_stack.sign_blob(
        ARTIFACT, identity=IDENTITY, integrated_after=timedelta(minutes=11)
    )
    with pytest.raises(SigstoreError):
        _verifier(sigstore_stack, tmp_path).verify_artifact(
            ARTIFACT, _load(signed.bundle()), POLICY
        )


def test_another_instance_trust_root_is_refused(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    signed = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY)
    stranger = SigstoreStack(now=sigstore_stack.now)
    with pytest.raises(SigstoreError):
        _verifier(stranger, tmp_path).verify_artifact(
            ARTIFACT, _load(signed.bundle()), POLICY
        )


def test_v02_bundle_without_checkpoint_is_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    signed = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY)
    with pytest.raises(SigstoreError):
        _load(signed.bundle(version="0.2", checkpoint=False))
