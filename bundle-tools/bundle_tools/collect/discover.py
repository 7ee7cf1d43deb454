"""Find an image and everything signed about it, upstream; drop nothing silently.

For a reference: the tag is resolved to a digest once (and the pair
recorded); an index keeps its bytes and the platforms asked for (the others
are listed as left out, on purpose). For the index digest *and* each platform
digest kept (docs/cosign.md §1), everything about it is found:

* cosign's legacy tags ``sha256-<hex>.sig``, ``.att``, ``.sbom``;
* OCI 1.1 referrers, through the referrers API where the registry has it and
  the ``sha256-<hex>`` fallback tag where it does not; Sigstore bundles among
  them (cosign v3);
* the same, recursively, about each of those (an attestation's own
  signature), to :data:`MAX_DEPTH` levels;
* the same in ``--signatures-from`` repositories (``COSIGN_REPOSITORY``-style).

What could not be carried (a referrer listed but absent, deeper levels) is
recorded with its reason. Nothing here writes the archive.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from airlock_registry.client import RegistryClient
from airlock_registry.tls import TLSOptions
from appliance.core.archive import evidence, media
from appliance.core.archive.layout import Kind
from appliance.core.archive.ledger import ImageEntry, PlatformEntry, Related
from appliance.core.archive.manifest import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    Manifest,
    Platform,
    parse,
)
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from airlock_registry.auth import Token
    from appliance.core.archive.ledger import Evidence
    from appliance.core.archive.reference import Reference

MAX_DEPTH: Final = 4
MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024
_LEGACY: Final = (
    ("sig", Kind.SIGNATURE),
    ("att", Kind.ATTESTATION),
    ("sbom", Kind.SBOM),
)


class ClientPool:
    """One client per registry host (and per thread, for parallel blob fetches).

    Args:
        allow_http: hosts (``host[:port]``) that may be spoken to over plain HTTP.
        tls: the operator's CA and client-certificate files.
    """

    def __init__(
        self, allow_http: frozenset[str], *, tls: TLSOptions | None = None
    ) -> None:
        self.allow_http = allow_http
        self.tls = tls or TLSOptions()
        # One token cache per host for every thread's client: a token is
        # asked once per scope set, not once per thread.
        self._tokens: dict[str, dict[tuple[str, str, tuple[str, ...]], Token]] = {}
        self._local = threading.local()

    def client(self, host: str) -> RegistryClient:
        """The client for ``host`` of the calling thread."""
        clients: dict[str, RegistryClient] = getattr(self._local, "clients", None) or {}
        self._local.clients = clients
        if host not in clients:
            clients[host] = RegistryClient(
                host,
                plain_http=host in self.allow_http,
                tls_options=self.tls,
                tokens=self._tokens.setdefault(host, {}),
            )
        return clients[host]


def _without_blob_annotations(manifest: Manifest) -> Manifest:
    """An image manifest's config and layers without their annotations (the rest as parsed)."""
    if not isinstance(manifest, ImageManifest):
        return manifest
    return replace(
        manifest,
        config=replace(manifest.config, annotations={}),
        layers=tuple(replace(layer, annotations={}) for layer in manifest.layers),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """A manifest (or index) fetched, and what it is."""

    host: str
    repository: str  # registry/repository as the ledger names it
    api_repository: str  # the repository path on ``host``
    digest: str
    media_type: str
    data: bytes
    manifest: Manifest


@dataclass
class Collection:
    """What one reference brought: manifests, blobs to fetch, its ledger entry."""

    entries: list[Descriptor] = field(default_factory=list)  # index.json entries
    nodes: dict[str, Node] = field(default_factory=dict)
    blobs: dict[str, tuple[str, str, Descriptor]] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)  # small blobs kept
    ledger: ImageEntry | None = None
    left_out: list[str] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # named, left out on purpose


class Collector:
    """Collects references from registries.

    Args:
        pool: the registry clients.
        platforms: platforms to keep of multi-arch images (empty: all).
        signatures_from: per asked reference (or ``""`` for all), more
            repositories to search for signatures.
    """

    def __init__(
        self,
        pool: ClientPool,
        *,
        platforms: tuple[Platform, ...] = (),
        signatures_from: dict[str, list[Reference]] | None = None,
    ) -> None:
        self.pool = pool
        self.platforms = platforms
        self.signatures_from = signatures_from or {}

    def collect(self, asked: str, ref: Reference) -> Collection:
        """Everything about ``ref``.

        Raises:
            InputError: unknown image or tag, registry failures, bad manifests.
        """
        out = Collection()
        client = self.pool.client(ref.api_host)
        target = ref.digest or ref.tag or "latest"
        fetched = client.manifest(ref.repository, target)
        if fetched is None:
            msg = "no such image or tag in the registry"
            raise InputError(msg, where=str(ref), reason=Reason.INPUT_UNREADABLE)
        top = self._node(
            ref.api_host, ref, fetched.digest, fetched.data, fetched.media_type
        )
        out.nodes[top.digest] = top
        resolved = ref if ref.digest else ref.at(top.digest)
        label = f"{ref.name}:{ref.tag}" if ref.tag else str(resolved)
        out.entries.append(
            Descriptor(
                media_type=top.manifest.media_type,
                digest=top.digest,
                size=len(top.data),
                annotations={
                    media.KIND: Kind.IMAGE,
                    media.REF_NAME: asked,
                    media.REPOSITORY: ref.name,
                    media.REFERENCE: label,
                },
            )
        )
        subjects = [top.digest]
        platforms = self._platforms(client, ref, top, out, subjects)
        related: list[Related] = []
        searched = [
            ref,
            *self.signatures_from.get("", []),
            *self.signatures_from.get(asked, []),
        ]
        for repo in searched:
            for subject in subjects:
                self._related(repo, subject, out, related, depth=0)
        out.ledger = ImageEntry(
            asked=asked,
            reference=label if ref.tag else str(resolved),
            digest=top.digest,
            media_type=top.manifest.media_type,
            size=len(top.data),
            platforms=tuple(platforms),
            related=tuple(related),
            left_out=tuple(out.left_out),
        )
        return out

    # -- manifests ------------------------------------------------------------------

    def _node(
        self, host: str, ref: Reference, digest: str, data: bytes, served_as: str
    ) -> Node:
        manifest = parse(
            data,
            media_type=served_as if served_as in media.ALL_MANIFEST_TYPES else None,
            where=f"{ref.name}@{digest}",
        )
        return Node(
            host=host,
            repository=ref.name,
            api_repository=ref.repository,
            digest=digest,
            media_type=manifest.media_type,
            data=data,
            manifest=manifest,
        )

    def _fetch(self, ref: Reference, digest: str) -> Node | None:
        fetched = self.pool.client(ref.api_host).manifest(ref.repository, digest)
        if fetched is None:
            return None
        return self._node(ref.api_host, ref, digest, fetched.data, fetched.media_type)

    def _blobs_of(self, node: Node, out: Collection) -> None:
        if isinstance(node.manifest, ImageManifest):
            for desc in node.manifest.children:
                out.blobs.setdefault(
                    desc.digest, (node.host, node.api_repository, desc)
                )

    def _platforms(
        self,
        client: RegistryClient,
        ref: Reference,
        top: Node,
        out: Collection,
        subjects: list[str],
    ) -> list[PlatformEntry]:
        del client
        self._blobs_of(top, out)
        if not isinstance(top.manifest, ImageIndex):
            return []
        entries: list[PlatformEntry] = []
        stack = list(top.manifest.manifests)
        while stack:
            desc = stack.pop(0)
            platform = desc.platform
            name = str(platform) if platform else "unknown"
            keep = not self.platforms or (
                platform is not None
                and any(platform.matches(p) for p in self.platforms)
            )
            if not keep:
                why = "not among --platform " + ", ".join(
                    str(p) for p in self.platforms
                )
                entries.append(
                    PlatformEntry(
                        platform=name, digest=desc.digest, included=False, reason=why
                    )
                )
                out.missing.add(desc.digest)
                continue
            node = self._fetch(ref, desc.digest)
            if node is None:
                msg = f"the index names platform manifest {desc.digest}, which the registry does not have"
                raise InputError(msg, where=str(ref), reason=Reason.INPUT_UNREADABLE)
            out.nodes[node.digest] = node
            entries.append(
                PlatformEntry(platform=name, digest=desc.digest, included=True)
            )
            subjects.append(node.digest)
            self._blobs_of(node, out)
            if isinstance(node.manifest, ImageIndex):  # nested index: rare, kept whole
                stack.extend(node.manifest.manifests)
        return entries

    # -- what is signed about a digest ---------------------------------------------

    def _add(  # noqa: PLR0913 - keyword-only, each part of the ledger entry named
        self,
        node: Node,
        out: Collection,
        related: list[Related],
        *,
        kind: str,
        subject: str,
        found: str,
        ref_name: str | None,
    ) -> None:
        annotations = {
            media.KIND: kind,
            media.SUBJECT: subject,
            media.REPOSITORY: node.repository,
        }
        if ref_name:
            annotations[media.REF_NAME] = ref_name
        artifact_type = node.manifest.artifact_type or (
            node.manifest.config.media_type
            if isinstance(node.manifest, ImageManifest)
            else None
        )
        out.entries.append(
            Descriptor(
                media_type=node.media_type,
                digest=node.digest,
                size=len(node.data),
                artifact_type=node.manifest.artifact_type,
                annotations=annotations,
            )
        )
        found_evidence = self._evidence(node, out)
        # The layers' annotations (cosign's bundle and certificate: some 5 KB
        # a signature) are read once, into the evidence above; from here on
        # the plan reads digests, sizes and media types, and the archive takes
        # the manifest's own bytes (node.data). Kept parsed beside those bytes
        # they were half of an export's memory (137 KiB an image with ten
        # signatures; 1.6 GB at 10,000 images).
        node = replace(node, manifest=_without_blob_annotations(node.manifest))
        out.nodes[node.digest] = node
        self._blobs_of(node, out)
        related.append(
            Related(
                kind=kind,
                subject=subject,
                found=found,
                repository=node.repository,
                digest=node.digest,
                media_type=node.media_type,
                artifact_type=artifact_type,
                size=len(node.data),
                evidence=found_evidence,
            )
        )

    def _evidence(self, node: Node, out: Collection) -> tuple[Evidence, ...]:
        if not isinstance(node.manifest, ImageManifest):
            return ()
        found: list[Evidence] = []
        for layer in node.manifest.layers:
            if layer.media_type.startswith(media.BUNDLE_PREFIX):
                data = self.pool.client(node.host).blob_bytes(
                    node.api_repository, layer, max_bytes=MAX_DOCUMENT_BYTES
                )
                out.documents[layer.digest] = data
                found.append(evidence.of_bundle(data))
            elif layer.media_type in (media.SIMPLESIGNING, media.DSSE_ENVELOPE) or (
                layer.media_type in media.SBOM_TYPES
            ):
                found.append(
                    evidence.of_layer(layer.media_type, layer.digest, layer.annotations)
                )
        return tuple(found)

    def _related(
        self,
        repo: Reference,
        subject: str,
        out: Collection,
        related: list[Related],
        *,
        depth: int,
    ) -> None:
        if depth >= MAX_DEPTH:
            out.left_out.append(
                f"artifacts about {subject} in {repo.name}: more than {MAX_DEPTH} levels of signatures of signatures"
            )
            return
        for node, kind, how, ref_name in self._legacy_tags(repo, subject, out):
            self._add(
                node,
                out,
                related,
                kind=kind,
                subject=subject,
                found=how,
                ref_name=ref_name,
            )
            self._related(repo, node.digest, out, related, depth=depth + 1)
        listed, how = self._referrer_list(repo, subject, out, related)
        for desc in listed:
            if desc.digest in out.nodes:
                continue
            referrer = self._fetch(repo, desc.digest)
            if referrer is None:
                out.left_out.append(
                    f"referrer {desc.digest} of {subject} is listed but absent from {repo.name}"
                )
                out.missing.add(desc.digest)
                continue
            if (
                referrer.manifest.subject is None
                or referrer.manifest.subject.digest != subject
            ):
                out.left_out.append(
                    f"referrer {desc.digest} listed for {subject} names another subject: not carried"
                )
                out.missing.add(desc.digest)
                continue
            self._add(
                referrer,
                out,
                related,
                kind=Kind.REFERRER,
                subject=subject,
                found=how,
                ref_name=None,
            )
            self._related(repo, referrer.digest, out, related, depth=depth + 1)

    def _legacy_tags(
        self, repo: Reference, subject: str, out: Collection
    ) -> list[tuple[Node, str, str, str]]:
        """The images cosign tags ``sha256-<hex>.sig``, ``.att``, ``.sbom`` for ``subject``."""
        client = self.pool.client(repo.api_host)
        found = []
        for suffix, kind in _LEGACY:
            tag = f"sha256-{subject.removeprefix('sha256:')}.{suffix}"
            fetched = client.manifest(repo.repository, tag)
            if fetched is None or fetched.digest in out.nodes:
                continue
            node = self._node(
                repo.api_host, repo, fetched.digest, fetched.data, fetched.media_type
            )
            found.append((node, kind, f"tag {tag}", f"{repo.name}:{tag}"))
        return found

    def _referrer_list(
        self, repo: Reference, subject: str, out: Collection, related: list[Related]
    ) -> tuple[list[Descriptor], str]:
        """The referrers of ``subject``: the API's list, else the fallback tag's."""
        client = self.pool.client(repo.api_host)
        listed = client.referrers(repo.repository, subject)
        if listed is not None:
            return listed, "referrers API"
        tag = f"sha256-{subject.removeprefix('sha256:')}"
        fetched = client.manifest(repo.repository, tag)
        if fetched is None:
            return [], "referrers tag"
        node = self._node(
            repo.api_host, repo, fetched.digest, fetched.data, fetched.media_type
        )
        if not isinstance(node.manifest, ImageIndex):
            out.left_out.append(
                f"tag {repo.name}:{tag} is not a referrers index: not carried"
            )
            return [], "referrers tag"
        how = f"referrers tag {tag}"
        if fetched.digest not in out.nodes:
            self._add(
                node,
                out,
                related,
                kind=Kind.REFERRERS_INDEX,
                subject=subject,
                found=how,
                ref_name=f"{repo.name}:{tag}",
            )
        return list(node.manifest.manifests), how
