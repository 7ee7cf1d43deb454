"""A small world of signed images in a registry, as the mission meets them.

``publish_world`` publishes, in one repository namespace:

* ``app:v1``: a single-platform image (layers of a few MiB), signed keylessly
  (legacy ``.sig``), attested (legacy ``.att``, SLSA provenance, itself signed:
  an attestation's own signature), with an SBOM attachment (``.sbom``), and
  signed again with a key (a second ``.sig`` layer, logged);
* ``multi:v2``: a two-platform index, signed keylessly with a cosign v3 bundle
  referrer (tag fallback), its index *and* each platform (``--recursive``);
* ``rogue:v1``: an image signed by the wrong identity.

Used by the exporter, the verifier, the loader and the demo alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import oci, publish

if TYPE_CHECKING:
    from tests.helpers.registry import Registry
    from tests.helpers.sigstore_stack import SigstoreStack

IDENTITY = "release@airlock.test"
ROGUE = "intruder@elsewhere.test"
SBOM = b'{"spdxVersion":"SPDX-2.3","name":"app","packages":[{"name":"busybox","versionInfo":"1.36"},{"name":"musl","versionInfo":"1.2.4"}]}'


@dataclass
class World:
    """What was published, and with what keys."""

    registry: Registry
    stack: SigstoreStack
    namespace: str
    app: publish.Image
    multi: publish.Image
    rogue: publish.Image
    key: ec.EllipticCurvePrivateKey
    related: dict[str, list[str]] = field(
        default_factory=dict
    )  # image -> manifest digests

    @property
    def public_pem(self) -> bytes:
        """The release key's public half, PEM."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def references(self) -> list[str]:
        """Every image's reference."""
        return [self.app.reference, self.multi.reference, self.rogue.reference]


def publish_world(
    registry: Registry,
    stack: SigstoreStack,
    *,
    namespace: str,
    layer_bytes: int = 2 * 1024 * 1024,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> World:
    """Publish the world under ``namespace/`` in ``registry`` (signed with ``key``, else a fresh one)."""
    signer = publish.Signer(registry, stack)
    key = key or ec.generate_private_key(ec.SECP256R1())
    app = publish.image(
        registry, f"{namespace}/app", "v1", layer_bytes=layer_bytes, layers=2
    )
    multi = publish.index(
        registry, f"{namespace}/multi", "v2", layer_bytes=layer_bytes // 2
    )
    rogue = publish.image(registry, f"{namespace}/rogue", "v1")
    related: dict[str, list[str]] = {"app": [], "multi": [], "rogue": []}
    signer.sign_legacy(app, identity=IDENTITY)
    attestation = signer.attest_legacy(
        app,
        identity=IDENTITY,
        predicate={
            "buildDefinition": {"buildType": "https://airlock.test/build/v1"},
            "runDetails": {"builder": {"id": "https://ci.airlock.test/builder"}},
        },
    )
    related["app"].append(attestation)
    related["app"].append(signer.attach_sbom(app, SBOM))
    # Appended to the same .sig image: the tag now names the two-layer manifest.
    related["app"].append(signer.sign_legacy(app, key=key))
    # An attestation's own signature: a signature of the .att manifest.
    related["app"].append(
        signer.sign_legacy(app, digest=attestation, identity=IDENTITY)
    )
    related["multi"].append(signer.bundle_referrer(multi, identity=IDENTITY))
    for platform_digest in multi.platforms.values():
        related["multi"].append(
            signer.bundle_referrer(
                multi,
                identity=IDENTITY,
                subject={
                    "mediaType": oci.MANIFEST,
                    "digest": platform_digest,
                    "size": _size(registry, multi.repo, platform_digest),
                },
            )
        )
    related["rogue"].append(signer.sign_legacy(rogue, identity=ROGUE))
    return World(
        registry=registry,
        stack=stack,
        namespace=namespace,
        app=app,
        multi=multi,
        rogue=rogue,
        key=key,
        related=related,
    )


def _size(registry: Registry, repo: str, digest: str) -> int:
    return len(registry.get_manifest(repo, digest).body)


@dataclass
class Trouble:
    """Images an adversary (or an accident) left in the registry, each wrong one way."""

    copied: publish.Image  # carries app's .sig, whose payload names app's digest
    moved: publish.Image  # signed for another repository, then tagged here
    unsigned: publish.Image  # no signature at all
    elsewhere: publish.Image  # signed, attested with a statement about app's digest
    tampered: publish.Image  # its .sig payload edited after signing
    shallow: publish.Image  # an index signed, its platforms not (no --recursive)

    @property
    def references(self) -> list[str]:
        """Every image's reference."""
        return [
            i.reference
            for i in (
                self.copied,
                self.moved,
                self.unsigned,
                self.elsewhere,
                self.tampered,
                self.shallow,
            )
        ]


def copy_tag(
    registry: Registry, src_repo: str, tag: str, dst_repo: str, dst_tag: str
) -> str:
    """Copy a manifest and its blobs between repositories; return its digest."""
    manifest = registry.get_manifest(src_repo, tag)
    doc = json.loads(manifest.body)
    for blob in [doc["config"], *doc["layers"]]:
        registry.push_blob(dst_repo, registry.get_blob(src_repo, blob["digest"]))
    return registry.push_manifest(dst_repo, dst_tag, manifest.body, manifest.media_type)


def _sig_tag(digest: str) -> str:
    return f"sha256-{digest.removeprefix('sha256:')}.sig"


def publish_trouble(world: World) -> Trouble:
    """Publish, beside ``world``, one image per way a signature can be wrong."""
    registry, ns = world.registry, world.namespace
    signer = publish.Signer(registry, world.stack)
    copied = publish.image(registry, f"{ns}/copied", "v1")
    # The app's signature manifest, byte for byte, filed under another image.
    copy_tag(
        registry,
        world.app.repo,
        _sig_tag(world.app.digest),
        f"{ns}/copied",
        _sig_tag(copied.digest),
    )
    moved = publish.image(registry, f"{ns}/moved", "v1")
    signer.sign_legacy(
        moved, identity=IDENTITY, reference=f"{registry.address}/{ns}/staging"
    )
    unsigned = publish.image(registry, f"{ns}/unsigned", "v1")
    elsewhere = publish.image(registry, f"{ns}/elsewhere", "v1")
    signer.sign_legacy(elsewhere, identity=IDENTITY)
    signer.attest_legacy(elsewhere, identity=IDENTITY, subject_digest=world.app.digest)
    tampered = publish.image(registry, f"{ns}/tampered", "v1")
    signer.sign_legacy(tampered, identity=IDENTITY)
    _tamper_payload(registry, tampered)
    shallow = publish.index(registry, f"{ns}/shallow", "v1")
    signer.bundle_referrer(shallow, identity=IDENTITY)
    return Trouble(
        copied=copied,
        moved=moved,
        unsigned=unsigned,
        elsewhere=elsewhere,
        tampered=tampered,
        shallow=shallow,
    )


def _tamper_payload(registry: Registry, target: publish.Image) -> None:
    """Re-publish the ``.sig`` with an edited payload and the original signature."""
    tag = _sig_tag(target.digest)
    doc = json.loads(registry.get_manifest(target.repo, tag).body)
    layer = doc["layers"][0]
    payload = json.loads(registry.get_blob(target.repo, layer["digest"]))
    payload["optional"] = {"approved": "yes"}
    data = json.dumps(payload, separators=(",", ":")).encode()
    layer["digest"] = registry.push_blob(target.repo, data)
    layer["size"] = len(data)
    registry.push_manifest(target.repo, tag, oci.canonical(doc), doc["mediaType"])


def publish_alias(world: World, name: str = "alias") -> str:
    """``app:v1`` copied, with its ``.sig``, into another repository: one digest, two references.

    The copied signature's payload still names ``app``'s repository, so the
    alias verifies under no rule that checks the signed repository.
    """
    registry, ns = world.registry, world.namespace
    digest = copy_tag(registry, world.app.repo, world.app.tag, f"{ns}/{name}", "v1")
    copy_tag(
        registry, world.app.repo, _sig_tag(digest), f"{ns}/{name}", _sig_tag(digest)
    )
    return f"{registry.address}/{ns}/{name}:v1"
