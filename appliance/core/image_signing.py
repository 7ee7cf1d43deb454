"""Pure builders for image signatures and attestations, as cosign writes them (no key in sight).

The signer signs what these return; nothing here talks to a registry.

* cosign legacy: a ``sha256-<hex>.sig`` image whose layers are simple-signing
  payloads (``application/vnd.dev.cosign.simplesigning.v1+json``) with the
  base64 signature in the ``dev.cosignproject.cosign/signature`` annotation;
  a ``sha256-<hex>.att`` image whose layers are DSSE envelopes
  (``application/vnd.dsse.envelope.v1+json``, annotation ``predicateType``).
  Signed offline with a key: no certificate, no log entry (docs/signing.md §7, §8).
* cosign v3: a Sigstore bundle v0.3 (DSSE, public-key hint, no log entry) as
  an OCI 1.1 referrer of the image (docs/cosign.md §9); the signing statement's
  predicate is ``https://sigstore.dev/cosign/sign/v1``.
* The boundary countersignature's attestation: a SLSA Verification Summary
  (``https://slsa.dev/verification_summary/v1``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.core import dsse, legacy
from appliance.core.archive import layout, media
from appliance.core.archive.manifest import Descriptor, digest_of
from appliance.core.signing import BUNDLE_V03, key_hint

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from appliance.core.keys import PublicKey

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
IN_TOTO = "application/vnd.in-toto+json"
# The layer annotations cosign reads back (appliance/core/legacy.py).
SIGNATURE_ANNOTATION = legacy.SIGNATURE
PREDICATE_ANNOTATION = legacy.PREDICATE_TYPE
# cosign's signature images carry this config (ggcr's empty image, its zero time).
_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class Blob:
    """A layer to push: its descriptor and bytes."""

    descriptor: Descriptor
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactImage:
    """A manifest to push, with the config and layers it names."""

    manifest: bytes
    media_type: str
    blobs: tuple[Blob, ...]

    @property
    def digest(self) -> str:
        """The manifest's digest."""
        return digest_of(self.manifest)


def signature_layer(payload: bytes, signature: bytes) -> Blob:
    """One ``.sig`` layer: the simple-signing payload, its signature in an annotation."""
    return Blob(
        descriptor=Descriptor(
            media_type=media.SIMPLESIGNING,
            digest=digest_of(payload),
            size=len(payload),
            annotations={SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()},
        ),
        data=payload,
    )


def attestation_layer(envelope: bytes, predicate_type: str) -> Blob:
    """One ``.att`` layer: a DSSE envelope (its signature is inside it)."""
    return Blob(
        descriptor=Descriptor(
            media_type=media.DSSE_ENVELOPE,
            digest=digest_of(envelope),
            size=len(envelope),
            annotations={
                SIGNATURE_ANNOTATION: "",
                PREDICATE_ANNOTATION: predicate_type,
            },
        ),
        data=envelope,
    )


def cosign_image(layers: Sequence[Descriptor]) -> ArtifactImage:
    """The ``.sig``/``.att`` image over ``layers`` (existing ones first: cosign appends).

    Its ``blobs`` hold the config only: the caller pushes the new layer.

    The config is the one go-containerregistry gives cosign's images: empty,
    with the layers' digests as diff ids (the layers are not compressed).
    """
    config = layout.canonical(
        {
            "architecture": "",
            "config": {},
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME}],
            "os": "",
            "rootfs": {
                "type": "layers",
                "diff_ids": [layer.digest for layer in layers],
            },
        }
    )
    config_blob = Blob(
        descriptor=Descriptor(
            media_type=media.OCI_CONFIG, digest=digest_of(config), size=len(config)
        ),
        data=config,
    )
    manifest = layout.canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": config_blob.descriptor.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
    )
    return ArtifactImage(
        manifest=manifest, media_type=media.OCI_MANIFEST, blobs=(config_blob,)
    )


def statement(
    *, name: str, image_digest: str, predicate_type: str, predicate: object
) -> bytes:
    """An in-toto v1 statement about one image digest."""
    return json.dumps(
        {
            "_type": STATEMENT_V1,
            "subject": [
                {
                    "name": name,
                    "digest": {"sha256": image_digest.removeprefix("sha256:")},
                }
            ],
            "predicateType": predicate_type,
            "predicate": predicate,
        },
        separators=(",", ":"),
    ).encode()


def to_sign(payload: bytes) -> bytes:
    """The bytes a DSSE signature covers: PAE over the in-toto payload."""
    return dsse.pae(IN_TOTO, payload)


def envelope(payload: bytes, signature: bytes) -> dict[str, Any]:
    """A DSSE envelope as cosign writes it (no key id)."""
    return {
        "payloadType": IN_TOTO,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
    }


def envelope_bytes(payload: bytes, signature: bytes) -> bytes:
    """The envelope as a ``.att`` layer holds it."""
    return json.dumps(envelope(payload, signature), separators=(",", ":")).encode()


def dsse_bundle(payload: bytes, signature: bytes, public_key: PublicKey) -> bytes:
    """A v0.3 bundle of a key-signed DSSE envelope, with no log entry (offline).

    Written as cosign v3 writes one (``protojson.Marshal`` of sigstore-go's
    ``sign.Bundle``; cosign pkg/cosign/bundle/sign.go): the DSSE signature
    carries ``sig`` only, no ``keyid`` (sigstore-go pkg/sign/content.go,
    ``DSSEData.Bundle``); the key is named by the public-key hint, base64 of
    SHA-256 over the DER SubjectPublicKeyInfo (sigstore-go pkg/sign/keys.go);
    and no ``tlogEntries`` member, since protojson omits an empty repeated
    field (docs/signing.md §8).
    """
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": key_hint(public_key)}},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": base64.b64encode(signature).decode()}],
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def bundle_referrer(
    bundle: bytes, *, subject: Descriptor, predicate_type: str, created: datetime
) -> ArtifactImage:
    """An OCI 1.1 referrer holding one bundle, as cosign v3 pushes it."""
    layer = Blob(
        descriptor=Descriptor(
            media_type=media.BUNDLE_V03, digest=digest_of(bundle), size=len(bundle)
        ),
        data=bundle,
    )
    empty = Blob(descriptor=layout.empty_config(), data=layout.EMPTY_CONFIG)
    manifest = layout.canonical(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": media.BUNDLE_V03,
            "config": empty.descriptor.to_json(),
            "layers": [layer.descriptor.to_json()],
            "subject": Descriptor(
                media_type=subject.media_type, digest=subject.digest, size=subject.size
            ).to_json(),
            "annotations": {
                media.BUNDLE_CONTENT: "dsse-envelope",
                media.BUNDLE_PREDICATE: predicate_type,
                media.CREATED: created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
    )
    return ArtifactImage(
        manifest=manifest, media_type=media.OCI_MANIFEST, blobs=(empty, layer)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """What a VSA says: who verified what, when, under which policy, from which evidence."""

    verifier: str
    version: str
    time_verified: datetime
    resource_uri: str
    policy_uri: str
    policy_sha256: str
    inputs: tuple[
        tuple[str, str], ...
    ]  # (uri, sha256) of each signature that satisfied the policy
    passed: bool
    levels: tuple[str, ...] = ()


def vsa_predicate(summary: Summary) -> dict[str, Any]:
    """The ``https://slsa.dev/verification_summary/v1`` predicate."""
    return {
        "verifier": {
            "id": summary.verifier,
            "version": {"airlock-appliance": summary.version},
        },
        "timeVerified": summary.time_verified.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resourceUri": summary.resource_uri,
        "policy": {
            "uri": summary.policy_uri,
            "digest": {"sha256": summary.policy_sha256},
        },
        "inputAttestations": [
            {"uri": uri, "digest": {"sha256": sha.removeprefix("sha256:")}}
            for uri, sha in summary.inputs
        ],
        "verificationResult": "PASSED" if summary.passed else "FAILED",
        "verifiedLevels": list(summary.levels),
        "slsaVersion": "1.0",
    }
