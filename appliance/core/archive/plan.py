"""What ``appliance load`` pushes, and in what order: verified images in, a push plan out.

Pure: the archive's contents, the verdict of :mod:`.verify` and where to push
in; no I/O. Only images that passed are planned, each with everything the
export found about it (signatures, attestations, SBOMs, referrers, and what
is about those), every digest kept byte for byte. The order is the one a
strict registry accepts (cosign#5030 pushed a manifest before its blob):

1. blobs, each into every repository whose manifests name it;
2. manifests, children before the index that lists them, an image before
   what is about it (its subject), each under its tag as exported (rewritten
   under the operator's prefix) or by digest;
3. referrers: with the referrers API the registry lists them itself; without
   it, the ``sha256-<hex>`` fallback index (distribution-spec "referrers tag
   schema") is merged with what the registry already lists and pushed last.

The upstream fallback index the export carried (kind ``referrers-index``)
is not pushed as is: the registry in the gap keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.core.archive import media
from appliance.core.archive.layout import Kind
from appliance.core.archive.manifest import Descriptor
from appliance.core.archive.reference import check_push_target, parse_reference
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Iterable

    from appliance.core.archive.intake import Contents
    from appliance.core.archive.ledger import ImageEntry, Related
    from appliance.core.archive.verify import ArchiveVerdict


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
    """One verified image: where it goes."""

    asked: str
    digest: str
    repository: str
    tag: str | None


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
                    "digest": i.digest,
                    "repository": i.repository,
                    "tag": i.tag,
                }
                for i in self.images
            ],
            "refused": list(self.refused),
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


def _tag_of(related: Related) -> str | None:
    """The tag a related artifact was found under (``tag sha256-<hex>.sig``), if any."""
    how, _, tag = related.found.partition(" ")
    return tag if how == "tag" and tag else None


class _Builder:
    def __init__(
        self, contents: Contents, target: Target, left_out: frozenset[str]
    ) -> None:
        self.contents = contents
        self.target = target
        self.left_out = left_out  # the ledger's omittedAsHeld
        self.held_repos: dict[str, list[str]] = {}
        self.manifests: list[ManifestPush] = []
        self.pushed: set[tuple[str, str, str]] = (
            set()
        )  # (repository, reference, digest)
        self.blob_repos: dict[str, list[str]] = {}
        self.blob_desc: dict[str, Descriptor] = {}
        self.referrers: dict[tuple[str, str], list[Descriptor]] = {}
        self.referrer_image: dict[tuple[str, str], str] = {}

    def manifest(
        self, repository: str, reference: str, digest: str, image: str
    ) -> None:
        """Plan a manifest after its children, and its blobs."""
        key = (repository, reference, digest)
        if key in self.pushed:
            return
        parsed = self.contents.manifests.get(digest)
        data = self.contents.documents.get(digest)
        if parsed is None or data is None:
            msg = f"manifest {digest} of {image} is not in the archive"
            raise InputError(msg, where="archive", reason=Reason.DIGEST_MISMATCH)
        for child in parsed.children:
            if child.media_type in media.ALL_MANIFEST_TYPES:
                if child.digest in self.contents.manifests:
                    self.manifest(repository, child.digest, child.digest, image)
            elif child.digest in self.contents.blobs:
                self.blob(repository, child)
            elif child.digest in self.left_out:
                self.blob(repository, child, into=self.held_repos)
        self.pushed.add(key)
        self.manifests.append(
            ManifestPush(
                repository=repository,
                reference=reference,
                digest=digest,
                media_type=self.contents.media_types.get(digest, media.OCI_MANIFEST),
                data=data,
                image=image,
            )
        )

    def blob(
        self,
        repository: str,
        desc: Descriptor,
        into: dict[str, list[str]] | None = None,
    ) -> None:
        repos = (self.blob_repos if into is None else into).setdefault(desc.digest, [])
        self.blob_desc.setdefault(desc.digest, desc)
        if repository not in repos:
            repos.append(repository)

    def image(self, entry: ImageEntry) -> ImagePlan:
        ref = parse_reference(entry.reference)
        repository = self.target.repository(ref.name)
        self.manifest(repository, ref.tag or entry.digest, entry.digest, entry.asked)
        subjects = {entry.digest, *(p.digest for p in entry.platforms if p.included)}
        pending = [r for r in entry.related if r.kind != Kind.REFERRERS_INDEX]
        # An artifact goes after its subject: repeat until nothing more can go.
        while pending:
            ready = [r for r in pending if r.subject in subjects]
            if not ready:
                break  # about something not carried: the ledger said so on export
            for related in ready:
                self._related(related, entry.asked)
                subjects.add(related.digest)
            pending = [r for r in pending if r not in ready]
        return ImagePlan(
            asked=entry.asked, digest=entry.digest, repository=repository, tag=ref.tag
        )

    def _related(self, related: Related, image: str) -> None:
        repository = self.target.repository(related.repository)
        tag = _tag_of(related)
        self.manifest(repository, tag or related.digest, related.digest, image)
        if related.kind == Kind.REFERRER:
            key = (repository, related.subject)
            self.referrer_image.setdefault(key, image)
            listed = self.referrers.setdefault(key, [])
            if all(d.digest != related.digest for d in listed):
                listed.append(self._descriptor(related))

    def _descriptor(self, related: Related) -> Descriptor:
        """The referrers-index entry for a referrer (artifactType and annotations, as the spec asks)."""
        manifest = self.contents.manifests.get(related.digest)
        annotations = dict(manifest.annotations) if manifest is not None else {}
        return Descriptor(
            media_type=related.media_type,
            digest=related.digest,
            size=related.size,
            artifact_type=related.artifact_type,
            annotations=annotations,
        )

    def plan(self, images: Iterable[ImagePlan], refused: Iterable[str]) -> Plan:
        order = {d: i for i, d in enumerate(self.contents.order)}
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
            held=tuple(
                BlobPush(
                    descriptor=self.blob_desc[d], repositories=tuple(self.held_repos[d])
                )
                for d in sorted(self.held_repos)
            ),
        )


def plan_push(contents: Contents, verdict: ArchiveVerdict, target: Target) -> Plan:
    """The push plan for every image ``verdict`` passed; nothing of the others.

    Raises:
        InputError: a verified image's manifest is missing (never, for an
            archive the intake accepted).
    """
    builder = _Builder(
        contents,
        target,
        frozenset(c.digest for c in verdict.ledger.omitted_held),
    )
    passed = {i.digest for i in verdict.images if i.verified}
    chosen = {i.ref for i in verdict.images}
    images = [
        builder.image(entry)
        for entry in verdict.ledger.images
        if entry.digest in passed and entry.asked in chosen
    ]
    refused = [i.ref for i in verdict.images if not i.verified]
    return builder.plan(images, refused)
