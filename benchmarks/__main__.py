"""``make bench``: print our figure beside the peer's, measured in the same run, and the ratio."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from benchmarks import archive, export, hsm, load, startup, tui, verify


def _table(title: str) -> Table:
    table = Table(title=title)
    for column in (
        "what",
        "ours (ms)",
        "sigstore-python (ms)",
        "ratio ours/peer",
        "goal",
    ):
        table.add_column(column)
    return table


def main() -> int:
    """Run every benchmark and print the tables."""
    console = Console()
    table = _table(
        "Bundle verification in-process, per bundle (parse + verify; median of 3 x 150)"
    )
    rows = verify.in_process()
    for label, ours, theirs in rows:
        table.add_row(
            label, f"{ours:.3f}", f"{theirs:.3f}", f"{ours / theirs:.2f}x", "<= 0.6x"
        )
    floor_ms, peer_ms = verify.crypto_floor_ms(), rows[0][2]
    table.add_row(
        "(floor) the public-key operations alone of the first bundle",
        f"{floor_ms:.3f}",
        f"{peer_ms:.3f}",
        f"{floor_ms / peer_ms:.2f}x",
        "no verifier goes below",
    )
    console.print(table)
    table = _table(
        "One verification per process vs `sigstore verify identity` (median of 10)"
    )
    for label, ours, theirs in verify.per_process():
        table.add_row(
            label,
            f"{ours:.1f}",
            f"{theirs:.1f}",
            f"{ours / theirs:.2f}x",
            "<= 0.30x (0.2x sealed)",
        )
    console.print(table)
    ours_run, peer_run, size = export.run()
    table = Table(
        title=f"Export of a {size / 1024**3:.2f} GiB image (4 layers) from a loopback registry, cold cache (median of 3)"
    )
    for column in (
        "what",
        "ours (s)",
        "skopeo + tar + zstd (s)",
        "ratio ours/peer",
        "goal",
        "peak RSS ours / peer",
    ):
        table.add_column(column)
    table.add_row(
        "bundle-tools export",
        f"{ours_run.seconds:.2f}",
        f"{peer_run.seconds:.2f}",
        f"{ours_run.seconds / peer_run.seconds:.2f}x",
        "<= 1.0x, RSS <= 200 MiB",
        f"{ours_run.peak_rss_mib:.0f} / {peer_run.peak_rss_mib:.0f} MiB",
    )
    console.print(table)
    _archive_tables(console)
    ours_run, peer_run, size = load.run()
    table = Table(
        title=f"Load of a {size / 1024**3:.2f} GiB verified archive into a fresh loopback registry (median of 3)"
    )
    for column in (
        "what",
        "ours (s)",
        "skopeo copy oci: -> docker:// (s)",
        "ratio ours/peer",
        "goal",
        "peak RSS ours / peer",
    ):
        table.add_column(column)
    table.add_row(
        "appliance load (verification, second pass, push)",
        f"{ours_run.seconds:.2f}",
        f"{peer_run.seconds:.2f}",
        f"{ours_run.seconds / peer_run.seconds:.2f}x",
        "<= 1.2x",
        f"{ours_run.peak_rss_mib:.0f} / {peer_run.peak_rss_mib:.0f} MiB",
    )
    console.print(table)
    _tui_table(console)
    ours_rate, image_rate, raw_rate = hsm.run()
    table = Table(
        title=f"HSM signing, {hsm.COUNT} blobs in one PKCS#11 session (SoftHSM 2, P-256; higher is better)"
    )
    for column in ("what", "ours (sig/s)", "raw C_Sign (sig/s)", "ratio ours/raw"):
        table.add_column(column)
    table.add_row(
        "appliance Pkcs11Signer.sign (hash + C_Sign + DER + verify)",
        f"{ours_rate:,.0f}",
        f"{raw_rate:,.0f}",
        f"{ours_rate / raw_rate:.2f}x",
    )
    table.add_row(
        f"appliance sign, {hsm.COUNT} image digests (payload + sign + self-verify + .sig layer)",
        f"{image_rate:,.0f}",
        f"{raw_rate:,.0f}",
        f"{image_rate / raw_rate:.2f}x",
    )
    console.print(table)
    table = _table("Start-up (median of 10)")
    for mine, peer in startup.run():
        table.add_row(
            mine.label,
            f"{mine.median_ms:.1f}",
            f"{peer.median_ms:.1f}",
            f"{mine.median_ms / peer.median_ms:.2f}x",
            "",
        )
    console.print(table)
    return 0


def _tui_table(console: Console) -> None:
    """``appliance tui``: key-press-to-repaint while verifying, and start to first paint."""
    busy, idle, size = tui.latency()
    ours, peer = tui.first_paint()
    table = Table(
        title=f"TUI at 80x24 (headless): ? and escape pressed in turn, {size / 1024**3:.2f} GiB archive"
    )
    for column in ("what", "ours", "peer", "ratio ours/peer", "goal"):
        table.add_column(column)
    table.add_row(
        f"key to repaint while verifying (ms, {len(busy)} presses) vs the same app idle",
        tui.summary(busy),
        tui.summary(idle),
        f"{tui.percentile(busy, 0.99) / tui.percentile(idle, 0.99):.2f}x (p99)",
        "p99 <= 100 ms",
    )
    table.add_row(
        "start to first paint (s, median of 10) vs a bare Textual app",
        f"{ours:.3f}",
        f"{peer:.3f}",
        f"{ours / peer:.2f}x",
        "<= 0.5 s",
    )
    console.print(table)


def _archive_tables(console: Console) -> None:
    """``appliance verify ARCHIVE``: intake throughput, then scale."""
    intake = archive.intake()
    table = Table(
        title=f"Intake + verification of a {intake.tar_bytes / 1024**3:.2f} GiB archive "
        f"({intake.archive_bytes / 1024**3:.2f} GiB .tar.zst, one signed image), page cache warm"
    )
    for column in (
        "what",
        "seconds",
        "MiB/s (decompressed)",
        "ours/this",
        "peak RSS",
        "blocks written",
    ):
        table.add_column(column)
    rows = [
        ("appliance verify (whole command)", intake.ours),
        ("hashlib.sha256 over the decompressed tar", intake.hashlib),
        ("zstd -d | sha256sum", intake.zstd_sha256sum),
    ]
    for label, run in rows:
        table.add_row(
            label,
            f"{run.seconds:.2f}",
            f"{intake.rate(run):,.0f}",
            f"{intake.rate(intake.ours) / intake.rate(run):.2f}x",
            f"{run.peak_rss_mib:.0f} MiB",
            str(run.blocks_written),
        )
    floor_rate = intake.tar_bytes / intake.floor_seconds / 2**20
    table.add_row(
        "(floor) file SHA-256 + zstd + member SHA-256 on this machine's cores",
        f"{intake.floor_seconds:.2f}",
        f"{floor_rate:,.0f}",
        f"{intake.rate(intake.ours) / floor_rate:.2f}x",
        "",
        "",
    )
    console.print(table)
    console.print(
        f"goal: >= 0.9x hashlib ({intake.rate(intake.ours) / intake.rate(intake.hashlib):.2f}x), "
        f"peak RSS <= 200 MiB ({intake.ours.peak_rss_mib:.0f}), no temporary disk use "
        f"({intake.ours.blocks_written} blocks written, {intake.tmp_left} files left in TMPDIR)"
    )
    table = Table(
        title="Scale: archives of images signed by ten keyless signers each, all ten required"
    )
    for column in ("images", "signatures", "ours (s)", "per signature (ms)", "sigstore-python, crypto only (s)", "ratio ours/peer", "peak RSS", "goal"):  # fmt: skip
        table.add_column(column)
    for size in archive.scale():
        table.add_row(
            f"{size.images:,}",
            f"{size.signatures:,}",
            f"{size.ours.seconds:.2f}",
            f"{size.ours.seconds / size.signatures * 1000:.2f}",
            f"{size.peer_seconds:.2f}",
            f"{size.ours.seconds / size.peer_seconds:.2f}x",
            f"{size.ours.peak_rss_mib:.0f} MiB",
            "linear; <= 60 s at 10,000",
        )
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
