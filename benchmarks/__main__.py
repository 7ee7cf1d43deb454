"""``make bench``: print our figure beside the peer's and the ratio."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from benchmarks import startup


def main() -> int:
    """Run every benchmark and print one table."""
    console = Console()
    table = Table(title="Airlock benchmarks (median of 10 runs; lower is better)")
    for column in ("what", "ours (ms)", "peer", "peer (ms)", "ratio ours/peer"):
        table.add_column(column)
    for ours, peer in startup.run():
        table.add_row(
            ours.label,
            f"{ours.median_ms:.1f} [{ours.min_ms:.0f}-{ours.max_ms:.0f}]",
            peer.label,
            f"{peer.median_ms:.1f} [{peer.min_ms:.0f}-{peer.max_ms:.0f}]",
            f"{ours.median_ms / peer.median_ms:.3f}x",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
