"""OCI descriptors, image manifests and indexes, parsed strictly from their bytes.

A manifest is identified by the SHA-256 of its exact bytes (docs/oci.md §1):
it is never re-serialised before hashing, and :func:`parse` is always given
the bytes whose digest was checked. Docker v2 manifests and manifest lists are
accepted as their OCI twins (docs/oci.md §2). Only ``sha256`` digests are
accepted: the archive stores ``blobs/sha256/`` and nothing else.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from appliance.core import _json
from appliance.core.archive import media
from appliance.core.errors import InputError

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
MAX_INT64 = 2**63 - 1


def digest_of(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(value: object, where: str) -> str:
    """A ``sha256:<64 lowercase hex>`` digest, or InputError."""
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        msg = f"not a sha256 digest: {str(value)[:80]!r}"
        raise InputError(msg, where=where)
    # One string per digest however many documents name it (the intake's
    # tables, the ledger, every verdict): at 100,000 signatures, megabytes.
    return sys.intern(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """An image platform (``os/architecture[/variant]``)."""

    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        """``linux/arm64/v8``."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``OS/ARCH[/VARIANT]``.

        Raises:
            InputError: anything else.
        """
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            msg = "expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/arm64/v8"
            raise InputError(msg, where=f"--platform {text}")
        return cls(
            os=parts[0],
            architecture=parts[1],
            variant=parts[2] if len(parts) > 2 else None,  # noqa: PLR2004
        )

    def matches(self, wanted: Platform) -> bool:
        """Whether this platform is the one ``wanted`` names (no variant: any)."""
        return (
            self.os == wanted.os
            and self.architecture == wanted.architecture
            and (wanted.variant is None or self.variant == wanted.variant)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """A content descriptor (image-spec ``descriptor.md``)."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    platform: Platform | None = None

    @classmethod
    def from_json(cls, value: object, where: str) -> Descriptor:
        """Parse a descriptor object.

        Raises:
            InputError: a field is missing or of the wrong type.
        """
        obj = _json.obj(value, where)
        media_type = _json.string(obj, "mediaType", where)
        size = obj.get("size")
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or not 0 <= size <= MAX_INT64
        ):
            msg = f"size must be a non-negative integer, got {str(size)[:40]!r}"
            raise InputError(msg, where=f"{where}.size")
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            msg = "annotations must map strings to strings"
            raise InputError(msg, where=f"{where}.annotations")
        platform = obj.get("platform")
        parsed_platform = None
        if platform is not None:
            p = _json.obj(platform, f"{where}.platform")
            parsed_platform = Platform(
                os=_json.string(p, "os", f"{where}.platform"),
                architecture=_json.string(p, "architecture", f"{where}.platform"),
                variant=_json.opt_string(p, "variant", f"{where}.platform") or None,
            )
        return cls(
            media_type=media_type,
            digest=check_digest(obj.get("digest"), f"{where}.digest"),
            size=size,
            annotations=dict(annotations),
            artifact_type=_json.opt_string(obj, "artifactType", where) or None,
            platform=parsed_platform,
        )

    def to_json(self) -> dict[str, Any]:
        """The descriptor as JSON (for index.json and manifests we write)."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform is not None:
            platform = {
                "architecture": self.platform.architecture,
                "os": self.platform.os,
            }
            if self.platform.variant:
                platform["variant"] = self.platform.variant
            out["platform"] = platform
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageManifest:
    """An image manifest (or a Docker v2 manifest): a config and layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def children(self) -> tuple[Descriptor, ...]:
        """The blobs this manifest names: its config, then its layers."""
        return (self.config, *self.layers)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageIndex:
    """An image index (or a Docker manifest list): manifests, maybe per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def children(self) -> tuple[Descriptor, ...]:
        """The manifests this index names."""
        return self.manifests


Manifest = ImageManifest | ImageIndex


def parse(data: bytes, *, media_type: str | None, where: str) -> Manifest:
    """Parse manifest bytes whose digest the caller has checked.

    Args:
        data: the exact bytes.
        media_type: what the descriptor or the registry said it is, if known;
            a ``mediaType`` field in the body must agree (docs/oci.md §2).
        where: what the manifest is, for messages.

    Raises:
        InputError: not a manifest or index we can read.
    """
    doc = _json.obj(_json.loads(data, what=where), where)
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        msg = "mediaType must be a string"
        raise InputError(msg, where=where)
    if declared and media_type and declared != media_type:
        msg = f"says it is {declared}, but was served as {media_type}"
        raise InputError(msg, where=where)
    kind = declared or media_type
    if kind is None:
        # umoci and some tools omit mediaType: decide by shape.
        kind = media.OCI_INDEX if "manifests" in doc else media.OCI_MANIFEST
    if kind not in media.ALL_MANIFEST_TYPES:
        msg = f"unsupported manifest media type {kind!r}"
        raise InputError(msg, where=where)
    if doc.get("schemaVersion") != 2:  # noqa: PLR2004 - image-spec: must be 2
        msg = "schemaVersion must be 2"
        raise InputError(msg, where=where)
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) for v in annotations.values()
    ):
        msg = "annotations must map strings to strings"
        raise InputError(msg, where=f"{where}.annotations")
    subject = (
        None
        if doc.get("subject") is None
        else Descriptor.from_json(doc["subject"], f"{where}.subject")
    )
    artifact_type = _json.opt_string(doc, "artifactType", where) or None
    if kind in media.INDEX_TYPES:
        return ImageIndex(
            media_type=kind,
            manifests=tuple(
                Descriptor.from_json(d, f"{where}.manifests[{i}]")
                for i, d in enumerate(_json.member_list(doc, "manifests", where))
            ),
            subject=subject,
            artifact_type=artifact_type,
            annotations=dict(annotations),
        )
    return ImageManifest(
        media_type=kind,
        config=Descriptor.from_json(doc.get("config"), f"{where}.config"),
        layers=tuple(
            Descriptor.from_json(d, f"{where}.layers[{i}]")
            for i, d in enumerate(_json.member_list(doc, "layers", where))
        ),
        subject=subject,
        artifact_type=artifact_type,
        annotations=dict(annotations),
    )
