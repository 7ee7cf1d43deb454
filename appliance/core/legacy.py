"""cosign legacy signatures: one layer of a ``sha256-<hex>.sig`` image.

A layer is a simple-signing payload (the blob) and annotations: the signature,
the Fulcio certificate and chain, the Rekor "bundle" (a SET and the entry it
covers) and optionally an RFC 3161 stamp (formats.md §2). That is exactly a
v0.1 message-signature bundle over the payload bytes, so it is mapped onto
one and verified by :func:`~appliance.core.verifier.verify_bundle`; then the
payload's claims are checked: its type, and that it names the image digest.
The chain annotation is never trusted; paths come from the trusted root.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.core import _json, keys
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle, BundleVersion, MessageSignature, TlogEntry
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.policy import KeyPolicy
from appliance.core.report import TimeSource, VerificationResult
from appliance.core.verifier import verify_bundle

if TYPE_CHECKING:
    from datetime import datetime

    from appliance.core.policy import Policy
    from appliance.core.trust import TrustMaterial

SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
REKOR_BUNDLE = "dev.sigstore.cosign/bundle"
RFC3161 = "dev.sigstore.cosign/rfc3161timestamp"
PAYLOAD_TYPE = "cosign container image signature"


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacySignature:
    """One ``.sig`` layer: the payload blob and its layer annotations."""

    payload: bytes
    annotations: dict[str, str]


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("not base64", where=where) from exc


def _entry(annotation: str) -> TlogEntry:
    doc = _json.obj(_json.loads(annotation.encode(), what=REKOR_BUNDLE), REKOR_BUNDLE)
    payload = _json.obj(doc.get("Payload"), f"{REKOR_BUNDLE}.Payload")
    body = _b64(
        _json.string(payload, "body", REKOR_BUNDLE), f"{REKOR_BUNDLE}.Payload.body"
    )
    kind_doc = _json.obj(_json.loads(body, what="Rekor entry body"), "Rekor entry body")
    log_id_hex = _json.string(payload, "logID", REKOR_BUNDLE)
    try:
        log_id = bytes.fromhex(log_id_hex)
    except ValueError as exc:
        raise InputError("logID is not hex", where=REKOR_BUNDLE) from exc
    return TlogEntry(
        log_index=_json.int64(
            payload, "logIndex", REKOR_BUNDLE, maximum=_json.MAX_SAFE_INTEGER
        ),
        log_id=log_id,
        kind=str(kind_doc.get("kind", "")),
        version=str(kind_doc.get("apiVersion", "")),
        integrated_time=_json.int64(
            payload, "integratedTime", REKOR_BUNDLE, maximum=_json.MAX_UNIX_SECONDS
        ),
        signed_entry_timestamp=_b64(
            _json.string(doc, "SignedEntryTimestamp", REKOR_BUNDLE),
            f"{REKOR_BUNDLE}.SignedEntryTimestamp",
        ),
        inclusion_proof=None,
        canonicalized_body=body,
    )


def _timestamps(annotation: str | None) -> tuple[bytes, ...]:
    if not annotation:
        return ()
    doc = _json.obj(_json.loads(annotation.encode(), what=RFC3161), RFC3161)
    return (_b64(_json.string(doc, "SignedRFC3161Timestamp", RFC3161), RFC3161),)


def to_bundle(layer: LegacySignature) -> Bundle | None:
    """The v0.1 bundle a layer amounts to; None if it has no Rekor bundle.

    Raises:
        InputError: an annotation is malformed.
    """
    notes = layer.annotations
    signature = _b64(notes.get(SIGNATURE, ""), SIGNATURE)
    if not signature:
        raise InputError("layer has no signature", where=SIGNATURE)
    certificate = None
    if notes.get(CERTIFICATE):
        try:
            pem = x509.load_pem_x509_certificate(notes[CERTIFICATE].encode())
        except ValueError as exc:
            raise InputError("not a PEM certificate", where=CERTIFICATE) from exc
        certificate = pem.public_bytes(serialization.Encoding.DER)
    if not notes.get(REKOR_BUNDLE):
        return None
    return Bundle(
        media_type="application/vnd.dev.sigstore.bundle+json;version=0.1",
        version=BundleVersion.V0_1,
        certificate=certificate,
        extra_certificates=(),
        public_key_hint=None if certificate else "",
        tlog_entries=(_entry(notes[REKOR_BUNDLE]),),
        rfc3161_timestamps=_timestamps(notes.get(RFC3161)),
        content=MessageSignature(
            digest_algorithm="sha256",
            digest=hashlib.sha256(layer.payload).digest(),
            signature=signature,
        ),
    )


def check_payload(
    payload: bytes, *, image_digest: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """Check a simple-signing payload's claims (cosign ``SimpleClaimVerifier``).

    Raises:
        VerificationError: wrong type, another image, or annotations differ.
    """
    try:
        doc = _json.obj(_json.loads(payload, what="simple-signing payload"), "payload")
        critical = _json.obj(doc.get("critical"), "payload.critical")
    except InputError as exc:
        raise VerificationError(
            exc.diagnostics(), reason=Reason.MALFORMED_INPUT, where="payload"
        ) from exc
    if critical.get("type") != PAYLOAD_TYPE:
        raise VerificationError(
            f"payload type is {critical.get('type')!r}",
            reason=Reason.UNSUPPORTED_FORMAT,
            where="payload",
        )
    image = critical.get("image")
    # cosign (Go's JSON decoder) matches this key without regard to case.
    digests = (
        [v for k, v in image.items() if k.lower() == "docker-manifest-digest"]
        if isinstance(image, dict)
        else []
    )
    if digests != [image_digest]:
        raise VerificationError(
            f"payload signs {digests[0] if digests else 'no digest'}, not {image_digest}",
            reason=Reason.DIGEST_MISMATCH,
            where="payload",
        )
    optional = doc.get("optional") or {}
    for key, value in (annotations or {}).items():
        if not isinstance(optional, dict) or optional.get(key) != value:
            raise VerificationError(
                f"payload annotation {key!r} is not {value!r}",
                reason=Reason.POLICY_UNSATISFIED,
                where="payload",
            )
    return doc


def verify_legacy(  # noqa: PLR0913 - every input is keyword-only and named
    layer: LegacySignature,
    *,
    image_digest: str,
    trust: TrustMaterial,
    policy: Policy,
    now: datetime,
    require_tlog: bool = True,
    annotations: dict[str, str] | None = None,
) -> VerificationResult:
    """Verify one legacy signature layer for ``image_digest``.

    Args:
        layer: the payload blob and layer annotations.
        image_digest: ``sha256:<hex>`` of the image manifest being verified.
        trust: the trusted root's material.
        policy: the identity or key the signer must have.
        now: the caller's clock (recorded only).
        require_tlog: demand a Rekor entry (default). Only key-signed layers
            can ever pass without one.
        annotations: ``-a`` annotations the payload must carry.

    Raises:
        VerificationError: any check failed.
        InputError: the layer's annotations are malformed.
    """
    bundle = to_bundle(layer)
    if bundle is None:
        if require_tlog or not isinstance(policy, KeyPolicy):
            raise VerificationError(
                "signature has no Rekor entry (no bundle annotation)",
                reason=Reason.TLOG_ENTRY_MISSING,
                where="signature layer",
            )
        keys.verify(
            policy.key,
            _b64(layer.annotations.get(SIGNATURE, ""), SIGNATURE),
            layer.payload,
            what="image",
            where="signature layer",
        )
        check_payload(layer.payload, image_digest=image_digest, annotations=annotations)
        return VerificationResult(
            signer="key " + keys.key_id(policy.key).hex()[:16],
            issuer=None,
            signing_time=None,
            time_source=TimeSource.NONE,
            log_index=None,
            log_url=None,
            bundle_version="cosign-legacy",
            content="cosign-legacy",
            subject=image_digest,
            trust_source=trust.source,
            trust_sha256=trust.sha256,
            tuf_backed=trust.tuf_backed,
            checks=(
                "signature over the payload verifies (no transparency log demanded)",
                f"payload names {image_digest}",
            ),
        )
    result = verify_bundle(
        bundle, artifact=Artifact(layer.payload), trust=trust, policy=policy, now=now
    )
    check_payload(layer.payload, image_digest=image_digest, annotations=annotations)
    return replace(
        result,
        bundle_version="cosign-legacy",
        content="cosign-legacy",
        subject=image_digest,
        checks=(*result.checks, f"payload names {image_digest}"),
    )
