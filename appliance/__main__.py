"""Entry point of the ``appliance`` console script and ``python -m appliance``.

The seal goes on first, before the CLI (and anything it imports) is loaded.
"""

from __future__ import annotations

import sys

from appliance import _seal


def entry() -> None:
    """Seal the process, then run the CLI and exit with its code."""
    _seal.install()
    if getattr(sys, "frozen", False) and (
        "--multiprocessing-fork" in sys.argv or sys.argv[-2:-1] == ["-c"]
    ):
        # The sealed (PyInstaller) build re-entered as a multiprocessing
        # helper: --jobs forks its workers, which never come here, but a
        # spawned helper must run its own code, sealed, not the CLI
        # (PyInstaller's freeze_support; checked first so that no other
        # start pays for importing multiprocessing).
        import multiprocessing  # noqa: PLC0415

        multiprocessing.freeze_support()
    if sys.argv[1:] in (["--version"], ["-V"]):
        # Answered before the CLI is imported: a version check from a script
        # loop costs a start of the interpreter, not of every command.
        from appliance.provenance import describe  # noqa: PLC0415

        print(describe())  # noqa: T201 - the program's one line
        raise SystemExit(0)
    from appliance.cli.main import main  # noqa: PLC0415 - must follow the seal

    raise SystemExit(main())


if __name__ == "__main__":
    entry()
