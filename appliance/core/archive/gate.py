"""The verified view: what may leave the archive, built from verified facts only.

``load``, ``extract``, the push plan and every screen that says what crosses
into the gap read this view, and never the ledger or ``index.json``'s
annotations (which nothing signs: :mod:`.claims` lets them add failures only).
For each name that passed its rule (:mod:`.verify`), the view holds:

* the name: ``registry/repository`` and tag from the claimed reference, which
  is in the distribution grammar and is the one the rule judged; a digest
  claimed under two names travels only under the one that passed;
* the image's manifests: the bytes whose digest was judged and, for an
  index, the manifests it names that the archive carries; each manifest's
  media type from its own bytes (its ``mediaType``, else its shape);
* what travels with it, each tied to it by a verified fact, never by where
  the export found it:

  - a cosign ``.sig`` / ``.att`` manifest holding at least one layer that
    verified, by a signer of the rule, as being about the image (or one of
    its platforms): tagged as cosign tags it, ``sha256-<subject>.sig`` /
    ``.att``, derived from the subject the payload names;
  - a Sigstore bundle referrer whose bundle verified and whose manifest's own
    ``subject`` is the image: pushed by digest, listed in the subject's
    referrers;
  - in turn, the verified signatures about any of those (an attestation's own
    signature), the same way.

  A cosign ``.sbom`` attachment never travels: nothing signed ties it to the
  image (the association is the tag it was found under, and cosign
  deprecated it for SBOM attestations, which do travel).

Pure: contents and the verdict in, the view out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core.archive import media
from appliance.core.archive.manifest import Descriptor, ImageManifest, parse
from appliance.core.archive.reference import parse_reference
from appliance.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from appliance.core.archive.files import FileVerdict
    from appliance.core.archive.intake import Contents
    from appliance.core.archive.manifest import Manifest
    from appliance.core.archive.reference import Reference
    from appliance.core.archive.verdict import ArchiveVerdict, Evidence, ImageVerdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A manifest (or index) exactly as verified: its digest, bytes and what they say."""

    digest: str
    media_type: str
    data: bytes
    manifest: Manifest


@dataclass(frozen=True, slots=True, kw_only=True)
class Attached:
    """A manifest that travels with an image, and the verified fact that ties it there."""

    kind: str  # signature | attestation | referrer
    subject: str  # the digest a verified payload or statement names
    tag: str | None  # cosign's tag, derived from the subject; None: by digest
    document: Document

    def descriptor(self) -> Descriptor:
        """Its entry in a referrers index (image-spec: artifactType and annotations)."""
        manifest = self.document.manifest
        artifact_type = manifest.artifact_type or (
            manifest.config.media_type if isinstance(manifest, ImageManifest) else None
        )
        return Descriptor(
            media_type=self.document.media_type,
            digest=self.document.digest,
            size=len(self.document.data),
            artifact_type=artifact_type,
            annotations=dict(manifest.annotations),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PassedImage:
    """One name that passed its rule, and everything that may go with it."""

    asked: str  # as the exporter was asked (shown only)
    reference: str  # the name judged
    name: Reference
    digest: str
    documents: tuple[Document, ...]  # its own manifests, children before an index
    attached: tuple[Attached, ...]  # a subject before what is about it
    # What the archive carries about it that does not travel: (manifest, why).
    left_behind: tuple[tuple[str, str], ...] = ()

    @property
    def tag(self) -> str | None:
        """The tag of the name, if it has one (else the image goes by digest)."""
        return self.name.tag


@dataclass(frozen=True, slots=True, kw_only=True)
class PassedFile:
    """One file that verified: its artifact manifest and the bundles that verified it."""

    name: str  # the name its ``file:`` rule passed
    blob: str  # the file's bytes
    document: Document  # the artifact manifest, exactly as carried
    referrers: tuple[Attached, ...]  # only the bundles that verified for the rule


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedView:
    """Everything that may leave the archive, and the names refused."""

    images: tuple[PassedImage, ...]
    refused: tuple[str, ...]  # names (as judged) that did not pass
    blobs: Mapping[str, int]  # carried blob sizes, each checked against its digest
    order: tuple[str, ...]  # blobs in archive order (a second pass streams them)
    files: tuple[PassedFile, ...] = ()
    refused_files: tuple[str, ...] = ()  # file names that did not pass

    def carried(self, digest: str) -> bool:
        """Whether the archive carries blob ``digest``."""
        return digest in self.blobs


def _document(contents: Contents, digest: str) -> Document | None:
    data = contents.documents.get(digest)
    if data is None or digest not in contents.manifests:
        return None
    # The media type from the bytes alone: their mediaType, else their shape
    # (never the type an unsigned index.json entry gave them).
    try:
        manifest = parse(data, media_type=None, where=f"manifest {digest}")
    except InputError:
        return None
    return Document(
        digest=digest, media_type=manifest.media_type, data=data, manifest=manifest
    )


def _own(contents: Contents, digest: str) -> list[Document]:
    """The image's manifests the archive carries, children before their index."""
    out: list[Document] = []
    seen: set[str] = set()

    def walk(current: str, depth: int) -> None:
        if current in seen or depth > _MAX_DEPTH:
            return
        seen.add(current)
        document = _document(contents, current)
        if document is None:
            return  # a platform left out (the verdict allowed it)
        for child in document.manifest.children:
            if child.media_type in media.ALL_MANIFEST_TYPES:
                walk(child.digest, depth + 1)
        out.append(document)

    walk(digest, 0)
    return out


_MAX_DEPTH = 4
_SUFFIX = {"signature": "sig", "attestation": "att"}


def _tag(subject: str, kind: str) -> str:
    """The tag cosign gives a ``.sig`` / ``.att`` about ``subject`` (docs/cosign.md §1)."""
    return f"sha256-{subject.removeprefix('sha256:')}.{_SUFFIX[kind]}"


def _ties(image: ImageVerdict) -> Iterable[Evidence]:
    """Every verified piece of evidence about the image or what travels with it."""
    for evidence in (*image.signatures, *image.attestations, *image.attached):
        if evidence.verified and evidence.satisfies:
            yield evidence


def _attached(
    contents: Contents, image: ImageVerdict, subjects: set[str]
) -> list[Attached]:
    """What verified evidence ties to ``subjects``, grown as it is found (subjects first)."""
    evidence = list(_ties(image))
    out: list[Attached] = []
    taken: set[tuple[str, str]] = set()  # (manifest, subject)
    tags: set[str] = set()
    progress = True
    while progress:
        progress = False
        for e in evidence:
            site = e.site
            key = (site.manifest, site.subject)
            if site.subject not in subjects or key in taken:
                continue
            document = _document(contents, site.manifest)
            if document is None:
                continue
            taken.add(key)
            if site.form == "sigstore-bundle":
                kind, tag = "referrer", None
            else:
                tag = _tag(site.subject, site.kind)
                # Two manifests of one tag (found in two repositories): the
                # first keeps the tag, the other goes by digest.
                tag = None if tag in tags else tag
                kind = site.kind
            if tag is not None:
                tags.add(tag)
            out.append(
                Attached(kind=kind, subject=site.subject, tag=tag, document=document)
            )
            subjects.add(site.manifest)
            progress = True
    return out


def _passed(contents: Contents, image: ImageVerdict) -> PassedImage | None:
    try:
        name = parse_reference(image.reference)
    except InputError:
        return None  # never: a name that does not parse is refused by the verdict
    documents = _own(contents, image.digest)
    if not documents or documents[-1].digest != image.digest:
        return None
    subjects = {d.digest for d in documents}
    attached = _attached(contents, image, subjects)
    return PassedImage(
        asked=image.ref,
        reference=image.reference,
        name=name,
        digest=image.digest,
        documents=tuple(documents),
        attached=tuple(attached),
        left_behind=_left_behind(image, {a.document.digest for a in attached}),
    )


def _left_behind(
    image: ImageVerdict, travelling: set[str]
) -> tuple[tuple[str, str], ...]:
    """What was judged about the image but does not go with it, and why (for the report)."""
    out: dict[str, str] = {}
    for sbom in image.sboms:
        out.setdefault(
            sbom.manifest,
            "a cosign .sbom attachment: nothing signed ties it to the image "
            "(attest SBOMs with cosign attest instead)",
        )
    for e in (*image.signatures, *image.attestations, *image.attached):
        if e.site.manifest not in travelling and not (e.verified and e.satisfies):
            out.setdefault(
                e.site.manifest,
                f"a {e.site.kind} that did not verify for this image: "
                f"{e.reason.value if e.reason else 'no signer of the rule'}",
            )
    return tuple((m, why) for m, why in out.items() if m not in travelling)


def _passed_file(contents: Contents, file: FileVerdict) -> PassedFile | None:
    document = _document(contents, file.digest)
    if document is None:
        return None  # never: the verdict read the same bytes
    referrers: list[Attached] = []
    for e in file.signatures:
        if not (e.verified and e.satisfies) or e.site.subject != file.digest:
            continue  # a bundle that did not verify for the rule stays behind
        bundle = _document(contents, e.site.manifest)
        if bundle is not None and all(
            r.document.digest != bundle.digest for r in referrers
        ):
            referrers.append(
                Attached(
                    kind="referrer", subject=file.digest, tag=None, document=bundle
                )
            )
    return PassedFile(
        name=file.name,
        blob=file.blob,
        document=document,
        referrers=tuple(referrers),
    )


def verified_view(contents: Contents, verdict: ArchiveVerdict) -> VerifiedView:
    """The view of what passed: names, manifests and what verifiably goes with them.

    Args:
        contents: what the intake read (every blob hashed, sizes checked).
        verdict: :func:`~appliance.core.archive.verify.verify_archive`'s.

    Returns:
        Only the names that passed; an archive with any problem passes none.
    """
    images: list[PassedImage] = []
    refused: list[str] = []
    for image in verdict.images:
        passed = _passed(contents, image) if image.verified else None
        if passed is None:
            refused.append(image.reference)
        else:
            images.append(passed)
    files: list[PassedFile] = []
    refused_files: list[str] = []
    for file in verdict.files:
        # A file passes only from a whole archive (fail closed on any problem).
        passed_file = (
            _passed_file(contents, file)
            if file.verified and not verdict.problems
            else None
        )
        if passed_file is None:
            refused_files.append(file.name)
        else:
            files.append(passed_file)
    return VerifiedView(
        images=tuple(images),
        refused=tuple(refused),
        blobs=dict(contents.blobs),
        order=contents.order,
        files=tuple(files),
        refused_files=tuple(refused_files),
    )
