"""``make bench``: every benchmark, our figure beside the peer's measured in the same run, and the ratio.

``python -m benchmarks [SECTION...]`` (``make bench ONLY="verify scale"``) runs
the named sections, ``--help`` lists them (the ``SECTIONS`` table below). Each
section prints a table; all rows are also written as JSON to
``benchmarks/results/<commit>.json`` (``benchmarks/results/latest.json`` too)
for a full run, ``benchmarks/results/<commit>-<sections>.json`` for a chosen
few, so that figures can be compared across commits. Sections: bundle
verification in process and per process (sigstore-python), sealed start (a
PyInstaller hello-world), export (skopeo + tar + zstd), intake and scale
(hashlib, ``zstd -d | sha256sum``, sigstore-python), load (skopeo copy),
deltas (the full export),
HSM signing (raw C_Sign), the gap-local TUF repository (python-tuf's metadata
API), TUI latency and first paint.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from benchmarks import (
    archive,
    delta,
    export,
    hsm,
    load,
    provenance,
    publish,
    revocations,
    sets,
    sites,
    startup,
    tui,
    verify,
)

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).parents[1]


def _cpu_model() -> str:
    """The processor's name (Linux: /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    """Where the figures were measured.

    Ratios to a peer move with the processor and the crypto library: the
    public-key floor is most of a bundle's time, and one host's P-384 is
    not another's (0.80x on one 2-vCPU host was 0.84x on another).
    """
    import cryptography  # noqa: PLC0415
    import pybase64  # noqa: PLC0415
    from cryptography.hazmat.backends.openssl import backend  # noqa: PLC0415

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        # Which of libbase64's codecs ran (AVX2, AVX512, NEON, or none):
        # the bundle's long base64 fields go through it.
        "pybase64": pybase64.get_version(),
    }


@dataclass(frozen=True)
class Row:
    """One comparison: ours, the peer's, in one unit, and the goal."""

    section: str
    what: str
    ours: float
    peer: float
    unit: str
    goal: str
    peer_name: str
    ours_rss_mib: float | None = None
    peer_rss_mib: float | None = None
    # For sides timed in back-to-back pairs: the median of the pairs' ratios,
    # which is the row's ratio (see benchmarks.verify.Paired).
    paired_ratio: float | None = None
    # Every timing behind ``ours`` and ``peer`` when they are medians, pair
    # by pair (kept in the JSON: a spread is seen, not only its median).
    samples: tuple[tuple[float, float], ...] | None = None

    @property
    def ratio(self) -> float:
        """Ours over the peer's (for times lower is better, for rates higher: the goal says which)."""
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.ours / self.peer if self.peer else float("inf")


class Results:
    """Rows by section: printed as tables, saved as JSON."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: list[Row] = []

    def section(self, title: str, rows: list[Row]) -> None:
        """Print one section's table and keep its rows."""
        self.rows += rows
        table = Table(title=title)
        for column in ("what", "ours", "peer", "ratio", "goal", "peak RSS ours / peer"):
            table.add_column(column)
        for row in rows:
            rss = (
                ""
                if row.ours_rss_mib is None
                else f"{row.ours_rss_mib:.0f} / {row.peer_rss_mib or 0:.0f} MiB"
            )
            table.add_row(
                row.what,
                f"{row.ours:,.3g} {row.unit}",
                f"{row.peer:,.3g} {row.unit} ({row.peer_name})",
                f"{row.ratio:.3g}x"
                if row.ratio < 0.1
                else f"{row.ratio:.2f}x",  # 0.025x, not 0.03x
                row.goal,
                rss,
            )
        self.console.print(table)

    def save(self, sections: list[str] | None = None) -> Path:
        """``benchmarks/results/<commit>.json`` and ``latest.json``; ``<commit>-<sections>.json`` for a few."""
        commit = (
            subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or "unknown"
        )
        doc = {
            "commit": commit,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(),
            "rows": [{**asdict(r), "ratio": round(r.ratio, 4)} for r in self.rows],
        }
        folder = ROOT / "benchmarks" / "results"
        folder.mkdir(exist_ok=True)
        text = json.dumps(doc, indent=1) + "\n"
        if sections is not None:
            # A partial run must not pass for the whole suite's figures.
            path = folder / f"{commit[:12]}-{'+'.join(sections)}.json"
            path.write_text(text)
            return path
        path = folder / f"{commit[:12]}.json"
        path.write_text(text)
        (folder / "latest.json").write_text(text)
        return path


def _verification(results: Results) -> None:
    rows = []
    for kind in verify.measured():
        rows.append(
            Row(
                "verify",
                kind.label,
                kind.ours,
                kind.peer,
                "ms",
                "<= 0.8x (floor below)",
                "sigstore-python",
                paired_ratio=kind.ratio,
            )
        )
        # Beside each kind, what its public-key operations alone cost: the
        # part of the ratio no verifier can remove.
        rows.append(
            Row(
                "verify",
                f"(floor) {kind.label}: public-key operations alone",
                kind.floor,
                kind.peer,
                "ms",
                "no verifier goes below",
                "sigstore-python",
                paired_ratio=kind.floor_ratio,
            )
        )
    results.section(
        "Bundle verification in process, per bundle (medians of 60 alternating batches of 10; "
        "ratio: the median of each batch's ratio to the peer's beside it)",
        rows,
    )
    rows = [
        Row(
            "verify-process",
            label,
            ours,
            theirs,
            "ms",
            "<= 0.2x sealed",
            "sigstore verify identity",
        )
        for label, ours, theirs in verify.per_process()
    ]
    results.section("One verification per process (median of 10)", rows)


def _provenance(results: Results) -> None:
    ours, theirs = provenance.tsa_only_per_bundle()
    many, one = provenance.policy_overhead()
    results.section(
        "GitHub artifact attestations and provenance policy (median of 3)",
        [
            Row(
                "provenance",
                "TSA-only GitHub bundle under GitHub's root, per bundle in process",
                ours,
                theirs,
                "ms",
                "<= 1.0x",
                "sigstore-js Verifier",
            ),
            Row(
                "provenance",
                "1,000 images judged under 200 rules (extension demands, predicate rules)",
                many,
                one,
                "s",
                "<= 1.10x",
                "the same images under one plain rule",
            ),
        ],
    )


def _start(results: Results) -> None:
    rows = [
        Row("start", mine.label, mine.median_ms, peer.median_ms, "ms", "", peer.label)
        for mine, peer in startup.run()
    ]
    sealed = startup.sealed_vs_hello()
    if sealed is not None:
        rows.append(
            Row(
                "start",
                sealed[0].label,
                sealed[0].median_ms,
                sealed[1].median_ms,
                "ms",
                "<= 1.2x",
                sealed[1].label,
            )
        )
    results.section("Start-up (median of 10)", rows)


def _export(results: Results) -> None:
    ours, peer, size = export.run()
    results.section(
        f"Export of a {size / 1024**3:.2f} GiB image from a loopback registry, cold cache (median of 3)",
        [
            Row(
                "export",
                "bundle-tools export",
                ours.seconds,
                peer.seconds,
                "s",
                "<= 1.0x, RSS <= 200 MiB",
                "skopeo + tar + zstd",
                ours.peak_rss_mib,
                peer.peak_rss_mib,
            )
        ],
    )


def _intake(results: Results) -> None:
    intake = archive.intake()
    ours = intake.rate(intake.ours)
    floor = intake.tar_bytes / intake.floor_seconds / 2**20
    results.section(
        f"Intake + verification of a {intake.tar_bytes / 1024**3:.2f} GiB archive (ours: the whole `appliance verify`)",
        [
            Row(
                "intake",
                "appliance verify vs hashlib.sha256 alone",
                ours,
                intake.rate(intake.hashlib),
                "MiB/s",
                ">= 0.9x of hashlib's rate",
                "hashlib",
                intake.ours.peak_rss_mib,
                intake.hashlib.peak_rss_mib,
            ),
            Row(
                "intake",
                "appliance verify vs zstd -d | sha256sum",
                ours,
                intake.rate(intake.zstd_sha256sum),
                "MiB/s",
                "",
                "zstd | sha256sum",
                intake.ours.peak_rss_mib,
                intake.zstd_sha256sum.peak_rss_mib,
            ),
            Row(
                "intake",
                "(floor) file SHA-256 + zstd + member SHA-256 on this machine's cores",
                ours,
                floor,
                "MiB/s",
                "no reader goes above",
                "floor",
            ),
        ],
    )
    results.console.print(
        f"no temporary disk use: {intake.ours.blocks_written} blocks written, {intake.tmp_left} files left in TMPDIR"
    )


def _scale(results: Results) -> None:
    rows = []
    for size in archive.scale():
        what = f"{size.signatures:,} signatures ({size.images:,} images)"
        rows.append(
            Row(
                "scale",
                f"{what}, --jobs 1",
                size.ours.seconds,
                size.peer_seconds,
                "s",
                "linear; <= 60 s at 10,000; RSS <= 300 MiB at 100,000",
                "sigstore-python, crypto only",
                size.ours.peak_rss_mib,
            )
        )
        rows.append(
            Row(
                "scale",
                f"{what}, --jobs {size.jobs} vs --jobs 1",
                size.parallel.seconds,
                size.ours.seconds,
                "s",
                "<= 0.6x at 10,000 (2 vCPUs)",
                "appliance verify --jobs 1",
                size.parallel.peak_rss_mib,
                size.ours.peak_rss_mib,
                paired_ratio=size.paired,
                samples=size.samples,
            )
        )
    results.section(
        "Scale: ten keyless signers per image, all ten required (archives cached between runs); "
        "up to 10,000 signatures each side is the median of five runs and a --jobs ratio the "
        "median of five back-to-back pairs' ratios (order alternating), at 100,000 one run each "
        "(the peer: the 10,000 figure, scaled)",
        rows,
    )


def _load(results: Results) -> None:
    ours, peer, size = load.run()
    results.section(
        f"Load of a {size / 1024**3:.2f} GiB verified archive into a fresh loopback registry (median of 3)",
        [
            Row(
                "load",
                "appliance load (verification, second pass, push)",
                ours.seconds,
                peer.seconds,
                "s",
                "<= 1.2x",
                "skopeo copy oci: -> docker://",
                ours.peak_rss_mib,
                peer.peak_rss_mib,
            )
        ],
    )


def _sites(results: Results) -> None:
    e_ours, e_plain, e_peer = sites.export()
    results.section(
        f"Export of a {sites.LAYERS * sites.LAYER_BYTES / 1024**2:.0f} MiB image from a TLS + token-auth "
        "loopback registry, cold cache (median of 3)",
        [
            Row(
                "sites-export",
                "bundle-tools export, TLS + token vs skopeo + tar + zstd, TLS + token",
                e_ours.seconds,
                e_peer.seconds,
                "s",
                "<= 1.0x",
                "skopeo copy + tar + zstd (TLS, token)",
                e_ours.peak_rss_mib,
                e_peer.peak_rss_mib,
            ),
            Row(
                "sites-export-cost",
                "bundle-tools export, TLS + token vs plain HTTP, no auth",
                e_ours.seconds,
                e_plain.seconds,
                "s",
                "<= 1.1x",
                "bundle-tools export over plain HTTP",
                e_ours.peak_rss_mib,
                e_plain.peak_rss_mib,
            ),
        ],
    )
    ours, plain, peer, size = sites.run()
    results.section(
        f"Load of a {size / 1024**2:.0f} MiB verified archive into a TLS + token-auth loopback registry (median of 3)",
        [
            Row(
                "sites-load",
                "appliance load, TLS + token vs skopeo copy, TLS + token",
                ours.seconds,
                peer.seconds,
                "s",
                "<= 1.2x",
                "skopeo copy oci: -> docker:// (TLS, token)",
                ours.peak_rss_mib,
                peer.peak_rss_mib,
            ),
            Row(
                "sites-cost",
                "appliance load, TLS + token vs plain HTTP, no auth",
                ours.seconds,
                plain.seconds,
                "s",
                "<= 1.1x",
                "appliance load over plain HTTP",
                ours.peak_rss_mib,
                plain.peak_rss_mib,
            ),
        ],
    )


def _delta(results: Results) -> None:
    f = delta.run()
    results.section(
        f"Delta: a {f.image_bytes / 1024**3:.2f} GiB image, one {f.changed_bytes / 2**20:.0f} MiB layer changed, "
        "export --have an inventory of the gap (median of 3)",
        [
            Row(
                "delta",
                "bytes carried: the delta vs the full archive",
                f.delta_bytes / 2**20,
                f.full_bytes / 2**20,
                "MiB",
                f"<= {1.05 * f.changed_bytes / f.full_bytes:.3f}x (the changed layer + metadata)",
                "full export",
            ),
            Row(
                "delta",
                "bundle-tools export --have vs the full export",
                f.delta_export.seconds,
                f.full_export.seconds,
                "s",
                "",
                "full export",
                f.delta_export.peak_rss_mib,
                f.full_export.peak_rss_mib,
            ),
            Row(
                "delta",
                "appliance verify of the delta vs of the full archive",
                f.delta_verify.seconds,
                f.full_verify.seconds,
                "s",
                "",
                "full archive",
                f.delta_verify.peak_rss_mib,
                f.full_verify.peak_rss_mib,
            ),
        ],
    )


def _sets(results: Results) -> None:
    f = sets.run()
    results.section(
        f"Image sets: resolving {sets.REPOSITORIES} repositories x {sets.TAGS} tags "
        "(export --set --dry-run) vs skopeo list-tags of each (median of 3)",
        [
            Row(
                "sets",
                f"resolve {f.tags:,} tags (list, filter by semver, print) vs list them",
                f.ours.seconds,
                f.peer.seconds,
                "s",
                "<= 1.2x",
                "skopeo list-tags",
                f.ours.peak_rss_mib,
                f.peer.peak_rss_mib,
            ),
            Row(
                "sets",
                "per tag listed",
                f.ours.seconds / f.tags * 1e6,
                f.peer.seconds / f.tags * 1e6,
                "us",
                "<= 1.2x",
                "skopeo list-tags",
            ),
        ],
    )


def _hsm(results: Results) -> None:
    ours, images, raw = hsm.run()
    results.section(
        f"HSM signing, {hsm.COUNT} in one PKCS#11 session (SoftHSM 2, P-256)",
        [
            Row(
                "hsm",
                "Pkcs11Signer.sign (hash + C_Sign + DER + verify)",
                ours,
                raw,
                "sig/s",
                "",
                "raw C_Sign",
            ),
            Row(
                "hsm",
                "appliance sign, per image digest (payload + sign + self-verify + layer)",
                images,
                raw,
                "sig/s",
                "",
                "raw C_Sign",
            ),
        ],
    )


def _publish(results: Results) -> None:
    results.section(
        f"The gap-local TUF repository, file keys (median of {publish.ROUNDS})",
        [
            Row(
                "publish",
                what,
                ours,
                peer,
                "ms",
                "fsync-bound: ours fsyncs each file, the peer none",
                "python-tuf metadata API",
            )
            for what, ours, peer in publish.run()
        ],
    )


def _tui(results: Results) -> None:
    busy, idle, size = tui.latency()
    ours, peer = tui.first_paint()
    results.section(
        f"TUI at 80x24: ? and escape in turn while a {size / 1024**3:.2f} GiB archive verifies",
        [
            Row(
                "tui",
                f"key to repaint p99 ({len(busy)} presses) vs the idle app",
                tui.percentile(busy, 0.99),
                tui.percentile(idle, 0.99),
                "ms",
                "p99 <= 100 ms",
                "same app idle",
            ),
            Row(
                "tui",
                "start to first paint",
                ours,
                peer,
                "s",
                "<= 0.5 s",
                "bare Textual app",
            ),
        ],
    )


# The one registry of sections: name -> (what it measures, the function that
# measures it). A new section is one function above and one line here; the
# order is the order `make bench` runs them in.
def _revocations(results: Results) -> None:
    rows = [
        Row(
            "revocations",
            label,
            ours,
            theirs,
            "ms",
            goal,
            "sigstore-python, no revocation at all",
        )
        for label, ours, theirs, goal in revocations.run()
    ]
    results.section("Revocation: deny lists and feeds (median of 3)", rows)


SECTIONS: dict[str, tuple[str, Callable[[Results], None]]] = {
    "verify": (
        "one bundle in process and per process vs sigstore-python",
        _verification,
    ),
    "provenance": (
        "TSA-only GitHub bundle vs sigstore-js; 200 rules x 1,000 images vs one rule",
        _provenance,
    ),
    "revocations": (
        "verification with 10,000 deny entries, and a 10,000-entry feed, vs sigstore-python",
        _revocations,
    ),
    "start": ("start-up of the appliance, sealed and not, vs their peers", _start),
    "export": ("bundle-tools export vs skopeo + tar + zstd", _export),
    "intake": ("intake + verification of a large archive vs hashlib", _intake),
    "scale": (
        "100 to 100,000 keyless signatures, 1 and every worker, vs sigstore-python",
        _scale,
    ),
    "load": ("appliance load vs skopeo copy", _load),
    "sites": (
        "export and load with a TLS + token-auth registry vs skopeo there, and vs plain HTTP",
        _sites,
    ),
    "delta": ("export --have and its verification vs the full archive", _delta),
    "sets": ("image-set resolution (50 x 200 tags) vs skopeo list-tags", _sets),
    "hsm": ("PKCS#11 signing vs raw C_Sign", _hsm),
    "publish": (
        "trust publish and --refresh vs python-tuf's bare metadata API",
        _publish,
    ),
    "tui": ("TUI key latency and first paint vs a bare Textual app", _tui),
}


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<8} {what}" for name, (what, _) in SECTIONS.items())
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run benchmark sections (all of them when none is named), "
        "print each table and save every row as JSON under benchmarks/results/.",
        epilog=f"sections, in the order they run:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sections",
        nargs="*",
        metavar="SECTION",
        help="a section to run (default: every section)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the named sections (every one by default), print the tables, save the JSON."""
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        # parser.error prints the usage and one line, and exits 2.
        parser.error(
            f"unknown section {', '.join(map(repr, unknown))} (choose from {', '.join(SECTIONS)})"
        )
    chosen = [name for name in SECTIONS if name in args.sections] or list(SECTIONS)
    results = Results(Console())
    for name in chosen:
        SECTIONS[name][1](results)
    partial = None if chosen == list(SECTIONS) else chosen
    results.console.print(f"results: {results.save(partial)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
