"""Signatures and attestations written next to images in the in-gap registry.

``appliance sign``, ``appliance attest`` and ``load --countersign-key`` write
through :class:`ImageWriter`. The image is resolved once, by tag or digest,
and everything after uses the digest: a tag that moves during signing cannot
redirect a signature. Every signature is verified with the public key by the
appliance's own verifier before it is pushed. Layers are appended to an
existing ``.sig``/``.att`` image, never replacing what is there; a layer this
key already wrote for the same payload is not written twice (a re-run after a
failure completes without duplicates). The push order is the strict
registries' one: blobs, then the manifest, then the referrers listing.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.core import image_signing, keys, signing
from appliance.core.archive import media
from appliance.core.archive.manifest import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    digest_of,
    parse,
)
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.legacy import (
    LegacySignature,
    verify_legacy,
    verify_legacy_attestation,
)
from appliance.core.policy import KeyPolicy
from appliance.core.verifier import verify_bundle
from appliance.load.push import list_referrers

if TYPE_CHECKING:
    from datetime import datetime

    from airlock_registry.client import RegistryClient
    from appliance.core.archive.plan import Plan
    from appliance.core.archive.reference import Reference
    from appliance.core.archive.verdict import ArchiveVerdict
    from appliance.core.image_signing import ArtifactImage, Blob
    from appliance.core.trust import TrustMaterial
    from appliance.signer.interface import Signer

COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """One thing written: what, where, about which digest."""

    kind: str  # signature | attestation | bundle
    repository: str
    reference: str  # the tag, or the referrer's digest
    digest: str  # the manifest written
    subject: str
    skipped: bool = False  # already there, by this key, for this payload

    def to_json(self) -> dict[str, object]:
        """For reports and the audit log."""
        return {
            "kind": self.kind,
            "repository": self.repository,
            "reference": self.reference,
            "digest": self.digest,
            "subject": self.subject,
            "already_there": self.skipped,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """An image resolved once: its digest, media type and size, and its platforms."""

    repository: str
    name: str  # registry/repository, the docker-reference
    digest: str
    media_type: str
    size: int
    platforms: tuple[Descriptor, ...]

    @property
    def descriptor(self) -> Descriptor:
        """The image as a referrer's subject."""
        return Descriptor(
            media_type=self.media_type, digest=self.digest, size=self.size
        )


class ImageWriter:
    """Writes signatures and attestations about images of one registry.

    Args:
        client: the registry (confined by the seal to the host named).
        signer: the key (an HSM session, or a file key).
        trust: trust material for the self-check (key signatures need none of it).
        now: the clock, read once.
    """

    def __init__(
        self,
        client: RegistryClient,
        signer: Signer,
        *,
        trust: TrustMaterial,
        now: datetime,
    ) -> None:
        self.client = client
        self.signer = signer
        self.trust = trust
        self.now = now
        self.policy = KeyPolicy(key=signer.public_key)

    def resolve(self, ref: Reference) -> Resolved:
        """The image's digest, once (a tag is read a single time).

        Raises:
            InputError: no such image in the registry.
        """
        wanted = ref.digest or ref.tag or "latest"
        fetched = self.client.manifest(ref.repository, wanted)
        if fetched is None:
            msg = "no such image in the registry"
            raise InputError(msg, where=str(ref), reason=Reason.USAGE)
        manifest = parse(fetched.data, media_type=fetched.media_type, where=str(ref))
        platforms = manifest.manifests if isinstance(manifest, ImageIndex) else ()
        return Resolved(
            repository=ref.repository,
            name=ref.name,
            digest=fetched.digest,
            media_type=manifest.media_type or fetched.media_type,
            size=len(fetched.data),
            platforms=tuple(platforms),
        )

    # -- cosign legacy -------------------------------------------------------------

    def sign(
        self, image: Resolved, subject: str, annotations: dict[str, str] | None
    ) -> Written:
        """Append a simple-signing signature of ``subject`` to its ``.sig`` image."""
        payload = signing.simple_signing_payload(
            subject, image.name, annotations or None
        )
        tag = f"sha256-{subject.removeprefix('sha256:')}.sig"
        mine = self._mine(image.repository, tag, payload, attestation=False)
        if mine is not None:
            return Written(
                kind="signature",
                repository=image.repository,
                reference=tag,
                digest=mine,
                subject=subject,
                skipped=True,
            )
        layer = image_signing.signature_layer(payload, self.signer.sign(payload))
        # Our own verifier, before anything is pushed. In the gap there is no
        # transparency log: the signature is the appliance key's alone, and is
        # checked as such (it is trusted for what the key is, never more).
        verify_legacy(
            LegacySignature(payload=payload, annotations=layer.descriptor.annotations),
            image_digest=subject,
            trust=self.trust,
            policy=self.policy,
            now=self.now,
            insecure_ignore_tlog=True,
            annotations=annotations,
            reference=image.name,
        )
        digest = self._append(image.repository, tag, layer)
        return Written(
            kind="signature",
            repository=image.repository,
            reference=tag,
            digest=digest,
            subject=subject,
        )

    def attest(
        self, image: Resolved, subject: str, predicate_type: str, predicate: object
    ) -> Written:
        """Append a DSSE in-toto attestation about ``subject`` to its ``.att`` image."""
        statement = image_signing.statement(
            name=image.name,
            image_digest=subject,
            predicate_type=predicate_type,
            predicate=predicate,
        )
        tag = f"sha256-{subject.removeprefix('sha256:')}.att"
        mine = self._mine(image.repository, tag, statement, attestation=True)
        if mine is not None:
            return Written(
                kind="attestation",
                repository=image.repository,
                reference=tag,
                digest=mine,
                subject=subject,
                skipped=True,
            )
        envelope = image_signing.envelope_bytes(
            statement, self.signer.sign(image_signing.to_sign(statement))
        )
        layer = image_signing.attestation_layer(envelope, predicate_type)
        # Self-verified with no log, for the reason sign() gives.
        verify_legacy_attestation(
            LegacySignature(payload=envelope, annotations=layer.descriptor.annotations),
            image_digest=subject,
            trust=self.trust,
            policy=self.policy,
            now=self.now,
            insecure_ignore_tlog=True,
        )
        digest = self._append(image.repository, tag, layer)
        return Written(
            kind="attestation",
            repository=image.repository,
            reference=tag,
            digest=digest,
            subject=subject,
        )

    def _append(self, repository: str, tag: str, layer: Blob) -> str:
        existing = self._layers(repository, tag)
        image = image_signing.cosign_image([*existing, layer.descriptor])
        self.client.push_blob(repository, layer.descriptor, [layer.data])
        self._push(repository, tag, image)
        return image.digest

    def _layers(self, repository: str, tag: str) -> list[Descriptor]:
        fetched = self.client.manifest(repository, tag)
        if fetched is None:
            return []
        manifest = parse(
            fetched.data, media_type=fetched.media_type, where=f"{repository}:{tag}"
        )
        if not isinstance(manifest, ImageManifest):
            msg = (
                f"tag {tag} holds an index, not a cosign signature image; not replaced"
            )
            raise InputError(
                msg,
                where=f"registry {self.client.host}",
                reason=Reason.INPUT_UNREADABLE,
            )
        return list(manifest.layers)

    def _mine(
        self, repository: str, tag: str, payload: bytes, *, attestation: bool
    ) -> str | None:
        """The tag's digest if a layer there already holds ``payload`` signed by this key."""
        fetched = self.client.manifest(repository, tag)
        if fetched is None:
            return None
        manifest = parse(
            fetched.data, media_type=fetched.media_type, where=f"{repository}:{tag}"
        )
        if not isinstance(manifest, ImageManifest):
            return None
        for layer in manifest.layers:
            if (
                attestation
                and layer.media_type == media.DSSE_ENVELOPE
                and self._same_envelope(repository, layer, payload)
            ):
                return fetched.digest
            if (
                not attestation
                and layer.digest == digest_of(payload)
                and self._verifies(payload, layer)
            ):
                return fetched.digest
        return None

    def _verifies(self, payload: bytes, layer: Descriptor) -> bool:
        try:
            signature = base64.b64decode(
                layer.annotations.get(image_signing.SIGNATURE_ANNOTATION, ""),
                validate=True,
            )
            keys.verify(
                self.signer.public_key,
                signature,
                payload,
                what="an existing .sig layer",
            )
        except (binascii.Error, ValueError, VerificationError):
            return False
        return True

    def _same_envelope(
        self, repository: str, layer: Descriptor, statement: bytes
    ) -> bool:
        try:
            data = self.client.blob_bytes(repository, layer, max_bytes=16 * 1024 * 1024)
            doc: dict[str, Any] = json.loads(data)
            payload = base64.b64decode(doc["payload"], validate=True)
            signature = base64.b64decode(doc["signatures"][0]["sig"], validate=True)
            if payload != statement:
                return False
            keys.verify(
                self.signer.public_key,
                signature,
                image_signing.to_sign(payload),
                what="an existing .att layer",
            )
        except (
            binascii.Error,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
            VerificationError,
        ):
            return False
        return True

    # -- cosign v3 -------------------------------------------------------------------

    def bundle(
        self,
        image: Resolved,
        subject: Descriptor,
        predicate_type: str,
        predicate: object,
    ) -> Written:
        """Push a v0.3 bundle (DSSE) about ``subject`` as an OCI 1.1 referrer."""
        statement = image_signing.statement(
            name=image.name,
            image_digest=subject.digest,
            predicate_type=predicate_type,
            predicate=predicate,
        )
        signature = self.signer.sign(image_signing.to_sign(statement))
        bundle = image_signing.dsse_bundle(statement, signature, self.signer.public_key)
        verify_bundle(
            Bundle.from_bytes(bundle),
            artifact=Artifact.from_digest(
                "sha256", bytes.fromhex(subject.digest.removeprefix("sha256:"))
            ),
            trust=self.trust,
            policy=self.policy,
            now=self.now,
            insecure_ignore_tlog=True,
        )
        referrer = image_signing.bundle_referrer(
            bundle, subject=subject, predicate_type=predicate_type, created=self.now
        )
        layer = referrer.blobs[-1]
        self.client.push_blob(image.repository, layer.descriptor, [layer.data])
        self._push(image.repository, referrer.digest, referrer)
        listed = Descriptor(
            media_type=media.OCI_MANIFEST,
            digest=referrer.digest,
            size=len(referrer.manifest),
            artifact_type=media.BUNDLE_V03,
            annotations={
                media.BUNDLE_CONTENT: "dsse-envelope",
                media.BUNDLE_PREDICATE: predicate_type,
            },
        )
        list_referrers(self.client, image.repository, subject.digest, [listed])
        return Written(
            kind="bundle",
            repository=image.repository,
            reference=referrer.digest,
            digest=referrer.digest,
            subject=subject.digest,
        )

    def _push(self, repository: str, reference: str, image: ArtifactImage) -> None:
        for blob in image.blobs:
            if not self.client.has_blob(repository, blob.descriptor.digest):
                self.client.push_blob(repository, blob.descriptor, [blob.data])
        self.client.push_manifest(
            repository, reference, image.manifest, image.media_type
        )


# -- the commands' units of work ---------------------------------------------------------


def sign_image(
    writer: ImageWriter,
    ref: Reference,
    *,
    annotations: dict[str, str],
    recursive: bool,
    bundles: bool,
) -> tuple[Resolved, list[Written]]:
    """``appliance sign``: the image (and with ``recursive`` each platform), once each.

    Raises:
        InputError: no such image; the registry failed (what was written is
            complete layers only: a re-run adds nothing twice).
    """
    image = writer.resolve(ref)
    subjects = [image.descriptor, *(image.platforms if recursive else ())]
    written = []
    for subject in subjects:
        written.append(writer.sign(image, subject.digest, annotations))
        if bundles:
            written.append(writer.bundle(image, subject, COSIGN_SIGN, {}))
    return image, written


def attest_image(
    writer: ImageWriter,
    ref: Reference,
    *,
    predicate_type: str,
    predicate: object,
    bundles: bool,
) -> tuple[Resolved, list[Written]]:
    """``appliance attest``: one DSSE in-toto statement about the image digest."""
    image = writer.resolve(ref)
    written = [writer.attest(image, image.digest, predicate_type, predicate)]
    if bundles:
        written.append(
            writer.bundle(image, image.descriptor, predicate_type, predicate)
        )
    return image, written


VERIFIER_ID = "urn:airlock:appliance"


@dataclass(frozen=True, slots=True, kw_only=True)
class Countersign:
    """What the boundary countersignature says of each image it signs."""

    registry: str  # host[:port] the images were loaded into
    version: str
    policy_uri: str
    policy_sha256: str


def countersign(
    writer: ImageWriter,
    image: Resolved,
    *,
    inputs: tuple[tuple[str, str], ...],
    facts: Countersign,
) -> list[Written]:
    """A ``.sig`` by the appliance's key and a SLSA VSA ``.att`` for one image that passed.

    Args:
        writer: the registry and the appliance's key.
        image: the image as loaded (resolved by digest).
        inputs: ``(uri, sha256)`` of the signatures that satisfied the policy.
        facts: the verifier, the policy.
    """
    summary = image_signing.Summary(
        verifier=VERIFIER_ID,
        version=facts.version,
        time_verified=writer.now,
        resource_uri=f"oci://{facts.registry}/{image.repository}@{image.digest}",
        policy_uri=facts.policy_uri,
        policy_sha256=facts.policy_sha256,
        inputs=inputs,
        passed=True,  # only what passed is ever countersigned
    )
    return [
        writer.sign(image, image.digest, None),
        writer.attest(
            image, image.digest, media.VSA, image_signing.vsa_predicate(summary)
        ),
    ]


def countersign_loaded(  # noqa: PLR0913 - every input named
    client: RegistryClient,
    signer: Signer,
    *,
    plan: Plan,
    verdict: ArchiveVerdict,
    facts: Countersign,
    now: datetime,
) -> list[Written]:
    """``load --countersign-key``: countersign every image the plan pushed (all passed)."""
    from appliance.core.archive.reference import parse_reference  # noqa: PLC0415
    from appliance.trust import roots  # noqa: PLC0415

    writer = ImageWriter(client, signer, trust=roots.load_embedded(now=now), now=now)
    passed = {(i.reference, i.digest): i for i in verdict.images if i.verified}
    written: list[Written] = []
    for planned in plan.images:
        judged = passed.get((planned.reference, planned.digest))
        if judged is None:
            continue  # never: the plan holds only what passed; and nothing else is countersigned
        image = writer.resolve(
            parse_reference(f"{facts.registry}/{planned.repository}@{planned.digest}")
        )
        inputs = tuple(
            (
                f"oci://{facts.registry}/{planned.repository}@{e.site.manifest}",
                e.site.blob,
            )
            for e in (*judged.signatures, *judged.attestations)
            if e.verified and e.satisfies
        )
        written += countersign(writer, image, inputs=inputs, facts=facts)
    return written
