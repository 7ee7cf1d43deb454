"""What offline evidence a signature carries, and what the offline side will lack.

Assessed by the exporter for the ledger, from the signature's own bytes (no
verification: that is the appliance's job, against its own trust). The
ledger then tells the operator, before the archive crosses the gap, which
signatures cannot verify offline and why: a v0.1 bundle whose proof has no
checkpoint rests on its SET alone; keyless material with neither a SET nor
an RFC 3161 stamp has no verified time at all; key-signed material without a
log entry needs ``--insecure-ignore-tlog``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.core import legacy
from appliance.core.archive import media
from appliance.core.archive.ledger import Evidence
from appliance.core.archive.manifest import digest_of
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

NO_TLOG_KEY = (
    "no transparency log entry: key-signed, verifies only under --insecure-ignore-tlog"
)
NO_TLOG_CERT = "no transparency log entry: a certificate cannot verify without one"
NO_TIME = "no verified time (no SET, no RFC 3161 stamp): a certificate cannot verify"
SET_ONLY = "no inclusion proof: rests on the log's SET alone"
NO_CHECKPOINT = "inclusion proof without a checkpoint: ignored offline (v0.1)"


def _lacks(  # noqa: PLR0913 - keyword-only, each piece of evidence named
    *,
    certificate: bool,
    entries: int,
    set_: bool,
    proof: bool,
    checkpoint: bool,
    stamps: int,
) -> tuple[str, ...]:
    lacks: list[str] = []
    if entries == 0:
        lacks.append(NO_TLOG_CERT if certificate else NO_TLOG_KEY)
    elif certificate and not set_ and stamps == 0:
        lacks.append(NO_TIME)
    if entries and not proof:
        lacks.append(SET_ONLY)
    if proof and not checkpoint:
        lacks.append(NO_CHECKPOINT)
    return tuple(lacks)


def of_bundle(data: bytes) -> Evidence:
    """The evidence a Sigstore bundle carries."""
    blob = digest_of(data)
    try:
        bundle = Bundle.from_bytes(data)
    except InputError as exc:
        return Evidence(
            blob=blob, form="unreadable", signer="none", lacks=(exc.diagnostics(),)
        )
    set_ = any(e.signed_entry_timestamp for e in bundle.tlog_entries)
    proof = any(e.inclusion_proof for e in bundle.tlog_entries)
    checkpoint = any(
        e.inclusion_proof is not None and e.inclusion_proof.checkpoint
        for e in bundle.tlog_entries
    )
    certificate = bundle.certificate is not None
    return Evidence(
        blob=blob,
        form="sigstore-bundle",
        signer="certificate" if certificate else "key",
        set=set_,
        inclusion_proof=proof,
        checkpoint=checkpoint,
        rfc3161=len(bundle.rfc3161_timestamps),
        lacks=_lacks(
            certificate=certificate,
            entries=len(bundle.tlog_entries),
            set_=set_,
            proof=proof,
            checkpoint=checkpoint,
            stamps=len(bundle.rfc3161_timestamps),
        ),
    )


def of_layer(
    layer_media_type: str, blob: str, annotations: Mapping[str, str]
) -> Evidence:
    """The evidence a cosign legacy ``.sig``/``.att`` layer carries."""
    if layer_media_type in media.SBOM_TYPES:
        return Evidence(
            blob=blob,
            form="sbom",
            signer="none",
            lacks=("unsigned: an SBOM attachment",),
        )
    form = (
        "dsse-attestation"
        if layer_media_type == media.DSSE_ENVELOPE
        else "cosign-legacy"
    )
    certificate = bool(annotations.get(legacy.CERTIFICATE))
    set_ = bool(annotations.get(legacy.REKOR_BUNDLE))
    stamps = 1 if annotations.get(legacy.RFC3161) else 0
    return Evidence(
        blob=blob,
        form=form,
        signer="certificate" if certificate else "key",
        set=set_,
        rfc3161=stamps,
        lacks=_lacks(
            certificate=certificate,
            entries=1 if set_ else 0,
            set_=set_,
            proof=False,
            checkpoint=False,
            stamps=stamps,
        ),
    )
