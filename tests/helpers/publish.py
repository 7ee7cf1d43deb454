"""Publish test images, and everything signed about them, into a loopback registry.

Written as cosign writes (docs/cosign.md §2, §6, §9), independently of the product:

* images: a single-platform manifest, or an index of several, with layers of
  the requested size (random, so incompressible, like real gzip layers);
* cosign legacy tags: ``sha256-<hex>.sig`` (one simple-signing layer per
  signature, appended to what the tag already holds), ``.att`` (DSSE
  envelope layers), ``.sbom`` (an SBOM attachment);
* cosign v3 bundle referrers: a Sigstore bundle v0.3 (DSSE, predicate
  ``https://sigstore.dev/cosign/sign/v1`` or any other) as an OCI 1.1
  manifest with ``subject``, pushed by digest, and the ``sha256-<hex>``
  fallback index maintained by the client, as docker-registry 2.8 has no
  referrers API.

Keyless signatures come from the local Sigstore stack (certificate, SCT, SET,
proof, checkpoint); key signatures from a given P-256 key, with a Rekor entry
(SET) from the stack when asked for.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import oci
from tests.helpers.registry import RegistryError

if TYPE_CHECKING:
    from tests.helpers.registry import Registry
    from tests.helpers.sigstore_stack import SigstoreStack

COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
SLSA = "https://slsa.dev/provenance/v1"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
DSSE = "application/vnd.dsse.envelope.v1+json"


@dataclass
class Image:
    """An image (or index) as published."""

    registry: Registry
    repo: str
    tag: str
    digest: str
    media_type: str
    size: int
    platforms: dict[str, str] = field(
        default_factory=dict
    )  # platform -> manifest digest
    layers: list[str] = field(default_factory=list)

    @property
    def reference(self) -> str:
        """``host:port/repo:tag``."""
        return f"{self.registry.address}/{self.repo}:{self.tag}"

    @property
    def name(self) -> str:
        """``host:port/repo``: what cosign signs as ``docker-reference``."""
        return f"{self.registry.address}/{self.repo}"

    def descriptor(self) -> dict[str, Any]:
        """The image's descriptor (a referrer's ``subject``)."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def make_layer(size: int, seed: str) -> tuple[bytes, str]:
    """A real tar+gzip layer and its diff id (the uncompressed tar's digest).

    With ``size``, one file of that many random bytes: random content does
    not compress, like the gzip layers of real images; gzip level 0 (stored
    blocks) keeps making a large one quick.
    """
    if not size:
        files = {f"{seed}.txt": f"hello from {seed}\n".encode()}
        return oci.tar_layer(files), oci.digest_of(oci.tar_layer(files, gzipped=False))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(f"{seed}.bin")
        info.size = size
        info.mtime = 0
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, compresslevel=0, mtime=0), oci.digest_of(tar_bytes)


def _manifest(
    registry: Registry,
    repo: str,
    *,
    platform: str,
    layer_bytes: int,
    layers: int,
    seed: str,
) -> tuple[bytes, list[str]]:
    os_, arch, *variant = platform.split("/")
    made = [make_layer(layer_bytes, f"{seed}-{i}") for i in range(layers)]
    layer_descs = []
    for data, _ in made:
        digest = registry.push_blob(repo, data)
        layer_descs.append(
            {"mediaType": oci.LAYER_GZIP, "digest": digest, "size": len(data)}
        )
    config: dict[str, Any] = {
        "architecture": arch,
        "os": os_,
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in made]},
    }
    if variant:
        config["variant"] = variant[0]
    config_bytes = oci.canonical(config)
    registry.push_blob(repo, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.MANIFEST,
        "config": {
            "mediaType": oci.CONFIG,
            "digest": oci.digest_of(config_bytes),
            "size": len(config_bytes),
        },
        "layers": layer_descs,
    }
    return oci.canonical(manifest), [str(d["digest"]) for d in layer_descs]


def image(
    registry: Registry,
    repo: str,
    tag: str,
    *,
    platform: str = "linux/amd64",
    layer_bytes: int = 0,
    layers: int = 1,
) -> Image:
    """Publish a single-platform image under ``tag``."""
    data, layer_digests = _manifest(
        registry,
        repo,
        platform=platform,
        layer_bytes=layer_bytes,
        layers=layers,
        seed=f"{repo}-{tag}",
    )
    digest = registry.push_manifest(repo, tag, data, oci.MANIFEST)
    return Image(
        registry, repo, tag, digest, oci.MANIFEST, len(data), layers=layer_digests
    )


def derived(
    registry: Registry,
    base: Image,
    tag: str,
    *,
    layer_bytes: int,
    replace_last: bool = False,
) -> Image:
    """A new version of ``base`` under ``tag``: its layers and one new one (or its last replaced).

    The shared layers are the same blobs, as a rebuilt image on an unchanged
    base shares them: what a delta leaves out.
    """
    doc = json.loads(registry.get_manifest(base.repo, base.tag).body)
    config = json.loads(registry.get_blob(base.repo, doc["config"]["digest"]))
    data, diff_id = make_layer(layer_bytes, f"{base.repo}-{tag}-new")
    layer = {
        "mediaType": oci.LAYER_GZIP,
        "digest": registry.push_blob(base.repo, data),
        "size": len(data),
    }
    if replace_last:
        doc["layers"].pop()
        config["rootfs"]["diff_ids"].pop()
    doc["layers"].append(layer)
    config["rootfs"]["diff_ids"].append(diff_id)
    config_bytes = oci.canonical(config)
    doc["config"] = {
        "mediaType": oci.CONFIG,
        "digest": registry.push_blob(base.repo, config_bytes),
        "size": len(config_bytes),
    }
    body = oci.canonical(doc)
    digest = registry.push_manifest(base.repo, tag, body, oci.MANIFEST)
    return Image(
        registry,
        base.repo,
        tag,
        digest,
        oci.MANIFEST,
        len(body),
        layers=[str(d["digest"]) for d in doc["layers"]],
    )


def index(
    registry: Registry,
    repo: str,
    tag: str,
    *,
    platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64/v8"),
    layer_bytes: int = 0,
) -> Image:
    """Publish a multi-platform index (each platform a manifest) under ``tag``."""
    entries = []
    found: dict[str, str] = {}
    layer_digests: list[str] = []
    for platform in platforms:
        data, layers = _manifest(
            registry,
            repo,
            platform=platform,
            layer_bytes=layer_bytes,
            layers=1,
            seed=f"{repo}-{tag}-{platform}",
        )
        digest = registry.push_manifest(repo, oci.digest_of(data), data, oci.MANIFEST)
        os_, arch, *variant = platform.split("/")
        desc: dict[str, Any] = {
            "mediaType": oci.MANIFEST,
            "digest": digest,
            "size": len(data),
            "platform": {"architecture": arch, "os": os_},
        }
        if variant:
            desc["platform"]["variant"] = variant[0]
        entries.append(desc)
        found[platform] = digest
        layer_digests += layers
    body = oci.canonical(
        {"schemaVersion": 2, "mediaType": oci.INDEX, "manifests": entries}
    )
    digest = registry.push_manifest(repo, tag, body, oci.INDEX)
    return Image(
        registry,
        repo,
        tag,
        digest,
        oci.INDEX,
        len(body),
        platforms=found,
        layers=layer_digests,
    )


class Signer:
    """Publishes signatures, attestations, SBOMs and bundle referrers about images.

    Args:
        registry: where the images are (and where signatures go).
        stack: the local Sigstore instance that signs keylessly and logs.
    """

    def __init__(self, registry: Registry, stack: SigstoreStack) -> None:
        self.registry = registry
        self.stack = stack

    # -- cosign legacy tags -------------------------------------------------

    def _append(
        self,
        repo: str,
        tag: str,
        layer: bytes,
        media_type: str,
        annotations: dict[str, str],
    ) -> str:
        """Add one layer to the image under ``tag`` (created if absent)."""
        layers: list[dict[str, Any]] = []
        try:
            current = json.loads(self.registry.get_manifest(repo, tag).body)
            layers = list(current["layers"])
        except RegistryError:
            pass
        digest = self.registry.push_blob(repo, layer)
        layers.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": len(layer),
                "annotations": annotations,
            }
        )
        config = oci.canonical(
            {
                "architecture": "",
                "os": "",
                "config": {},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": [entry["digest"] for entry in layers],
                },
            }
        )
        self.registry.push_blob(repo, config)
        manifest = oci.canonical(
            {
                "schemaVersion": 2,
                "mediaType": oci.MANIFEST,
                "config": {
                    "mediaType": oci.CONFIG,
                    "digest": oci.digest_of(config),
                    "size": len(config),
                },
                "layers": layers,
            }
        )
        return self.registry.push_manifest(repo, tag, manifest, oci.MANIFEST)

    def sign_legacy(
        self,
        target: Image,
        *,
        digest: str | None = None,
        identity: str = "dev@airlock.test",
        key: ec.EllipticCurvePrivateKey | None = None,
        logged: bool = True,
        annotations: dict[str, str] | None = None,
        reference: str | None = None,
    ) -> str:
        """Sign ``digest`` (default: the image's) with a ``.sig`` layer; return the tag's digest."""
        digest = digest or target.digest
        if key is None:
            signature = self.stack.sign_image_legacy(
                digest,
                reference=reference or target.name,
                identity=identity,
                annotations=annotations,
            )
            payload, layer_annotations = signature.payload, signature.annotations
        else:
            payload = json.dumps(
                {
                    "critical": {
                        "identity": {"docker-reference": reference or target.name},
                        "image": {"docker-manifest-digest": digest},
                        "type": "cosign container image signature",
                    },
                    "optional": annotations,
                },
                separators=(",", ":"),
            ).encode()
            sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
            layer_annotations = {
                "dev.cosignproject.cosign/signature": base64.b64encode(sig).decode()
            }
            if logged:
                signed = self.stack.sign_blob(payload, key=key)
                layer_annotations["dev.cosignproject.cosign/signature"] = (
                    base64.b64encode(signed.signature).decode()
                )
                layer_annotations["dev.sigstore.cosign/bundle"] = (
                    signed.entry.cosign_bundle_annotation()
                )
        tag = f"sha256-{digest.removeprefix('sha256:')}.sig"
        return self._append(
            target.repo, tag, payload, oci.SIMPLESIGNING, layer_annotations
        )

    def attest_legacy(
        self,
        target: Image,
        *,
        predicate_type: str = SLSA,
        predicate: dict[str, Any] | None = None,
        identity: str = "dev@airlock.test",
        subject_digest: str | None = None,
    ) -> str:
        """Attest about the image with a ``.att`` DSSE layer; return the tag's digest."""
        subject = subject_digest or target.digest
        signed = self.stack.attest(
            {target.name: subject.removeprefix("sha256:")},
            predicate_type=predicate_type,
            predicate=predicate if predicate is not None else {"buildType": "test"},
            identity=identity,
        )
        assert signed.envelope is not None
        assert signed.certificate is not None
        envelope = json.dumps(signed.envelope, separators=(",", ":")).encode()
        pem = signed.certificate.public_bytes(serialization.Encoding.PEM).decode()
        annotations = {
            "predicateType": predicate_type,
            "dev.cosignproject.cosign/signature": "",
            "dev.sigstore.cosign/certificate": pem,
            "dev.sigstore.cosign/chain": "".join(
                c.public_bytes(serialization.Encoding.PEM).decode()
                for c in signed.chain
            ),
            "dev.sigstore.cosign/bundle": signed.entry.cosign_bundle_annotation(),
        }
        tag = f"sha256-{target.digest.removeprefix('sha256:')}.att"
        return self._append(target.repo, tag, envelope, DSSE, annotations)

    def attach_sbom(
        self, target: Image, sbom: bytes, media_type: str = "application/spdx+json"
    ) -> str:
        """Attach an (unsigned) SBOM under ``.sbom``; return the tag's digest."""
        tag = f"sha256-{target.digest.removeprefix('sha256:')}.sbom"
        return self._append(target.repo, tag, sbom, media_type, {})

    # -- cosign v3: bundles as OCI 1.1 referrers -----------------------------

    def bundle_referrer(
        self,
        target: Image,
        *,
        identity: str = "dev@airlock.test",
        predicate_type: str = COSIGN_SIGN,
        predicate: dict[str, Any] | None = None,
        subject: dict[str, Any] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> str:
        """Push a Sigstore bundle v0.3 about the image as a referrer; return its digest.

        ``annotations`` go into the statement's subject, as cosign v3's ``-a``.
        """
        subject = subject or target.descriptor()
        signed = self.stack.attest(
            {"": subject["digest"].removeprefix("sha256:")},
            predicate_type=predicate_type,
            predicate=predicate if predicate is not None else {},
            identity=identity,
            annotations=annotations,
        )
        bundle = signed.bundle_bytes(version="0.3")
        return self.referrer(
            target,
            subject=subject,
            artifact_type=BUNDLE_V03,
            layer=bundle,
            layer_media_type=BUNDLE_V03,
            annotations={
                "dev.sigstore.bundle.content": "dsse-envelope",
                "dev.sigstore.bundle.predicateType": predicate_type,
                "org.opencontainers.image.created": "2026-11-01T12:00:00Z",
            },
        )

    def referrer(
        self,
        target: Image,
        *,
        subject: dict[str, Any],
        artifact_type: str,
        layer: bytes,
        layer_media_type: str,
        annotations: dict[str, str] | None = None,
    ) -> str:
        """Push any OCI 1.1 artifact about ``subject`` and list it under the fallback tag."""
        repo = target.repo
        digest = self.registry.push_blob(repo, layer)
        self.registry.push_blob(repo, b"{}")
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST,
            "artifactType": artifact_type,
            "config": {
                "mediaType": oci.EMPTY,
                "digest": oci.digest_of(b"{}"),
                "size": 2,
            },
            "layers": [
                {"mediaType": layer_media_type, "digest": digest, "size": len(layer)}
            ],
            "subject": subject,
        }
        if annotations:
            manifest["annotations"] = annotations
        body = oci.canonical(manifest)
        manifest_digest = self.registry.push_manifest(
            repo, oci.digest_of(body), body, oci.MANIFEST
        )
        # distribution-spec "referrers tag schema": the client keeps the index.
        tag = "sha256-" + subject["digest"].removeprefix("sha256:")
        entries: list[dict[str, Any]] = []
        with contextlib.suppress(RegistryError):
            entries = list(
                json.loads(self.registry.get_manifest(repo, tag).body)["manifests"]
            )
        entry: dict[str, Any] = {
            "mediaType": oci.MANIFEST,
            "digest": manifest_digest,
            "size": len(body),
            "artifactType": artifact_type,
        }
        if annotations:
            entry["annotations"] = annotations
        entries.append(entry)
        index = oci.canonical(
            {"schemaVersion": 2, "mediaType": oci.INDEX, "manifests": entries}
        )
        self.registry.push_manifest(repo, tag, index, oci.INDEX)
        return manifest_digest


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()
