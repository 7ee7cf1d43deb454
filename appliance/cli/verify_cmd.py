"""``appliance verify ARCHIVE``: the view of :func:`appliance.actions.verify.verify`.

Flags become a :class:`~appliance.actions.verify.VerifyRequest`; the action
verifies, records and writes the report; this module prints it: the table on
stderr, the JSON report on stdout with ``-o json``. Exit 0 only if every
selected image passed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io import jsonout
from appliance.actions.verify import verify
from appliance.cli.progress import Bars
from appliance.cli.render import render_verdict
from appliance.cli.verify_flags import (
    add_policy_flags,
    add_report_flags,
    verify_request,
    warn_insecure,
)

if TYPE_CHECKING:
    import argparse

DESCRIPTION = (
    "Read a transfer archive (.tar.zst, .tar, an extracted layout, or an archive in parts) in one "
    "streaming pass, import its TUF capsule through the offline replay, and verify every image "
    "(or those named with --image) against the policy: signatures (cosign .sig, Sigstore bundle "
    "referrers), attestations, and the ledger both ways. Exit 0 only if every selected image "
    "passed, 1 if any did not, 2 for usage or unreadable input."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``verify``."""
    parser.description = DESCRIPTION
    parser.add_argument("archive", metavar="ARCHIVE", type=Path)
    parser.add_argument(
        "--request-out",
        metavar="REQUEST.json",
        type=Path,
        help="for an archive in parts: write which parts to send again if any is missing, short or altered",
    )
    add_policy_flags(parser)
    add_report_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Verify; print the table (and the JSON report)."""
    request = verify_request(args, report=args.report, request_out=args.request_out)
    warn_insecure(args)
    with Bars(f"reading {args.archive.name}") as bars:
        outcome = verify(request, bars.run)
    if args.output == "json":
        jsonout.dump(outcome.report, sys.stdout.write)
    render_verdict(outcome.verified, outcome.report)
    return outcome.code
