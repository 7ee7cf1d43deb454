"""``bundle-tools export``: references in, one deterministic transfer archive out.

In order, so that bad input fails before any network work: the output path
is checked, every reference parsed, the trust chosen (a capsule directory, a
plain trusted root, none, or by default a capsule refreshed online); then
each reference is collected (:mod:`bundle_tools.collect.discover`), the blobs
fetched into the cache in parallel and checked, the ledger written, and the
archive packed (:mod:`bundle_tools.pack`) in the layout's member order.

The export time is an input (``SOURCE_DATE_EPOCH``, else the clock): with the
same references, registry content, capsule and time, two exports are
byte-identical.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from airlock_io.atomic import check_output
from airlock_registry.tls import TLSOptions
from appliance.core.archive import capsule, layout, media
from appliance.core.archive.layout import Kind
from appliance.core.archive.ledger import Content, Ledger, TrustEntry
from appliance.core.archive.manifest import ImageManifest, Manifest, parse
from appliance.core.errors import InputError, Reason
from bundle_tools import __version__
from bundle_tools.collect.blobs import BlobCache
from bundle_tools.collect.discover import ClientPool, Collection, Collector
from trustroot import strict_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from appliance.core.archive.inventory import Delta, Inventory
    from appliance.core.archive.ledger import Resolution
    from appliance.core.archive.manifest import Descriptor, Platform
    from appliance.core.archive.reference import Reference
    from appliance.core.archive.verdict import ArchiveVerdict
    from bundle_tools.collect.files import CarriedFile
    from bundle_tools.imageset import ImageSet
    from bundle_tools.verify_with import Policy

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


@dataclass(frozen=True, slots=True, kw_only=True)
class Trust:
    """What trust to carry: a capsule directory, a trusted root, none, or refresh."""

    kind: str  # capsule | trusted-root | none | refresh
    path: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """An export, fully described."""

    references: list[tuple[str, Reference]]  # (as asked, parsed)
    out: Path
    platforms: tuple[Platform, ...]
    trust: Trust
    allow_http: frozenset[str]
    jobs: int
    cache: Path
    created: datetime
    signatures_from: dict[str, list[Reference]] = field(default_factory=dict)
    verify_with: Policy | None = None  # judge the plan as the appliance will, first
    tls: TLSOptions = field(
        default_factory=TLSOptions
    )  # --registry-cacert and the client pair
    have: Inventory | None = None  # --have: what the gap holds (a delta)
    delta: Delta | None = None  # what the ledger says of that inventory
    # --revocations: a signed feed, carried in the ledger (the appliance
    # applies it only if it verifies under its policy's revocation_keys).
    revocations: dict[str, Any] | None = None
    image_set: ImageSet | None = None  # --set: resolved against the registries first
    files_ca: Path | None = None  # --files-ca: the CAs for [[files]] https URLs
    # --named-capsule NAME=DIR: a further capsule per named trust root (#22).
    named_capsules: tuple[tuple[str, Path], ...] = ()


@dataclass
class Reporter:
    """Progress callbacks (the CLI draws bars, or prints lines)."""

    phase: Callable[[str], None] = lambda _text: None
    blob_total: Callable[[int, int], None] = lambda _count, _bytes: None
    blob_bytes: Callable[[int], None] = lambda _n: None
    blob_done: Callable[[Descriptor, bool], None] = lambda _d, _fetched: None
    image_done: Callable[[str], None] = lambda _ref: None
    pack_bytes: Callable[[int], None] = lambda _n: None


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """What the export did, for the table and ``-o json``."""

    archive: Path
    size: int
    sha256: str
    ledger: Ledger
    blobs: int
    blob_bytes: int
    fetched: int
    ledger_digest: str = ""  # the ledger's manifest digest (named by a parts index)
    verdict: ArchiveVerdict | None = None  # --verify-with's, when asked

    def to_json(self) -> dict[str, Any]:
        """The summary ``-o json`` prints."""
        kinds: dict[str, int] = {}
        for image in self.ledger.images:
            for related in image.related:
                kinds[related.kind] = kinds.get(related.kind, 0) + 1
        return {
            "archive": str(self.archive),
            "size": self.size,
            "sha256": self.sha256,
            "created": self.ledger.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "images": [
                {
                    "asked": i.asked,
                    "reference": i.reference,
                    "digest": i.digest,
                    "platforms": [p.to_json() for p in i.platforms],
                    "related": len(i.related),
                    "leftOut": list(i.left_out),
                }
                for i in self.ledger.images
            ],
            "related": kinds,
            "trust": self.ledger.trust.to_json(),
            "blobs": self.blobs,
            "blobBytes": self.blob_bytes,
            "fetched": self.fetched,
            "verifiedWith": None
            if self.verdict is None
            else {
                "verified": self.verdict.verified,
                "images": [
                    {"reference": i.reference, "digest": i.digest, "message": i.message}
                    for i in self.verdict.images
                ],
            },
        }


def _entry_key(entry: Descriptor) -> tuple[str, str | None, str | None]:
    """What makes an ``index.json`` entry distinct: its digest, and what it is for.

    An image gets one entry per name, an artifact one per subject it was
    found about: the appliance counts evidence only where index.json and the
    ledger file it alike (a signature copied onto a second image is filed
    under both).
    """
    kind = entry.annotations.get(media.KIND)
    if kind == Kind.IMAGE:
        return entry.digest, kind, entry.annotations.get(media.REFERENCE)
    return entry.digest, kind, entry.annotations.get(media.SUBJECT)


def export_time() -> datetime:
    """``SOURCE_DATE_EPOCH`` if set (reproducible builds' convention), else now.

    Raises:
        InputError: the variable is not a number of seconds.
    """
    value = os.environ.get(SOURCE_DATE_EPOCH)
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    if not value.isdigit() or len(value) > 11:  # noqa: PLR2004 - up to year 5138
        msg = "must be whole seconds since 1970"
        raise InputError(
            msg, where=f"{SOURCE_DATE_EPOCH}={value[:20]}", reason=Reason.USAGE
        )
    return datetime.fromtimestamp(int(value), tz=UTC)


# A named repository's capsule directory inside a `trust update --out` directory.
NAMED_CAPSULE_DIR = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def named_capsule_dirs(directory: Path) -> tuple[tuple[str, Path], ...]:
    """Each ``directory/<name>/`` that ``bundle-tools trust update --repository`` wrote, by name.

    Raises:
        InputError: a link where a capsule directory is expected.
    """
    found: list[tuple[str, Path]] = []
    for path in sorted(directory.iterdir()):
        if path.name == "targets" or not NAMED_CAPSULE_DIR.fullmatch(path.name):
            continue
        if path.is_symlink():
            msg = "a link (links are refused)"
            raise InputError(msg, where=str(path))
        if path.is_dir():
            found.append((path.name, path))
    return tuple(found)


def read_capsule(directory: Path) -> dict[str, bytes]:
    """The files of a trust capsule directory (``bundle-tools trust update``'s output).

    Raises:
        InputError: not a capsule: a link, an odd name, too many or too big files.
    """
    files: dict[str, bytes] = {}
    if not directory.is_dir():
        msg = "not a directory (a capsule from `bundle-tools trust update`)"
        raise InputError(msg, where=str(directory), reason=Reason.USAGE)
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode):
            continue
        name = path.relative_to(directory).as_posix()
        first, sep, _ = name.partition("/")
        if sep and first != "targets" and NAMED_CAPSULE_DIR.fullmatch(first):
            # Another named repository's capsule beside public-good's
            # (`bundle-tools trust update --repository`): carried under its
            # own name by --trust-dir, never as part of this one.
            continue
        if not stat.S_ISREG(info.st_mode):
            msg = "not a regular file (links are refused)"
            raise InputError(msg, where=str(path))
        capsule.check_served_name(name)
        files[name] = inputs.read_file(
            path, what="capsule file", max_bytes=capsule.MAX_CAPSULE_FILE_BYTES
        )
        if len(files) > capsule.MAX_CAPSULE_FILES:
            msg = "too many files for a trust capsule"
            raise InputError(msg, where=str(directory))
    if "timestamp.json" not in files or not any(
        n.endswith(".root.json") for n in files
    ):
        msg = "holds no timestamp.json or root: not a trust capsule"
        raise InputError(msg, where=str(directory), reason=Reason.USAGE)
    return files


def _capsule_entry(files: dict[str, bytes], digest: str) -> TrustEntry:
    """What the ledger says of a capsule: read from it, trusted for nothing."""
    try:
        timestamp = strict_json.loads(files["timestamp.json"])["signed"]
        expires = datetime.strptime(timestamp["expires"], "%Y-%m-%dT%H:%M:%S%z")
        version = int(timestamp["version"])
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"timestamp.json is not TUF metadata ({exc})"
        raise InputError(msg, where="trust capsule") from exc
    roots = [
        int(n.split(".", 1)[0])
        for n in files
        if n.endswith(".root.json") and "/" not in n
    ]
    trusted = next(
        (
            n.split("/")[-1].split(".", 1)[0]
            for n in files
            if n.endswith(".trusted_root.json")
        ),
        None,
    )
    return TrustEntry(
        kind="tuf-capsule",
        digest=digest,
        root_version=max(roots),
        timestamp_version=version,
        timestamp_expires=expires.astimezone(UTC),
        trusted_root_sha256=trusted,
        note="replayed offline from the appliance's own root; never trusted for being here",
    )


def _trust(
    request: Request, reporter: Reporter
) -> tuple[layout.Artifact | None, TrustEntry]:
    choice = request.trust
    if choice.kind == "none":
        return None, TrustEntry(
            kind="none", note="--no-trust: the appliance must already hold trust"
        )
    if choice.kind == "trusted-root":
        assert choice.path is not None  # noqa: S101 - the CLI sets it with the kind
        data = inputs.read_file(
            choice.path, what="trusted root", max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES
        )
        from trustroot.model import TrustedRoot, TrustRootFormatError  # noqa: PLC0415

        try:
            TrustedRoot.from_bytes(data)
        except TrustRootFormatError as exc:
            raise InputError(str(exc), where=str(choice.path)) from exc
        artifact = capsule.trusted_root_artifact(data)
        import hashlib  # noqa: PLC0415

        return artifact, TrustEntry(
            kind="trusted-root",
            digest=artifact.digest,
            trusted_root_sha256=hashlib.sha256(data).hexdigest(),
            note="not TUF-backed: the appliance uses it only with --trusted-root",
        )
    if choice.kind == "capsule":
        assert choice.path is not None  # noqa: S101 - the CLI sets it with the kind
        files = read_capsule(choice.path)
    else:
        reporter.phase("refreshing the Sigstore trust root through TUF (online)")
        from bundle_tools import trust  # noqa: PLC0415 - tuf and urllib3 only when refreshing
        from trustroot import store  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="bundle-tools-capsule-") as tmp:
            trust.update(
                url=trust.PUBLIC_GOOD_URL,
                bootstrap=store.read_embedded(store.PUBLIC_GOOD, "root.json"),
                out=Path(tmp) / "capsule",
            )
            files = read_capsule(Path(tmp) / "capsule")
    artifact = capsule.capsule_artifact(files)
    return artifact, _capsule_entry(files, artifact.digest)


def export(request: Request, reporter: Reporter | None = None) -> Summary:  # noqa: C901, PLR0912, PLR0915 - one pipeline, each step named
    """Run the export described by ``request``.

    Raises:
        InputError: bad input, registry failures, an unwritable output.
    """
    reporter = reporter or Reporter()
    check_output(request.out)  # before any network work
    cache = BlobCache(request.cache)
    pool = ClientPool(request.allow_http, tls=request.tls)
    # An entry that matches nothing fails before the trust is refreshed.
    chosen = with_set(request, pool, reporter)
    trust_artifact, trust_entry = _trust(request, reporter)

    collectors: dict[tuple[Platform, ...], Collector] = {}
    collections: list[Collection] = []
    for asked, ref in chosen.references:
        reporter.phase(f"collecting {asked}")
        platforms = chosen.platforms.get(asked, request.platforms)
        if platforms not in collectors:
            collectors[platforms] = Collector(
                pool, platforms=platforms, signatures_from=chosen.signatures_from
            )
        collections.append(collectors[platforms].collect(asked, ref))
        reporter.image_done(asked)

    # The plan: every index entry, every manifest, every blob and its source.
    entries: list[Descriptor] = []
    manifests: dict[str, Manifest] = {}
    raw: dict[str, bytes] = {}
    fetch: dict[str, tuple[str, str, Descriptor]] = {}
    roles: dict[str, str] = {}
    if trust_artifact is not None:
        entries.append(
            trust_artifact.descriptor(
                kind=Kind.TRUST,
                artifact_type=media.TRUST_CAPSULE
                if trust_entry.kind == "tuf-capsule"
                else media.TRUSTED_ROOT,
            )
        )
        raw.update(trust_artifact.blobs)
        raw[trust_artifact.digest] = trust_artifact.manifest
        manifests[trust_artifact.digest] = parse(
            trust_artifact.manifest,
            media_type=media.OCI_MANIFEST,
            where="trust capsule",
        )
        for digest in trust_artifact.blobs:
            roles[digest] = "trust"
        roles[trust_artifact.digest] = "trust"
    for name, directory in request.named_capsules:
        named = capsule.capsule_artifact(read_capsule(directory))
        entries.append(
            named.descriptor(
                kind=Kind.TRUST,
                artifact_type=media.TRUST_CAPSULE,
                **{media.TRUST_NAME: name},
            )
        )
        raw.update(named.blobs)
        raw[named.digest] = named.manifest
        manifests[named.digest] = parse(
            named.manifest, media_type=media.OCI_MANIFEST, where=f"{name} capsule"
        )
        for digest in (*named.blobs, named.digest):
            roles[digest] = "trust"
    missing: set[str] = set()
    # One entry per digest and purpose (see _entry_key): the appliance
    # requires index.json and the ledger to say the same.
    seen_entries = {_entry_key(e) for e in entries}
    for collection in collections:
        for entry in collection.entries:
            if _entry_key(entry) not in seen_entries:
                entries.append(entry)
                seen_entries.add(_entry_key(entry))
        for digest, node in collection.nodes.items():
            manifests[digest] = node.manifest
            raw[digest] = node.data
            roles.setdefault(
                digest,
                "index" if not isinstance(node.manifest, ImageManifest) else "manifest",
            )
        raw.update(collection.documents)
        for digest, item in collection.blobs.items():
            fetch.setdefault(digest, item)
            roles.setdefault(digest, _role(item[2]))
        missing |= collection.missing
    cache.put_all({digest: data for digest, data in raw.items() if digest in fetch})
    files = carry_files(request, reporter)
    for carried in files:
        for entry in carried.entries:
            if _entry_key(entry) not in seen_entries:
                entries.append(entry)
                seen_entries.add(_entry_key(entry))
        manifests.update(carried.manifests)
        raw.update(carried.raw)
        for digest, role in carried.roles.items():
            roles.setdefault(digest, role)

    order = [
        d for d in layout.member_order(entries, manifests) if d.digest not in missing
    ]
    held = _held(request, order, raw, roles)
    if held:  # a delta: what the gap holds stays there
        order = [d for d in order if d.digest not in {h.digest for h in held}]
        missing |= {h.digest for h in held}
    wanted = [
        fetch[d.digest] for d in order if d.digest not in raw and d.digest in fetch
    ]
    reporter.phase("fetching blobs")
    reporter.blob_total(len(wanted), sum(item[2].size for item in wanted))
    fetched = cache.fetch(
        wanted,
        pool=pool,
        jobs=request.jobs,
        on_bytes=reporter.blob_bytes,
        on_blob=reporter.blob_done,
    )

    ledger = Ledger(
        tool="bundle-tools",
        tool_version=__version__,
        created=request.created,
        images=tuple(c.ledger for c in collections if c.ledger is not None),
        trust=trust_entry,
        contents=tuple(
            Content(digest=d.digest, size=d.size, role=roles.get(d.digest, "blob"))
            for d in order
        ),
        platforms=tuple(str(p) for p in request.platforms),
        omitted_held=tuple(
            Content(digest=d.digest, size=d.size, role=roles.get(d.digest, "blob"))
            for d in held
        ),
        delta=request.delta,
        revocations=request.revocations,
        resolution=chosen.resolution,
        files=tuple(f.entry for f in files),
    )
    ledger_artifact = layout.file_artifact(
        media.LEDGER, {"ledger.json": ledger.to_bytes()}, media_type=media.LEDGER
    )
    ledger_entry = ledger_artifact.descriptor(
        kind=Kind.LEDGER, artifact_type=media.LEDGER
    )
    manifests[ledger_artifact.digest] = parse(
        ledger_artifact.manifest, media_type=media.OCI_MANIFEST, where="ledger"
    )
    raw[ledger_artifact.digest] = ledger_artifact.manifest
    raw.update(ledger_artifact.blobs)
    all_entries = [ledger_entry, *entries]
    full_order = [
        d
        for d in layout.member_order(all_entries, manifests)
        if d.digest not in missing
    ]

    def source(digest: str) -> bytes | Path:
        return raw[digest] if digest in raw else cache.path(digest)

    verdict = _verify_plan(request, reporter, all_entries, full_order, source)
    reporter.phase("writing the archive")
    from bundle_tools.pack import CacheDamagedError  # noqa: PLC0415

    try:
        written = write_archive_plan(request, all_entries, full_order, source, reporter)
    except CacheDamagedError as exc:
        cache.forget(exc.digest)
        raise
    return Summary(
        archive=written.path,
        size=written.size,
        sha256=written.sha256,
        ledger=ledger,
        blobs=len(full_order),
        blob_bytes=sum(d.size for d in full_order),
        fetched=fetched,
        ledger_digest=ledger_entry.digest,
        verdict=verdict,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Chosen:
    """What an export carries: the references, with ``--set``'s resolved in."""

    references: list[tuple[str, Reference]]
    platforms: dict[str, tuple[Platform, ...]]  # per asked reference, from its entry
    signatures_from: dict[str, list[Reference]]
    resolution: tuple[Resolution, ...] = ()


def carry_files(request: Request, reporter: Reporter) -> list[CarriedFile]:
    """``[[files]]``: each file and its signature, read (paths relative to the set file)."""
    if request.image_set is None or not request.image_set.files:
        return []
    from bundle_tools.collect.files import carry  # noqa: PLC0415

    base = Path(request.image_set.source).parent
    found = []
    for spec in request.image_set.files:
        reporter.phase(f"reading file {spec.name}")
        found.append(carry(spec, base=base, ca=request.files_ca))
    return found


def tag_lister(pool: ClientPool) -> Callable[[Reference], list[str]]:
    """List a repository's tags through the pool's client for its registry."""
    from bundle_tools.collect.tags import list_tags  # noqa: PLC0415

    return lambda repo: list_tags(pool.client(repo.api_host), repo.repository)


def with_set(request: Request, pool: ClientPool, reporter: Reporter) -> Chosen:
    """``--set``: each entry resolved; its references after those on the command line.

    A reference named twice is carried once, under the first entry (or the
    command line) that named it.

    Raises:
        InputError: an entry matches nothing and is not optional; the
            registry failed.
    """
    if request.image_set is None:
        return Chosen(
            references=request.references,
            platforms={},
            signatures_from=request.signatures_from,
        )
    from bundle_tools import imageset  # noqa: PLC0415

    reporter.phase(f"resolving {request.image_set.source}")
    resolved = imageset.resolve(request.image_set, tag_lister(pool))
    references = list(request.references)
    seen = {str(ref) for _, ref in references}
    platforms: dict[str, tuple[Platform, ...]] = {}
    signatures_from = {k: list(v) for k, v in request.signatures_from.items()}
    for asked, ref, spec in imageset.references(request.image_set, resolved):
        if str(ref) in seen:
            continue
        seen.add(str(ref))
        references.append((asked, ref))
        if spec.platforms:
            platforms[asked] = spec.platforms
        if spec.signatures_from:
            signatures_from.setdefault(asked, []).extend(spec.signatures_from)
    return Chosen(
        references=references,
        platforms=platforms,
        signatures_from=signatures_from,
        resolution=tuple(resolved),
    )


def _verify_plan(
    request: Request,
    reporter: Reporter,
    entries: list[Descriptor],
    order: list[Descriptor],
    source: Callable[[str], bytes | Path],
) -> ArchiveVerdict | None:
    """``--verify-with``: the appliance's verdict on the plan, or why nothing is written."""
    if request.verify_with is None:
        return None
    reporter.phase(
        f"verifying the archive as the appliance will ({request.verify_with.path})"
    )
    from bundle_tools import verify_with  # noqa: PLC0415

    contents = verify_with.planned_contents(layout.index_json(entries), order, source)
    return verify_with.judge(
        contents,
        policy=request.verify_with,
        trust=verify_with.trust_material(contents),
        now=datetime.now(UTC),
    )


def write_archive_plan(
    request: Request,
    entries: list[Descriptor],
    order: list[Descriptor],
    source: Callable[[str], bytes | Path],
    reporter: Reporter,
) -> Any:  # noqa: ANN401 - pack.Written, imported lazily
    """Pack the planned layout (zstandard is imported only here)."""
    from bundle_tools.pack import write_archive  # noqa: PLC0415

    return write_archive(
        request.out,
        index=layout.index_json(entries),
        order=order,
        source=source,
        mtime=int(request.created.timestamp()),
        on_bytes=reporter.pack_bytes,
    )


def _held(
    request: Request,
    order: list[Descriptor],
    raw: dict[str, bytes],
    roles: dict[str, str],
) -> list[Descriptor]:
    """Image layers and configs the inventory says the gap holds (same digest, same size).

    Manifests, signatures, attestations, SBOMs, bundles and the trust always
    travel: only what is verified *through* a signed manifest may stay behind.
    """
    if request.have is None:
        return []
    return [
        d
        for d in order
        if d.digest not in raw
        and roles.get(d.digest) in ("layer", "config")
        and d.media_type != media.EMPTY
        and request.have.blobs.get(d.digest) == d.size
    ]


def _role(desc: Descriptor) -> str:
    kind = desc.media_type
    if kind in (media.OCI_CONFIG, media.DOCKER_CONFIG, media.EMPTY):
        return "config"
    if kind == media.SIMPLESIGNING:
        return "signature"
    if kind == media.DSSE_ENVELOPE:
        return "attestation"
    if kind.startswith(media.BUNDLE_PREFIX):
        return "bundle"
    if kind in media.SBOM_TYPES:
        return "sbom"
    return "layer"
