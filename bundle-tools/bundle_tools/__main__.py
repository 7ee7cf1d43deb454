"""Entry point of the ``bundle-tools`` console script and ``python -m bundle_tools``."""

from __future__ import annotations

from bundle_tools.cli import main


def entry() -> None:
    """Run the CLI and exit with its code."""
    raise SystemExit(main())


if __name__ == "__main__":
    entry()
