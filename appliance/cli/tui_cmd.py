"""``appliance tui``: the terminal UI over the same functions as the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from appliance.cli.verify_cmd import add_policy_flags

if TYPE_CHECKING:
    import argparse


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``tui``."""
    tui = subparsers.add_parser(
        "tui",
        help="review an archive and act on it in a terminal UI (80x24 and up)",
        description=(
            "Open an archive (or pick one), verify it in the background, review each image, "
            "signature and check, the trust and the signers, then save the report, load the "
            "verified images or countersign them. Keys are shown in the footer; ? lists them. "
            "Without a policy, signers are shown for review and nothing passes."
        ),
    )
    tui.add_argument("archive", metavar="ARCHIVE", nargs="?", type=Path)
    tui.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        help="where the file picker starts (mounted media)",
    )
    tui.add_argument(
        "--allow-http-registry", action="store_true", help="load over plain HTTP"
    )
    tui.add_argument(
        "--countersign-key", metavar="KEY", help="the HSM key `k` countersigns with"
    )
    tui.add_argument(
        "--module-path",
        metavar="LIB",
        help="the PKCS#11 module (else $COSIGN_PKCS11_MODULE_PATH)",
    )
    add_policy_flags(tui)
    tui.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the app until the operator quits; exit 0 if the archive verified."""
    from appliance.tui.app import AirlockApp  # noqa: PLC0415 - textual only for the TUI

    code = AirlockApp(args, root=args.root).run()
    return int(code or 0) if code is not None else 1
