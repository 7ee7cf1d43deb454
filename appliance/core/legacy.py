"""cosign legacy signatures and attestations: layers of ``.sig`` and ``.att`` images.

A ``.sig`` layer is a simple-signing payload (the blob) and annotations: the
signature, the Fulcio certificate and chain, the Rekor "bundle" (a SET and
the entry it covers) and optionally an RFC 3161 stamp (docs/cosign.md §4). That is
exactly a v0.1 message-signature bundle over the payload bytes, so it is
mapped onto one and verified by :func:`~appliance.core.verifier.verify_bundle`;
then the payload's claims are checked: its type, that it names the image
digest, the ``docker-reference`` when one is demanded, and ``-a`` annotations.

A ``.att`` layer is a DSSE envelope (the blob, the exact bytes logged) with
the same annotations (its signature annotation is empty: the signature is in
the envelope). It maps onto a DSSE bundle; the statement must name the image
digest among its subjects (docs/cosign.md §6, docs/attestations.md §3).

The chain annotation is never trusted; paths come from the trusted root. A
layer without a Rekor bundle maps onto a bundle without log entries, which
only a key signature can pass, and only under ``insecure_ignore_tlog``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.core import _json
from appliance.core.annotations import verify_annotations
from appliance.core.archive.reference import parse_reference
from appliance.core.artifact import Artifact
from appliance.core.bundle import (
    Bundle,
    BundleVersion,
    DsseEnvelope,
    DsseSignature,
    MessageSignature,
    TlogEntry,
)
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.verifier import verify_bundle

if TYPE_CHECKING:
    from datetime import datetime

    from appliance.core.policy import Policy
    from appliance.core.report import VerificationResult
    from appliance.core.trust import TrustMaterial

SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
REKOR_BUNDLE = "dev.sigstore.cosign/bundle"
RFC3161 = "dev.sigstore.cosign/rfc3161timestamp"
PREDICATE_TYPE = "predicateType"
PAYLOAD_TYPE = "cosign container image signature"
_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacySignature:
    """One ``.sig`` or ``.att`` layer: its blob and its layer annotations."""

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


def _certificate(notes: dict[str, str]) -> bytes | None:
    if not notes.get(CERTIFICATE):
        return None
    try:
        pem = x509.load_pem_x509_certificate(notes[CERTIFICATE].encode())
    except ValueError as exc:
        raise InputError("not a PEM certificate", where=CERTIFICATE) from exc
    return pem.public_bytes(serialization.Encoding.DER)


def _bundle(
    notes: dict[str, str],
    content: MessageSignature | DsseEnvelope,
    *,
    stamped: bytes | None = None,
) -> Bundle:
    certificate = _certificate(notes)
    return Bundle(
        media_type=_V01,
        version=BundleVersion.V0_1,
        certificate=certificate,
        extra_certificates=(),
        public_key_hint=None if certificate else "",
        tlog_entries=(_entry(notes[REKOR_BUNDLE]),) if notes.get(REKOR_BUNDLE) else (),
        rfc3161_timestamps=_timestamps(notes.get(RFC3161)),
        content=content,
        stamped=stamped,
    )


def to_bundle(layer: LegacySignature) -> Bundle:
    """The v0.1 message-signature bundle a ``.sig`` layer amounts to.

    Raises:
        InputError: an annotation is malformed.
    """
    signature = _b64(layer.annotations.get(SIGNATURE, ""), SIGNATURE)
    if not signature:
        raise InputError("layer has no signature", where=SIGNATURE)
    return _bundle(
        layer.annotations,
        MessageSignature(
            digest_algorithm="sha256",
            digest=hashlib.sha256(layer.payload).digest(),
            signature=signature,
        ),
    )


def to_attestation_bundle(layer: LegacySignature) -> Bundle:
    """The DSSE bundle a ``.att`` layer (an envelope and annotations) amounts to.

    Raises:
        InputError: the envelope or an annotation is malformed.
    """
    where = "attestation envelope"
    envelope = _json.obj(_json.loads(layer.payload, what=where), where)
    signatures = _json.member_list(envelope, "signatures", where)
    if len(signatures) != 1:
        # cosign attests with one key; a bundle carries exactly one signature.
        msg = f"expected one signature, found {len(signatures)}"
        raise InputError(msg, where=where)
    signature = _json.obj(signatures[0], f"{where}.signatures[0]")
    # cosign stamps an attestation's layer blob, the DSSE envelope bytes as
    # stored, not its signature (which the layer's empty signature annotation
    # leaves it without) nor the statement: cosign attest (v2) sends
    # ``signedPayload`` (the envelope) to the TSA, and pkg/cosign/verify.go's
    # VerifyRFC3161Timestamp checks the imprint against ``sig.Payload()``
    # when ``Base64Signature`` is empty (docs/cosign.md §6).
    return _bundle(
        layer.annotations,
        DsseEnvelope(
            payload=_json.b64(
                envelope.get("payload"), f"{where}.payload", allow_empty=True
            ),
            payload_type=_json.string(envelope, "payloadType", where),
            signatures=(
                DsseSignature(
                    sig=_json.b64(signature.get("sig"), f"{where}.signatures[0].sig"),
                    keyid=_json.opt_string(signature, "keyid", where) or "",
                ),
            ),
        ),
        stamped=layer.payload,
    )


def _same_repository(claimed: object, repository: str) -> bool:
    """Whether a payload's ``docker-reference`` names ``repository``.

    The repository *path* must be the one signed: ``acme/app`` signed is not
    ``acme/app-debug`` exported. The registry may differ, and a prefix may
    be added in front (a mirror; the in-gap registry ``appliance load``
    writes to, under ``--to HOST/PREFIX``): images move between registries
    by digest, and their signatures with them. Both sides are normalised as
    docker does (cosign writes ``index.docker.io`` for Docker Hub); a claim
    that is not a reference never matches.
    """
    if not isinstance(claimed, str):
        return False
    try:
        signed = parse_reference(claimed).repository
        exported = parse_reference(repository).repository
    except InputError:
        return False
    return exported == signed or exported.endswith(f"/{signed}")


def check_payload(
    payload: bytes,
    *,
    image_digest: str,
    annotations: dict[str, str] | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Check a simple-signing payload's claims (cosign ``SimpleClaimVerifier``).

    Args:
        payload: the verified payload bytes.
        image_digest: the digest the payload must name.
        annotations: ``-a`` annotations it must carry under ``optional``.
        reference: if given, the ``docker-reference`` it must name when it
            names one (the repository the image was exported from).

    Raises:
        VerificationError: wrong type, another image or repository, or
            annotations differ.
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
            f"payload type is {str(critical.get('type'))[:60]!r}",
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
            f"payload signs {str(digests[0])[:80] if digests else 'no digest'}, not {image_digest}",
            reason=Reason.DIGEST_MISMATCH,
            where="payload",
        )
    identity = critical.get("identity")
    claimed = identity.get("docker-reference") if isinstance(identity, dict) else None
    if (
        reference is not None
        and claimed not in (None, "")
        and not _same_repository(claimed, reference)
    ):
        raise VerificationError(
            f"payload was signed for {str(claimed)[:120]}, not {reference}",
            reason=Reason.DIGEST_MISMATCH,
            where="payload",
        )
    optional = doc.get("optional")
    verify_annotations(
        optional if isinstance(optional, dict) else None,
        demanded=annotations or {},
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
    insecure_ignore_tlog: bool = False,
    annotations: dict[str, str] | None = None,
    reference: str | None = None,
) -> VerificationResult:
    """Verify one ``.sig`` layer for ``image_digest``.

    Args:
        layer: the payload blob and layer annotations.
        image_digest: ``sha256:<hex>`` of the image manifest being verified.
        trust: the trusted root's material.
        policy: the identity or key the signer must have.
        now: the caller's clock (recorded only).
        insecure_ignore_tlog: do not demand a Rekor entry (cosign's
            ``--insecure-ignore-tlog``); only key-signed layers can ever pass
            without one, and entries present are still verified.
        annotations: ``-a`` annotations the payload must carry.
        reference: the repository the payload's ``docker-reference`` must
            name, if it names one.

    Raises:
        VerificationError: any check failed.
        InputError: the layer's annotations are malformed.
    """
    result = verify_bundle(
        to_bundle(layer),
        artifact=Artifact(layer.payload),
        trust=trust,
        policy=policy,
        now=now,
        insecure_ignore_tlog=insecure_ignore_tlog,
    )
    doc = check_payload(
        layer.payload,
        image_digest=image_digest,
        annotations=annotations,
        reference=reference,
    )
    optional = doc.get("optional")
    return replace(
        result,
        bundle_version="cosign-legacy",
        content="cosign-legacy",
        subject=image_digest,
        subject_annotations=dict(optional) if isinstance(optional, dict) else None,
        checks=(
            *result.checks,
            f"payload names {image_digest}",
            *(
                [f"payload's docker-reference, if any, names {reference}"]
                if reference
                else []
            ),
            *(
                [f"payload carries annotations {sorted(annotations)}"]
                if annotations
                else []
            ),
        ),
    )


def verify_legacy_attestation(  # noqa: PLR0913 - every input is keyword-only and named
    layer: LegacySignature,
    *,
    image_digest: str,
    trust: TrustMaterial,
    policy: Policy,
    now: datetime,
    insecure_ignore_tlog: bool = False,
) -> VerificationResult:
    """Verify one ``.att`` layer: its envelope, log entry, and subject.

    Raises:
        VerificationError: any check failed (the statement must name
            ``image_digest`` among its subjects).
        InputError: the envelope or its annotations are malformed.
    """
    digest = bytes.fromhex(image_digest.removeprefix("sha256:"))
    result = verify_bundle(
        to_attestation_bundle(layer),
        artifact=Artifact.from_digest("sha256", digest),
        trust=trust,
        policy=policy,
        now=now,
        insecure_ignore_tlog=insecure_ignore_tlog,
    )
    return replace(
        result, bundle_version="cosign-legacy", content="cosign-legacy-attestation"
    )
