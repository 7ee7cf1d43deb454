"""The ``appliance`` command: its sub-commands, run in the shared frame.

How a command ends (exit codes, one-line and JSON errors, signals, encodings)
is :mod:`airlock_io.frame`'s job, the same for both programs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, cast

from airlock_io import frame
from appliance.cli import (
    audit_cmd,
    inventory_cmd,
    load_cmd,
    sign_cmd,
    sign_image_cmd,
    trust_cmd,
    tui_cmd,
    verify_blob,
    verify_cmd,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

_PROG = "appliance"
_EPILOG = """\
exit codes:
  0  verified (or the command succeeded)
  1  verification failed: something was not positively verified
  2  usage error, or input that could not be read

The appliance never reaches the network while verifying.
"""


class _Version(argparse.Action):
    """``--version``: the version, and for the sealed build its commit and manifest."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from appliance.provenance import describe  # noqa: PLC0415

        print(describe())
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = frame.Parser(
        prog=_PROG,
        description=(
            "Airlock appliance: verify signed container images and blobs offline, "
            "with trust carried across the gap through TUF."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-V",
        "--version",
        action=_Version,
        nargs=0,
        help="version, commit and sealed manifest",
    )
    parser.add_argument(
        "--verbose",
        action="count",
        default=0,
        help="more detail on stderr (repeat for debug); tracebacks of internal errors",
    )
    # cast: the subparsers are frame.Parser instances, which the command
    # modules use only through the ArgumentParser interface.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",  # noqa: SLF001 - argparse's own type
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    verify_cmd.add_parser(commands)
    load_cmd.add_parsers(commands)
    verify_blob.add_parser(commands)
    trust_cmd.add_parser(commands)
    sign_cmd.add_parsers(commands)
    sign_image_cmd.add_parsers(commands)
    audit_cmd.add_parser(commands)
    inventory_cmd.add_parser(commands)
    tui_cmd.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the appliance CLI and return its exit code."""
    return frame.run(_PROG, _parser(), argv)
