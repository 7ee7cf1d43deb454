"""``bundle-tools export`` and ``bundle-tools inspect``: flags, and what they print.

Every input is checked before the first network request: the references
(and ``-f LIST``), ``--platform``, the trust choice, the output path.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io.exit_codes import ExitCode
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import argparse
    import contextlib

    from airlock_registry.tls import TLSOptions
    from appliance.core.archive.inventory import Delta, Inventory
    from appliance.core.archive.reference import Reference
    from bundle_tools import export
    from bundle_tools.imageset import ImageSet


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``export`` and ``inspect``."""
    export = commands.add_parser(
        "export",
        help="pull images, everything signed about them and the trust root into one archive",
        description=(
            "Pull each image (all platforms, or those named), its cosign signatures, attestations "
            "and SBOMs (sha256-<hex>.sig/.att/.sbom), its OCI 1.1 referrers (the API, or the "
            "sha256-<hex> fallback tag) and Sigstore bundles, recursively, and the Sigstore trust "
            "root through TUF, into one deterministic OCI layout packed as tar+zstd. Nothing is "
            "dropped silently: the ledger inside lists what was found, carried and left out."
        ),
    )
    export.add_argument(
        "references", metavar="REF", nargs="*", help="image reference (tag or digest)"
    )
    export.add_argument(
        "-f",
        dest="ref_file",
        metavar="LIST",
        type=Path,
        help="file of references, one per line (# comments)",
    )
    export.add_argument(
        "--set",
        dest="image_set",
        metavar="FILE.toml",
        type=Path,
        help="an image-set file: repositories and tag filters (docs/image-sets.md); "
        "REF... and -f LIST are added to it",
    )
    export.add_argument(
        "--files-ca",
        metavar="PEM",
        type=Path,
        help="trust only these CAs for the https URLs of [[files]] (default: the system's)",
    )
    export.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve the set and list what would be carried, fetching no blobs and writing nothing",
    )
    export.add_argument(
        "--out",
        "--output-file",
        dest="out",
        metavar="OUT.tar.zst",
        type=Path,
        help="the archive to write (required unless --dry-run)",
    )
    platforms = export.add_argument_group("platforms")
    platforms.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="keep only these platforms of multi-arch images (repeatable)",
    )
    platforms.add_argument(
        "--all-platforms", action="store_true", help="keep every platform (the default)"
    )
    trust = export.add_argument_group("trust (one of)").add_mutually_exclusive_group()
    trust.add_argument(
        "--trust-capsule",
        metavar="DIR",
        type=Path,
        help="embed this capsule (from `bundle-tools trust update`)",
    )
    trust.add_argument(
        "--trust-dir",
        metavar="DIR",
        type=Path,
        help="embed every capsule of `bundle-tools trust update --repository ... --out DIR`: "
        "public-good's (DIR itself, when refreshed) and each DIR/NAME/ as NAME's, as "
        "--trust-capsule DIR plus --named-capsule NAME=DIR/NAME",
    )
    trust.add_argument(
        "--trusted-root",
        metavar="FILE",
        type=Path,
        help="embed a plain trusted_root.json (private Sigstore; not TUF-backed)",
    )
    export.add_argument(
        "--named-capsule",
        metavar="NAME=DIR",
        action="append",
        default=[],
        help="also carry the capsule of another named trust root (e.g. github=capsule-gh, from "
        "`bundle-tools trust update --tuf-url ... --root ...`); the appliance replays it from its "
        "own root of that name (repeatable)",
    )
    trust.add_argument(
        "--no-trust",
        action="store_true",
        help="embed no trust (the appliance must already hold it)",
    )
    registry = export.add_argument_group("registries")
    registry.add_argument(
        "--allow-http-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="speak plain HTTP to this registry (repeatable)",
    )
    registry.add_argument(
        "--registry-cacert",
        metavar="FILE",
        type=Path,
        help="trust this CA (PEM) for the registries, besides the system store and certs.d",
    )
    registry.add_argument(
        "--registry-client-cert",
        metavar="FILE",
        type=Path,
        help="present this client certificate (PEM) to the registries (mutual TLS)",
    )
    registry.add_argument(
        "--registry-client-key",
        metavar="FILE",
        type=Path,
        help="the private key (PEM) of --registry-client-cert",
    )
    registry.add_argument(
        "--signatures-from",
        action="append",
        default=[],
        metavar="[REF=]REPO",
        help="also look for signatures in REPO (for REF only, or for all)",
    )
    registry.add_argument(
        "--jobs",
        type=int,
        default=4,
        metavar="N",
        help="parallel blob transfers (default 4)",
    )
    registry.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="blob cache (default $BUNDLE_TOOLS_CACHE or $XDG_CACHE_HOME/airlock-bundle-tools)",
    )
    media = export.add_argument_group("media (parts) and deltas")
    media.add_argument(
        "--split",
        metavar="SIZE",
        help="write STEM.part-NNNN.tar.zst of SIZE bytes each (4GiB, 700MiB) and STEM.parts.json",
    )
    media.add_argument(
        "--resend",
        metavar="REQUEST.json",
        type=Path,
        help="regenerate only the parts an appliance's re-request list names (same inputs as the first export)",
    )
    media.add_argument(
        "--have",
        metavar="INVENTORY.json",
        type=Path,
        help="omit every layer and config blob the gap already holds (an `appliance inventory`)",
    )
    export.add_argument(
        "--revocations",
        metavar="FEED.json",
        type=Path,
        help="carry this signed revocation feed (`bundle-tools revocations sign`) to the appliance",
    )
    export.add_argument(
        "--verify-with",
        metavar="POLICY.toml",
        type=Path,
        help="verify what was collected against this appliance policy before packing; "
        "write nothing if it would fail on the other side",
    )
    export.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="summary format on stdout",
    )
    export.set_defaults(handler=run_export)

    inspect = commands.add_parser(
        "inspect",
        help="what an archive holds, from its ledger and layout, without extracting it",
    )
    inspect.add_argument("archive", metavar="ARCHIVE", type=Path)
    inspect.add_argument("-o", "--output", choices=("text", "json"), default="text")
    inspect.set_defaults(handler=run_inspect)


def _image_set(args: argparse.Namespace) -> ImageSet | None:
    """``--set``: read and checked whole, before any network work."""
    if args.image_set is None:
        return None
    from airlock_io import inputs  # noqa: PLC0415
    from bundle_tools.imageset import MAX_SET_BYTES, ImageSet  # noqa: PLC0415

    data = inputs.read_file(
        args.image_set, what="image-set file", max_bytes=MAX_SET_BYTES
    )
    return ImageSet.from_toml(data, source=str(args.image_set))


def _references(
    args: argparse.Namespace, *, with_set: bool = False
) -> list[tuple[str, Reference]]:
    from airlock_io import inputs  # noqa: PLC0415
    from appliance.core.archive.reference import parse_reference  # noqa: PLC0415

    asked = list(args.references)
    if args.ref_file is not None:
        text = inputs.read_file(
            args.ref_file, what="reference list", max_bytes=inputs.MAX_POLICY_BYTES
        )
        try:
            lines = text.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise InputError("not UTF-8 text", where=str(args.ref_file)) from exc
        for number, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip()
            if entry:
                if " " in entry:
                    msg = f"line {number}: one reference per line"
                    raise InputError(msg, where=str(args.ref_file), reason=Reason.USAGE)
                asked.append(entry)
    if not asked and not with_set:
        msg = "name at least one image (REF, -f LIST or --set FILE.toml)"
        raise InputError(msg, reason=Reason.USAGE)
    seen: dict[str, str] = {}
    parsed = []
    for item in asked:
        ref = parse_reference(item)
        if str(ref) in seen:
            continue  # the same image asked twice is carried once
        seen[str(ref)] = item
        parsed.append((item, ref))
    return parsed


def _signatures_from(
    args: argparse.Namespace, refs: list[tuple[str, Reference]]
) -> dict[str, list[Reference]]:
    from appliance.core.archive.reference import parse_reference  # noqa: PLC0415

    found: dict[str, list[Reference]] = {}
    asked = {a for a, _ in refs}
    for item in args.signatures_from:
        target, sep, repo = item.rpartition("=")
        if sep and target not in asked:
            msg = f"names {target!r}, which is not among the references"
            raise InputError(
                msg, where=f"--signatures-from {item}", reason=Reason.USAGE
            )
        ref = parse_reference(repo)
        if ref.digest is not None or (ref.tag not in (None, "latest")):
            msg = "name a repository, without tag or digest"
            raise InputError(
                msg, where=f"--signatures-from {item}", reason=Reason.USAGE
            )
        found.setdefault(target if sep else "", []).append(ref)
    return found


def _jobs(value: int) -> int:
    if not 1 <= value <= 64:  # noqa: PLR2004
        msg = "between 1 and 64"
        raise InputError(msg, where=f"--jobs {value}", reason=Reason.USAGE)
    return value


def run_export(args: argparse.Namespace) -> int:
    """Export, then print the summary."""
    from appliance.core.archive.manifest import Platform  # noqa: PLC0415
    from bundle_tools import export, progress  # noqa: PLC0415
    from bundle_tools.collect.blobs import default_cache  # noqa: PLC0415

    if args.all_platforms and args.platform:
        raise InputError(
            "give --platform or --all-platforms, not both", reason=Reason.USAGE
        )
    image_set = _image_set(args)
    refs = _references(args, with_set=image_set is not None)
    if args.out is None and not args.dry_run:
        msg = "--out OUT.tar.zst is required (or --dry-run)"
        raise InputError(msg, reason=Reason.USAGE)
    if args.dry_run:
        return _dry_run(args, refs, image_set)
    policy = None
    if args.verify_with is not None:
        from bundle_tools.verify_with import load_policy  # noqa: PLC0415

        policy = load_policy(args.verify_with)  # before any network work
    named = _named_capsules(args.named_capsule)
    if args.trust_dir is not None:
        args.trust_capsule, named = _trust_dir(args.trust_dir, named)
        args.no_trust = args.trust_capsule is None
    trust = (
        export.Trust(kind="capsule", path=args.trust_capsule)
        if args.trust_capsule is not None
        else export.Trust(kind="trusted-root", path=args.trusted_root)
        if args.trusted_root is not None
        else export.Trust(kind="none")
        if args.no_trust
        else export.Trust(kind="refresh")
    )
    have, delta = _have(args.have)
    request = export.Request(
        named_capsules=named,
        references=refs,
        out=args.out,
        platforms=tuple(Platform.parse(p) for p in args.platform),
        trust=trust,
        allow_http=frozenset(args.allow_http_registry),
        tls=_tls(args),
        jobs=_jobs(args.jobs),
        cache=args.cache or default_cache(),
        created=export.export_time(),
        signatures_from=_signatures_from(args, refs),
        verify_with=policy,
        have=have,
        delta=delta,
        revocations=_revocations(args.revocations),
        image_set=image_set,
        files_ca=args.files_ca,
    )
    reporter, context = progress.reporter(
        images=len(refs) + (0 if image_set is None else len(image_set.images))
    )
    if args.split is None and args.resend is None:
        with context:
            summary = export.export(request, reporter)
        return _show(args, summary.to_json(), summary)
    return _export_parts(args, request, reporter, context)


def _revocations(path: Path | None) -> dict[str, Any] | None:
    """``--revocations``: the feed's JSON object (its signature is the appliance's to check)."""
    if path is None:
        return None
    from airlock_io import inputs  # noqa: PLC0415
    from appliance.core.revocations import (  # noqa: PLC0415
        MAX_FEED_BYTES,
        MEDIA_TYPE,
        document,
    )

    doc = document(
        inputs.read_file(path, what="revocation feed", max_bytes=MAX_FEED_BYTES),
        where=str(path),
    )
    if doc.get("mediaType") != MEDIA_TYPE or not doc.get("signatures"):
        msg = "not a signed revocation feed (bundle-tools revocations sign makes one)"
        raise InputError(msg, where=str(path))
    return doc


def _dry_run(
    args: argparse.Namespace,
    refs: list[tuple[str, Reference]],
    image_set: ImageSet | None,
) -> int:
    """``--dry-run``: resolve and list; no manifest or blob fetched, nothing written."""
    from bundle_tools import export  # noqa: PLC0415
    from bundle_tools.collect.discover import ClientPool  # noqa: PLC0415

    request = export.Request(
        references=refs,
        out=args.out or Path(),
        platforms=(),
        trust=export.Trust(kind="none"),
        allow_http=frozenset(args.allow_http_registry),
        jobs=1,
        cache=Path(),
        created=export.export_time(),
        signatures_from=_signatures_from(args, refs),
        image_set=image_set,
        tls=_tls(args),
    )
    chosen = export.with_set(
        request, ClientPool(request.allow_http, tls=request.tls), export.Reporter()
    )
    files = [] if image_set is None else image_set.files
    doc = {
        "dryRun": True,
        "references": [asked for asked, _ in chosen.references],
        "resolution": [r.to_json() for r in chosen.resolution],
        "files": [
            {"name": f.name, "source": str(f.file), "form": f.form} for f in files
        ],
    }
    if args.output == "json":
        print(json.dumps(doc, indent=2))
        return ExitCode.OK
    from airlock_io.terminal import untrusted  # noqa: PLC0415

    for resolution in chosen.resolution:  # tags are the registry's words
        listed = (
            "digests only, nothing listed"
            if resolution.listed is None
            else f"{len(resolution.listed)} tags listed"
        )
        print(
            f"{untrusted(resolution.source)}  {untrusted(resolution.repository)}: "
            f"{listed}, {len(resolution.matched)} matched"
        )
        for match in resolution.matched:
            print(f"  {untrusted(match.target)}  ({untrusted(match.why)})")
    print(f"would export {len(chosen.references)} image(s):")
    for asked, _ in chosen.references:
        print(f"  {untrusted(asked)}")
    if files:
        print(f"and {len(files)} file(s), read only when exporting:")
    for carried in files:
        print(
            f"  {untrusted(carried.name)} from {untrusted(str(carried.file))} ({carried.form})"
        )
    return ExitCode.OK


def _have(path: Path | None) -> tuple[Inventory | None, Delta | None]:
    """``--have``: the inventory, and what the ledger will say of it."""
    if path is None:
        return None, None
    import hashlib  # noqa: PLC0415

    from airlock_io import inputs  # noqa: PLC0415
    from appliance.core.archive.inventory import Delta, Inventory  # noqa: PLC0415

    data = inputs.read_file(path, what="inventory", max_bytes=512 * 1024 * 1024)
    inventory = Inventory.from_bytes(data, where=str(path))
    delta = Delta(
        inventory_sha256="sha256:" + hashlib.sha256(data).hexdigest(),
        appliance=inventory.appliance,
        inventory_created=inventory.created,
    )
    return inventory, delta


def _export_parts(
    args: argparse.Namespace,
    request: export.Request,
    reporter: export.Reporter,
    context: contextlib.AbstractContextManager[object],
) -> int:
    """``--split`` or ``--resend``: the archive written whole beside OUT, then cut; the whole removed."""
    import dataclasses  # noqa: PLC0415

    from airlock_io import inputs  # noqa: PLC0415
    from appliance.core.archive.parts import Request, parse_size  # noqa: PLC0415
    from bundle_tools import export, split  # noqa: PLC0415

    wanted = None
    if args.resend is not None:
        wanted = Request.from_bytes(
            inputs.read_file(
                args.resend, what="re-request list", max_bytes=inputs.MAX_POLICY_BYTES
            ),
            where=str(args.resend),
        )
        part_size = wanted.part_size
    else:
        part_size = parse_size(args.split, where=f"--split {args.split}")
    whole = args.out.with_name(f".{args.out.name}.whole")
    try:
        with context:
            summary = export.export(dataclasses.replace(request, out=whole), reporter)
        index = (
            split.split(
                whole,
                args.out,
                part_size=part_size,
                archive_sha256=summary.sha256,
                ledger_digest=summary.ledger_digest,
            )
            if wanted is None
            else split.resend(
                whole,
                args.out,
                wanted,
                archive_sha256=summary.sha256,
                ledger_digest=summary.ledger_digest,
            )
        )
    finally:
        whole.unlink(missing_ok=True)
    written = [
        p
        for p in index.parts
        if wanted is None or p.number in {w.number for w in wanted.parts}
    ]
    doc = {
        **summary.to_json(),
        "archive": str(split.index_path(args.out)),
        "parts": [p.to_json() for p in written],
        "resent": wanted is not None,
    }
    return _show(args, doc, summary)


def _show(
    args: argparse.Namespace, doc: dict[str, Any], summary: export.Summary
) -> int:
    if args.output == "json":
        print(json.dumps(doc, indent=2))
        return ExitCode.OK
    _print_summary(summary)
    for part in doc.get("parts", []):
        print(f"  {part['name']}  {part['size']:,} bytes  {part['sha256']}")
    if doc.get("parts"):
        print(f"  index: {doc['archive']}")
    return ExitCode.OK


def _print_summary(summary: object) -> None:
    """The export's table; names, platforms and reasons (a registry's words) escaped."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    from airlock_io.terminal import untrusted  # noqa: PLC0415
    from bundle_tools.export import Summary  # noqa: PLC0415

    def cell(text: str) -> Text:
        return Text(untrusted(text, markup=False))

    assert isinstance(summary, Summary)  # noqa: S101 - narrows the type
    console = Console(file=sys.stdout, highlight=False)
    table = Table(title=f"Exported to {untrusted(str(summary.archive))}")
    table.add_column("image", overflow="fold")
    table.add_column("digest", no_wrap=True, min_width=19)
    table.add_column("platforms", overflow="fold")
    for column in ("signatures", "attestations", "sboms", "referrers", "left out"):
        table.add_column(column)
    for image in summary.ledger.images:
        count = {
            k: sum(1 for r in image.related if r.kind == k)
            for k in ("signature", "attestation", "sbom", "referrer")
        }
        platforms = (
            ", ".join(p.platform for p in image.platforms if p.included) or "single"
        )
        table.add_row(
            cell(image.asked),
            cell(image.digest[:19]),
            cell(platforms),
            *(str(count[k]) for k in ("signature", "attestation", "sbom", "referrer")),
            str(
                len(image.left_out) + sum(1 for p in image.platforms if not p.included)
            ),
        )
    console.print(table)
    trust = summary.ledger.trust
    console.print(
        f"{summary.blobs} blobs, {summary.blob_bytes / 1024**2:,.1f} MiB ({summary.fetched} fetched, the rest from the cache); "
        f"archive {summary.size / 1024**2:,.1f} MiB, {summary.sha256}"
    )
    console.print(
        f"trust: {untrusted(trust.kind)}"
        + (
            f", TUF root v{trust.root_version}, timestamp v{trust.timestamp_version}"
            if trust.root_version
            else ""
        )
    )
    for image in summary.ledger.images:
        asked = untrusted(image.asked)
        for reason in image.left_out:
            console.print(f"left out ({asked}): {untrusted(reason)}")
        for platform in image.platforms:
            if not platform.included:
                console.print(
                    f"left out ({asked}): platform {untrusted(platform.platform)}: {untrusted(str(platform.reason))}"
                )


def run_inspect(args: argparse.Namespace) -> int:
    """Print what an archive holds."""
    from bundle_tools.inspect import describe, render  # noqa: PLC0415

    report = describe(args.archive)
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        render(report)
    return ExitCode.OK


def _tls(args: argparse.Namespace) -> TLSOptions:
    """``--registry-cacert`` and the client pair (certs.d and the system store apply anyway).

    Raises:
        InputError: a client certificate without its key, or the reverse.
    """
    from airlock_registry.tls import TLSOptions  # noqa: PLC0415 - with the export, not every start

    return TLSOptions(
        cacert=args.registry_cacert,
        client_cert=args.registry_client_cert,
        client_key=args.registry_client_key,
    )


_ROOT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _named_capsules(items: list[str]) -> tuple[tuple[str, Path], ...]:
    """``--named-capsule NAME=DIR``, each name once and never ``public-good`` (that is ``--trust-capsule``).

    Raises:
        InputError: a malformed, repeated or reserved name.
    """
    found: list[tuple[str, Path]] = []
    for item in items:
        name, sep, directory = item.partition("=")
        if not sep or not directory or not _ROOT_NAME.fullmatch(name):
            msg = "expected NAME=DIR, NAME in lowercase letters, digits and '-'"
            raise InputError(
                msg, where=f"--named-capsule {item[:60]}", reason=Reason.USAGE
            )
        if name == "public-good" or any(name == n for n, _ in found):
            msg = "each name once, and public-good's capsule is --trust-capsule"
            raise InputError(msg, where=f"--named-capsule {name}", reason=Reason.USAGE)
        found.append((name, Path(directory)))
    return tuple(found)


def _trust_dir(
    directory: Path, named: tuple[tuple[str, Path], ...]
) -> tuple[Path | None, tuple[tuple[str, Path], ...]]:
    """``--trust-dir DIR``: public-good's capsule (DIR, if it holds one) and each ``DIR/NAME/``.

    Without public-good's capsule (``trust update --no-public-good``) none is
    embedded for it: the export never goes online for a root the operator left out.

    Raises:
        InputError: not a directory, no capsule in it, or a name also given to --named-capsule.
    """
    from bundle_tools import export  # noqa: PLC0415 - with the export, not every start

    if not directory.is_dir():
        msg = "not a directory (from `bundle-tools trust update --out`)"
        raise InputError(msg, where=f"--trust-dir {directory}", reason=Reason.USAGE)
    public_good = directory if (directory / "timestamp.json").is_file() else None
    found = export.named_capsule_dirs(directory)
    if public_good is None and not found:
        msg = "holds no trust capsule (from `bundle-tools trust update --out`)"
        raise InputError(msg, where=f"--trust-dir {directory}", reason=Reason.USAGE)
    given = {name for name, _ in named}
    for name, _ in found:
        if name in given:
            msg = f"{name}'s capsule is in --trust-dir already"
            raise InputError(msg, where=f"--named-capsule {name}", reason=Reason.USAGE)
    return public_good, (*found, *named)
