"""What ``appliance load`` pushes, and in what order: the verified view in, a push plan out.

Pure: the verified view (:mod:`.gate`) and where to push in; no I/O. The plan
is built from the view alone, so everything it names, every repository and
tag included, rests on verified facts and the operator's ``--to``: each
image's name is the one its rule passed, under the operator's prefix, and
what travels with it goes into the same repository under the tag cosign
derives from the verified subject (never the ledger's account of where the
export found it). Every digest is kept byte for byte. The order is the one a
strict registry accepts (cosign#5030 pushed a manifest before its blob):

1. blobs, each into every repository whose manifests name it;
2. manifests, children before the index that lists them, an image before
   what is about it (its subject), each under its tag or by digest;
3. referrers: with the referrers API the registry lists them itself; without
   it, the ``sha256-<hex>`` fallback index (distribution-spec "referrers tag
   schema") is merged with what the registry already lists and pushed last.

The upstream fallback index the export carried is never pushed: the
registry in the gap keeps its own.

A file that verified (docs/image-sets.md §7) goes as the OCI artifact the
archive carries, byte for byte, to ``[PREFIX/]files/<name>:<hex>``: the
repository from the name its ``file:`` rule passed (lowercased, each run of
characters a repository path may not hold made one ``-``; the exact name stays
in the artifact's ``org.opencontainers.image.title``), the tag the first 16 hex
digits of the file's own SHA-256 (what ``sha256sum`` prints), and only the
bundles that verified it as its referrers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from appliance.core.archive import media
from appliance.core.archive.files import FILE_PREFIX
from appliance.core.archive.reference import check_push_target, parse_reference
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Iterable

    from appliance.core.archive.gate import (
        Attached,
        Document,
        PassedFile,
        PassedImage,
        VerifiedView,
    )
    from appliance.core.archive.manifest import Descriptor


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where to push: ``host[:port]`` and an optional repository prefix."""

    host: str
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> Target:
        """``HOST[:PORT][/PREFIX]`` (``--to``).

        Raises:
            InputError: not a registry host, or a prefix that is no repository path.
        """
        check_push_target(text)
        host, _, prefix = text.partition("/")
        try:
            parse_reference(f"{host}/{prefix or 'x'}")
        except InputError as exc:
            msg = "expected HOST[:PORT][/PREFIX], a registry and an optional repository prefix"
            raise InputError(
                msg, where=f"--to {text[:200]}", reason=Reason.USAGE
            ) from exc
        if "." not in host and ":" not in host and host != "localhost":
            msg = "name the registry host (with a dot or a port, or localhost)"
            raise InputError(msg, where=f"--to {text[:200]}", reason=Reason.USAGE)
        return cls(host=host, prefix=prefix.strip("/"))

    def port_for(self, *, plain_http: bool) -> int:
        """The port the seal admits: the one named, else HTTP's or HTTPS's."""
        _, sep, port = self.host.rpartition(":")
        if sep and port.isdigit():
            return int(port)
        return 80 if plain_http else 443

    @property
    def hostname(self) -> str:
        """The host without its port."""
        name, sep, port = self.host.rpartition(":")
        return name if sep and port.isdigit() else self.host

    def repository(self, exported: str) -> str:
        """Where an exported ``registry/repository`` goes: its path under the prefix."""
        path = parse_reference(exported).repository
        return f"{self.prefix}/{path}" if self.prefix else path


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobPush:
    """One blob, and every repository that must hold it."""

    descriptor: Descriptor
    repositories: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestPush:
    """One manifest (exact bytes from the verified archive) under a tag or its digest."""

    repository: str
    reference: str  # a tag, or the digest itself
    digest: str
    media_type: str
    data: bytes
    image: str  # the image (as asked) it is pushed for


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferrersPush:
    """Referrers of one subject, to list under its fallback tag if the registry has no API."""

    repository: str
    subject: str
    referrers: tuple[Descriptor, ...]
    image: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePlan:
    """One verified name: where its image goes."""

    asked: str  # as the exporter was asked (shown only)
    reference: str  # the name that passed its rule
    digest: str
    repository: str
    tag: str | None


FILES_REPOSITORY: Final = "files"
_TAG_HEX: Final = 16
_NOT_PATH: Final = re.compile(r"[^a-z0-9]+")


def file_repository(name: str) -> str:
    """The repository path component for a file named ``name`` (distribution's grammar)."""
    component = _NOT_PATH.sub("-", name.lower()).strip("-")
    return component or "file"


@dataclass(frozen=True, slots=True, kw_only=True)
class FilePlan:
    """One verified file: where its artifact goes."""

    name: str
    digest: str  # the artifact manifest
    blob: str  # the file's bytes
    repository: str
    tag: str | None  # None: another file took the tag; pushed by digest


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Everything to push, in order."""

    images: tuple[ImagePlan, ...]
    blobs: tuple[BlobPush, ...]
    manifests: tuple[ManifestPush, ...]
    referrers: tuple[ReferrersPush, ...]
    refused: tuple[str, ...] = field(
        default_factory=tuple
    )  # images not verified: nothing of them
    # A delta's layers left out as held by the gap: the registry must hold
    # each already (the push checks, before anything is sent).
    held: tuple[BlobPush, ...] = field(default_factory=tuple)
    # Carried about a pushed image, but not tied to it by a verified
    # signature: (manifest, why). Never pushed.
    left_behind: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    files: tuple[FilePlan, ...] = field(default_factory=tuple)
    refused_files: tuple[str, ...] = field(default_factory=tuple)  # nothing of them

    @property
    def blob_bytes(self) -> int:
        """Bytes of blob content to push (before the registry says what it has)."""
        return sum(b.descriptor.size for b in self.blobs)

    def to_json(self) -> dict[str, object]:
        """The plan as ``--dry-run`` and the report show it."""
        return {
            "images": [
                {
                    "asked": i.asked,
                    "reference": i.reference,
                    "digest": i.digest,
                    "repository": i.repository,
                    "tag": i.tag,
                }
                for i in self.images
            ],
            "refused": list(self.refused),
            "files": [
                {
                    "name": f.name,
                    "digest": f.digest,
                    "blob": f.blob,
                    "repository": f.repository,
                    "tag": f.tag,
                }
                for f in self.files
            ],
            "refused_files": list(self.refused_files),
            "left_behind": [
                {"manifest": digest, "why": why} for digest, why in self.left_behind
            ],
            "blobs": [
                {
                    "digest": b.descriptor.digest,
                    "size": b.descriptor.size,
                    "repositories": list(b.repositories),
                }
                for b in self.blobs
            ],
            "held": [
                {
                    "digest": b.descriptor.digest,
                    "size": b.descriptor.size,
                    "repositories": list(b.repositories),
                }
                for b in self.held
            ],
            "manifests": [
                {
                    "repository": m.repository,
                    "reference": m.reference,
                    "digest": m.digest,
                    "mediaType": m.media_type,
                }
                for m in self.manifests
            ],
            "referrers": [
                {
                    "repository": r.repository,
                    "subject": r.subject,
                    "referrers": [d.digest for d in r.referrers],
                }
                for r in self.referrers
            ],
        }


class _Builder:
    def __init__(self, view: VerifiedView, target: Target) -> None:
        self.view = view
        self.target = target
        self.manifests: list[ManifestPush] = []
        self.pushed: set[tuple[str, str, str]] = (
            set()
        )  # (repository, reference, digest)
        self.blob_repos: dict[str, list[str]] = {}
        self.held_repos: dict[str, list[str]] = {}
        self.blob_desc: dict[str, Descriptor] = {}
        # What the lists above hold, as (carried, digest, repository), to test
        # membership in: a base layer or the empty config is shared by
        # thousands of repositories.
        self.blob_in: set[tuple[bool, str, str]] = set()
        self.referrers: dict[tuple[str, str], list[Descriptor]] = {}
        # What ``referrers`` lists, likewise: (repository, subject, digest).
        self.referrer_in: set[tuple[str, str, str]] = set()
        self.referrer_image: dict[tuple[str, str], str] = {}
        self.file_tags: set[tuple[str, str | None]] = set()

    def manifest(
        self, repository: str, reference: str, document: Document, image: str
    ) -> None:
        """Plan a manifest and the blobs it names (its child manifests come first)."""
        key = (repository, reference, document.digest)
        if key in self.pushed:
            return
        for child in document.manifest.children:
            if child.media_type in media.ALL_MANIFEST_TYPES:
                continue  # planned before it, or left out (the verdict allowed it)
            # Carried: push it. Not carried (a delta): the registry must hold it.
            carried = self.view.carried(child.digest)
            into = self.blob_repos if carried else self.held_repos
            repos = into.setdefault(child.digest, [])
            self.blob_desc.setdefault(child.digest, child)
            if (carried, child.digest, repository) not in self.blob_in:
                self.blob_in.add((carried, child.digest, repository))
                repos.append(repository)
        self.pushed.add(key)
        self.manifests.append(
            ManifestPush(
                repository=repository,
                reference=reference,
                digest=document.digest,
                media_type=document.media_type,
                data=document.data,
                image=image,
            )
        )

    def referrer(self, repository: str, attached: Attached, image: str) -> None:
        """List ``attached`` under its subject's fallback tag, once (the first stays)."""
        key = (repository, attached.subject)
        self.referrer_image.setdefault(key, image)
        listed = self.referrers.setdefault(key, [])
        filed = (repository, attached.subject, attached.document.digest)
        if filed not in self.referrer_in:
            self.referrer_in.add(filed)
            listed.append(attached.descriptor())

    def image(self, image: PassedImage) -> ImagePlan:
        repository = self.target.repository(image.name.name)
        for document in image.documents:
            top = document.digest == image.digest
            reference = (image.tag or image.digest) if top else document.digest
            self.manifest(repository, reference, document, image.reference)
        for attached in image.attached:
            self.manifest(
                repository,
                attached.tag or attached.document.digest,
                attached.document,
                image.reference,
            )
            if attached.kind == "referrer":
                self.referrer(repository, attached, image.reference)
        return ImagePlan(
            asked=image.asked,
            reference=image.reference,
            digest=image.digest,
            repository=repository,
            tag=image.tag,
        )

    def file(self, file: PassedFile) -> FilePlan:
        name = f"{FILE_PREFIX}{file.name}"
        leaf = file_repository(file.name)
        repository = (
            f"{self.target.prefix}/{FILES_REPOSITORY}/{leaf}"
            if self.target.prefix
            else f"{FILES_REPOSITORY}/{leaf}"
        )
        tag: str | None = file.blob.removeprefix("sha256:")[:_TAG_HEX]
        # Two names that map alike, with the same bytes: the first keeps the
        # tag, the other goes by digest (never one overwriting the other).
        if (repository, tag) in self.file_tags:
            tag = None
        else:
            self.file_tags.add((repository, tag))
        self.manifest(repository, tag or file.document.digest, file.document, name)
        for referrer in file.referrers:
            self.manifest(repository, referrer.document.digest, referrer.document, name)
            self.referrer(repository, referrer, name)
        return FilePlan(
            name=file.name,
            digest=file.document.digest,
            blob=file.blob,
            repository=repository,
            tag=tag,
        )

    def plan(
        self,
        images: Iterable[ImagePlan],
        refused: Iterable[str],
        left_behind: Iterable[tuple[str, str]],
    ) -> Plan:
        order = {d: i for i, d in enumerate(self.view.order)}
        blobs = sorted(self.blob_repos, key=lambda d: order.get(d, len(order)))
        return Plan(
            images=tuple(images),
            blobs=tuple(
                BlobPush(
                    descriptor=self.blob_desc[d], repositories=tuple(self.blob_repos[d])
                )
                for d in blobs
            ),
            manifests=tuple(self.manifests),
            referrers=tuple(
                ReferrersPush(
                    repository=repo,
                    subject=subject,
                    referrers=tuple(listed),
                    image=self.referrer_image[repo, subject],
                )
                for (repo, subject), listed in self.referrers.items()
            ),
            refused=tuple(refused),
            left_behind=tuple(left_behind),
            held=tuple(
                BlobPush(
                    descriptor=self.blob_desc[d], repositories=tuple(self.held_repos[d])
                )
                for d in sorted(self.held_repos)
            ),
        )


def plan_push(view: VerifiedView, target: Target) -> Plan:
    """The push plan for every name that passed; nothing of the others.

    Everything is read from ``view`` (verified facts) and ``target`` (the
    operator's ``--to``): no name, tag or repository comes from the ledger.
    """
    builder = _Builder(view, target)
    images = [builder.image(image) for image in view.images]
    files = tuple(builder.file(file) for file in view.files)
    pushed = {m.digest for m in builder.manifests}
    left: dict[str, str] = {}
    for image in view.images:
        for digest, why in image.left_behind:
            if digest not in pushed:
                left.setdefault(digest, why)
    return replace(
        builder.plan(images, view.refused, left.items()),
        files=files,
        refused_files=view.refused_files,
    )
