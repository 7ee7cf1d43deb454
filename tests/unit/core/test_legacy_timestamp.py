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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class World:
    """A stack at the real time: ``openssl ts`` stamps the machine's clock.

    Built when the module's first test runs, not at collection: in a long
    suite the short-lived signing certificates would otherwise have expired
    by the time the TSA stamps.
    """

    now: datetime
    tsa: TimestampAuthority
    stack: SigstoreStack
    trust: TrustMaterial
    envelope: bytes
    notes: dict[str, str]
    dsse_signature: bytes


@pytest.fixture(scope="module")
def world() -> World:
    now = datetime.now(UTC).replace(microsecond=0)
    tsa = TimestampAuthority(not_before=now - timedelta(days=1))
    stack = SigstoreStack(now=now, tsa=tsa)
    trust = TrustMaterial.from_bytes(
        stack.trusted_root_json(), source="stack", tuf_backed=False
    )
    envelope, notes, signature = _attestation(stack)
    return World(now, tsa, stack, trust, envelope, notes, signature)


def _pem(cert: x509.Certificate | None) -> str:
    assert cert is not None
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _attestation(stack: SigstoreStack) -> tuple[bytes, dict[str, str], bytes]:
    """A ``.att`` layer as cosign writes it: envelope blob and annotations."""
    signed = stack.attest({"app": IMAGE.removeprefix("sha256:")}, identity=IDENTITY)
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


def _stamped(world: World, stamp: bytes) -> dict[str, str]:
    annotation = json.dumps(
        {"SignedRFC3161Timestamp": base64.b64encode(stamp).decode()}
    )
    return {**world.notes, RFC3161: annotation}


def _verify_att(
    world: World, notes: dict[str, str], blob: bytes | None = None
) -> VerificationResult:
    return verify_legacy_attestation(
        LegacySignature(
            payload=world.envelope if blob is None else blob, annotations=notes
        ),
        image_digest=IMAGE,
        trust=world.trust,
        policy=POLICY,
        now=world.now,
    )


def _refused(world: World, notes: dict[str, str]) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        _verify_att(world, notes)
    return caught.value


def test_att_stamp_over_the_dsse_signature_is_refused(world: World) -> None:
    """What a v0.3 bundle's stamp covers is not what cosign stamps on a .att."""
    error = _refused(world, _stamped(world, world.tsa.stamp(world.dsse_signature)))
    assert error.reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_over_the_statement_is_refused(world: World) -> None:
    statement = envelope_payload(json.loads(world.envelope))
    error = _refused(world, _stamped(world, world.tsa.stamp(statement)))
    assert error.reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_over_other_bytes_of_the_same_envelope_is_refused(
    world: World,
) -> None:
    """The envelope bytes as stored: re-serialised JSON is other bytes."""
    spaced = json.dumps(json.loads(world.envelope), indent=1).encode()
    error = _refused(world, _stamped(world, world.tsa.stamp(spaced)))
    assert error.reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_from_a_tsa_the_root_does_not_list_is_refused(world: World) -> None:
    stranger = TimestampAuthority(not_before=world.now - timedelta(days=1))
    error = _refused(world, _stamped(world, stranger.stamp(world.envelope)))
    assert error.reason is Reason.TIMESTAMP_INVALID


def _sig_notes(layer_annotations: dict[str, str], stamp: bytes) -> dict[str, str]:
    return {
        **layer_annotations,
        RFC3161: json.dumps(
            {"SignedRFC3161Timestamp": base64.b64encode(stamp).decode()}
        ),
    }


def test_sig_stamp_over_the_payload_is_refused(world: World) -> None:
    layer = world.stack.sign_image_legacy(IMAGE, reference="registry.test/app")
    notes = _sig_notes(layer.annotations, world.tsa.stamp(layer.payload))
    with pytest.raises(VerificationError) as caught:
        verify_legacy(
            LegacySignature(payload=layer.payload, annotations=notes),
            image_digest=IMAGE,
            trust=world.trust,
            policy=POLICY,
            now=world.now,
        )
    assert caught.value.reason is Reason.TIMESTAMP_INVALID


def test_att_stamp_over_the_envelope_bytes_verifies(world: World) -> None:
    result = _verify_att(world, _stamped(world, world.tsa.stamp(world.envelope)))
    assert "RFC 3161 timestamp 0 verifies" in " ".join(result.checks)
    assert len(result.verified_times) == 2  # the SET's and the TSA's


def test_sig_stamp_over_the_raw_signature_verifies(world: World) -> None:
    layer = world.stack.sign_image_legacy(IMAGE, reference="registry.test/app")
    stamp = world.tsa.stamp(layer.signed.signature)
    result = verify_legacy(
        LegacySignature(
            payload=layer.payload,
            annotations=_sig_notes(layer.annotations, stamp),
        ),
        image_digest=IMAGE,
        trust=world.trust,
        policy=POLICY,
        now=world.now,
    )
    assert "RFC 3161 timestamp 0 verifies" in " ".join(result.checks)
