"""``bundle-tools inspect``: what an archive holds, without extracting anything.

One streaming pass (the appliance's own reader: every member hashed, the
layout checked), then the ledger and the layout are summarised: images,
platforms, what was found about each, the trust carried and its age, sizes.
Nothing is verified cryptographically here: that is the appliance's job.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airlock_io.archive import read_archive
from appliance.core.archive import view

if TYPE_CHECKING:
    from pathlib import Path


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(path: Path) -> dict[str, Any]:
    """A JSON-ready description of the archive at ``path``.

    Raises:
        InputError: unreadable, truncated, or not an Airlock archive.
        VerificationError: a member that does not hash to its name.
    """
    archive = read_archive(path)
    contents = archive.contents
    ledger, _ = view.ledger(contents)
    now = datetime.now(UTC)
    trust = ledger.trust
    kinds: dict[str, int] = {}
    images = []
    for image in ledger.images:
        counted: dict[str, int] = {}
        for related in image.related:
            counted[related.kind] = counted.get(related.kind, 0) + 1
            kinds[related.kind] = kinds.get(related.kind, 0) + 1
        images.append(
            {
                "asked": image.asked,
                "reference": image.reference,
                "digest": image.digest,
                "platforms": [p.to_json() for p in image.platforms],
                "related": counted,
                "leftOut": list(image.left_out),
                "lacksOffline": sorted(
                    {
                        lack
                        for r in image.related
                        for e in r.evidence
                        for lack in e.lacks
                    }
                ),
            }
        )
    return {
        "archive": str(path),
        "kind": archive.kind,
        "sha256": archive.sha256,
        "size": archive.size,
        "exporter": f"{ledger.tool} {ledger.tool_version}",
        "created": _iso(ledger.created),
        "ageDays": round((now - ledger.created).total_seconds() / 86400, 1),
        "images": images,
        "related": kinds,
        "trust": {
            **trust.to_json(),
            "timestampAgeDays": None
            if trust.timestamp_expires is None
            else round((now - trust.timestamp_expires).total_seconds() / 86400, 1),
        },
        "blobs": len(contents.blobs),
        "blobBytes": sum(contents.blobs.values()),
        "notCarried": sorted(contents.missing),
        "resolution": [r.to_json() for r in ledger.resolution],
        "files": [f.to_json() for f in ledger.files],
        "revocations": _feed(ledger.revocations),
    }


def _feed(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a carried revocation feed claims (unverified here: the appliance checks its signature)."""
    if doc is None:
        return None
    payload = doc.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    entries = payload.get("entries")
    return {
        "publisher": str(payload.get("publisher", "?")),
        "version": payload.get("version"),
        "issued": str(payload.get("issued", "?")),
        "entries": len(entries) if isinstance(entries, list) else None,
        "signatures": len(doc.get("signatures") or []),
    }


def render(report: dict[str, Any]) -> None:
    """Print the description as text.

    Every string of the ledger (names, platforms, kinds, what evidence
    lacks) is the exporter's word, which anyone who handled the media may
    have changed: table cells are plain ``Text`` and printed lines escape
    them (:func:`airlock_io.terminal.untrusted`), so that nothing in an
    archive can draw on the operator's terminal.
    """
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    from airlock_io.terminal import untrusted  # noqa: PLC0415

    def cell(text: str) -> Text:
        return Text(untrusted(text, markup=False))

    console = Console(file=sys.stdout, highlight=False)
    console.print(
        f"{untrusted(report['archive'])}: {report['kind']}, {report['size'] / 1024**2:,.1f} MiB, {report['sha256'] or '(a directory)'}"
    )
    console.print(
        f"exported by {untrusted(report['exporter'])} at {report['created']} ({report['ageDays']} days ago)"
    )
    table = Table()
    table.add_column("image", overflow="fold")
    table.add_column("digest", no_wrap=True, min_width=19)
    table.add_column("platforms", overflow="fold")
    table.add_column("found about it", overflow="fold")
    table.add_column("lacks offline", overflow="fold")
    for image in report["images"]:
        platforms = (
            ", ".join(
                p["platform"] + ("" if p["included"] else " (left out)")
                for p in image["platforms"]
            )
            or "single"
        )
        found = (
            ", ".join(f"{n} {k}" for k, n in sorted(image["related"].items()))
            or "nothing"
        )
        table.add_row(
            cell(image["asked"]),
            cell(image["digest"][:19]),
            cell(platforms),
            cell(found),
            cell("; ".join(image["lacksOffline"]) or "-"),
        )
    console.print(table)
    trust = report["trust"]
    line = f"trust: {untrusted(trust['kind'])}"
    if trust.get("rootVersion"):
        line += f", TUF root v{trust['rootVersion']}, timestamp v{trust['timestampVersion']}, expires {trust['timestampExpires']}"
    console.print(line)
    console.print(f"{report['blobs']} blobs, {report['blobBytes'] / 1024**2:,.1f} MiB")
    feed = report.get("revocations")
    if feed is not None:  # export --revocations: the feed's claims, unverified here
        console.print(
            f"revocation feed {untrusted(feed['publisher'])} v{untrusted(str(feed['version']))} "
            f"of {untrusted(feed['issued'])}: {feed['entries']} entries, "
            f"{feed['signatures']} signature(s), checked by the appliance"
        )
    for carried in report.get("files", []):  # export --set [[files]]
        console.print(
            f"file {untrusted(carried['name'])}: {carried['size']:,} bytes, "
            f"{untrusted(carried['blob'])}, signed by {untrusted(carried['form'])}, "
            f"from {untrusted(carried['source'])}"
        )
    # export --set: what each entry resolved to
    for entry in report.get("resolution", []):
        listed = entry["listed"]
        console.print(
            f"set {untrusted(entry['source'])}: {untrusted(entry['repository'])}, "
            + ("digests only" if listed is None else f"{len(listed)} tags listed")
            + ", matched "
            + (
                ", ".join(
                    f"{untrusted(m['target'])} ({untrusted(m['why'])})"
                    for m in entry["matched"]
                )
                or "nothing (optional)"
            )
        )
