"""RFC 3161 stamps on cosign legacy layers cover exactly what cosign stamps.

cosign stamps a ``.att`` layer's blob, the DSSE envelope bytes as stored, and a
``.sig`` layer's raw signature (pkg/cosign/verify.go, VerifyRFC3161Timestamp;
docs/cosign.md §6). The stamps here come from a real TSA (``openssl ts``, in
the local test Sigstore stack) over the right bytes and over wrong ones.
Negative cases first.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization

from appliance.core.errors import Reason, VerificationError
from appliance.core.legacy import (
    RFC3161,
    LegacySignature,
    verify_legacy,
    verify_legacy_attestation,
)
from appliance.core.policy import IdentityPolicy
from appliance.core.trust import TrustMaterial
from tests.helpers.sigstore_stack import DEFAULT_ISSUER, SigstoreStack
from tests.helpers.sigstore_stack.stack import envelope_payload
from tests.helpers.sigstore_stack.tsa import TimestampAuthority

if TYPE_CHECKING:
    from cryptography import x509

    from appliance.core.report import VerificationResult

IDENTITY = "dev@airlock.test"
POLICY = IdentityPolicy(identity=IDENTITY, issuer=DEFAULT_ISSUER)
IMAGE = "sha256:" + "ab" * 32
# openssl ts stamps the machine's clock, so the stack runs at the real time.
NOW = datetime.now(UTC).replace(microsecond=0)
TSA = TimestampAuthority(not_before=NOW - timedelta(days=1))
STACK = SigstoreStack(now=NOW, tsa=TSA)
TRUST = TrustMaterial.from_bytes(
    STACK.trusted_root_json(), source="stack", tuf_backed=False
)


def _pem(cert: x509.Certificate | None) -> str:
    assert cert is not None
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _attestation() -> tuple[bytes, dict[str, str], bytes]:
    """A ``.att`` layer as cosign writes it: envelope blob and annotations."""
    signed = STACK.attest({"app": IMAGE.removeprefix("sha256:")}, identity=IDENTITY)
    assert signed.envelope is not None
    envelope = json.dumps(signed.envelope, separators=(",", ":")).encode()
    annotations = {
        "predicateType": "https://slsa.dev/provenance/v1",
        "dev.cosignproject.cosign/signature": "",
        "dev.sigstore.cosign/certificate": _pem(signed.certificate),
        "dev.sigstore.cosign/chain": "".join(_pem(c) for c in signed.chain),
        "dev.sigstore.cosign/bundle": signed.entry.cosign_bundle_annotation(),
    }
    return envelope, annotations, signed.signature


ENVELOPE, NOTES, DSSE_SIGNATURE = _attestation()


def _stamped(stamp: bytes) -> dict[str, str]:
    annotation = json.dumps(
        {"SignedRFC3161Timestamp": base64.b64encode(stamp).decode()}
    )
    return {**NOTES, RFC3161: annotation}


def _verify_att(notes: dict[str, str], blob: bytes = ENVELOPE) -> VerificationResult:
    return verify_legacy_attestation(
        LegacySignature(payload=blob, annotations=notes),
        image_digest=IMAGE,
        trust=TRUST,
        policy=POLICY,
        now=NOW,
    )


def _refused(notes: dict[str, str]) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        _verify_att(notes)
    return caught.value


def test_att_stamp_over_the_dsse_signature_is_refused() -> None:
    """What a v0.3 bundle's stamp covers is not what cosign stamps on a .att."""
    error = _refused(_stamped(TSA.stamp(DSSE_SIGNATURE)))
    assert error.reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_over_the_statement_is_refused() -> None:
    statement = envelope_payload(json.loads(ENVELOPE))
    assert _refused(_stamped(TSA.stamp(statement))).reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_over_other_bytes_of_the_same_envelope_is_refused() -> None:
    """The envelope bytes as stored: re-serialised JSON is other bytes."""
    spaced = json.dumps(json.loads(ENVELOPE), indent=1).encode()
    assert _refused(_stamped(TSA.stamp(spaced))).reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_from_a_tsa_the_root_does_not_list_is_refused() -> None:
    stranger = TimestampAuthority(not_before=NOW - timedelta(days=1))
    error = _refused(_stamped(stranger.stamp(ENVELOPE)))
    assert error.reason is Reason.TIMESTAMP_INVALID


def test_sig_stamp_over_the_payload_is_refused() -> None:
    layer = STACK.sign_image_legacy(IMAGE, reference="registry.test/app")
    notes = {
        **layer.annotations,
        RFC3161: json.dumps(
            {
                "SignedRFC3161Timestamp": base64.b64encode(
                    TSA.stamp(layer.payload)
                ).decode()
            }
        ),
    }
    with pytest.raises(VerificationError) as caught:
        verify_legacy(
            LegacySignature(payload=layer.payload, annotations=notes),
            image_digest=IMAGE,
            trust=TRUST,
            policy=POLICY,
            now=NOW,
        )
    assert caught.value.reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_over_the_envelope_bytes_verifies() -> None:
    result = _verify_att(_stamped(TSA.stamp(ENVELOPE)))
    assert "RFC 3161 timestamp 0 verifies" in " ".join(result.checks)
    assert len(result.verified_times) == 2  # the SET's and the TSA's


def test_sig_stamp_over_the_raw_signature_verifies() -> None:
    layer = STACK.sign_image_legacy(IMAGE, reference="registry.test/app")
    stamp = TSA.stamp(layer.signed.signature)
    notes = {
        **layer.annotations,
        RFC3161: json.dumps(
            {"SignedRFC3161Timestamp": base64.b64encode(stamp).decode()}
        ),
    }
    result = verify_legacy(
        LegacySignature(payload=layer.payload, annotations=notes),
        image_digest=IMAGE,
        trust=TRUST,
        policy=POLICY,
        now=NOW,
    )
    assert "RFC 3161 timestamp 0 verifies" in " ".join(result.checks)
