"""Entry point of the ``appliance`` console script and ``python -m appliance``.

The seal goes on first, before the CLI (and anything it imports) is loaded.
"""

from __future__ import annotations

from appliance import _seal


def entry() -> None:
    """Seal the process, then run the CLI and exit with its code."""
    _seal.install()
    from appliance.cli.main import main  # noqa: PLC0415 - must follow the seal

    raise SystemExit(main())


if __name__ == "__main__":
    entry()
