"""``appliance revocations import FEED --policy POLICY``: the view of :mod:`appliance.actions.revocations`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.actions.revocations import ImportFeedRequest, import_feed
from appliance.cli import env

if TYPE_CHECKING:
    import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """``revocations import``."""
    commands = parser.add_subparsers(
        dest="revocations_command", metavar="COMMAND", required=True
    )
    imp = commands.add_parser(
        "import",
        help="verify a revocation feed under the policy's revocation_keys and keep it",
        description=(
            "Verify FEED (from `bundle-tools revocations sign`) under a key of the policy's "
            "revocation_keys and keep it if it is newer than the feed held for that key; "
            "an older feed is reported and ignored. Every verification then applies it."
        ),
    )
    imp.add_argument("feed", metavar="FEED.json", type=Path)
    imp.add_argument(
        "--policy",
        metavar="POLICY.toml",
        type=Path,
        required=True,
        help="the policy whose revocation_keys the feed must verify under",
    )
    imp.add_argument("-o", "--output", choices=("text", "json"), default="text")
    imp.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Verify, keep, report."""
    imported = import_feed(
        ImportFeedRequest(feed=args.feed, policy=args.policy, state_dir=env.state_dir())
    )
    if args.output == "json":
        print(json.dumps(imported.record, indent=2))
    else:
        print(untrusted(imported.note, markup=False, limit=LINE_LIMIT))
    return ExitCode.OK
