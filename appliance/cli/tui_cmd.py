"""``appliance tui``: the terminal UI, a view over the same actions as the CLI.

The flags become the TUI's :class:`~appliance.tui.session.Session` (the
verification it starts with, where it loads, the key it countersigns with);
the app never reads the command line itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from appliance.cli import env
from appliance.cli.registry_flags import (
    add_module_flag,
    add_tls_flags,
    prompt,
    reach,
)
from appliance.cli.verify_flags import add_policy_flags, verify_request
from appliance.tui.session import Session

if TYPE_CHECKING:
    import argparse

DESCRIPTION = (
    "Open an archive (or pick one), verify it in the background, review each image, "
    "signature and check, the trust and the signers, then save the report, load the "
    "verified images or countersign them. Keys are shown in the footer; ? lists them. "
    "Without a policy, signers are shown for review and nothing passes. Exit 0 when the "
    "last verification passed, 1 otherwise, 2 for bad flags."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tui``."""
    parser.description = DESCRIPTION
    parser.add_argument("archive", metavar="ARCHIVE", nargs="?", type=Path)
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        help="where the file picker starts (mounted media)",
    )
    parser.add_argument(
        "--allow-http-registry", action="store_true", help="load over plain HTTP"
    )
    parser.add_argument(
        "--countersign-key", metavar="KEY", help="the HSM key `k` countersigns with"
    )
    add_tls_flags(parser)
    add_module_flag(parser)
    add_policy_flags(parser)
    parser.set_defaults(handler=run)


def session(args: argparse.Namespace) -> Session:
    """What the flags ask of the TUI.

    Raises:
        InputError: flags that contradict each other, a bad duration, platform
            or annotation.
    """
    # No archive yet is fine: the app asks for one, and sets it then.
    request = verify_request(
        args,
        review=True,
        via="tui",
        archive=args.archive or Path(),
        keep_evidence=True,  # the detail screens show every check
    )
    return Session(
        verify=request,
        archive=args.archive,
        state_dir=env.state_dir(),
        root=args.root or Path.cwd(),
        plain_http=args.allow_http_registry,
        reach=reach(args),
        countersign_key=args.countersign_key,
        module_path=args.module_path,
        prompt=prompt,
    )


def run(args: argparse.Namespace) -> int:
    """Run the app until the operator quits; its exit status is the last verdict."""
    # Textual is imported for the TUI only: every other command starts without it.
    from appliance.tui.app import AirlockApp  # noqa: PLC0415

    code = AirlockApp(session(args)).run()
    return int(code) if code is not None else 1
