"""``appliance extract``: the view of :func:`appliance.actions.extract.extract`.

Verify in this process, then write only what passed as a new OCI image
layout (for skopeo, oras, umoci, ``podman load``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io import jsonout
from airlock_io.terminal import untrusted
from appliance.actions.extract import ExtractRequest, extract
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
    "Verify ARCHIVE exactly as `appliance verify` does, then write a new OCI image layout at --to "
    "holding only the images that passed, under the names that passed, with what a verified "
    "signature ties to them (for skopeo, oras, umoci, podman load); written in a temporary "
    "directory and renamed into place."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``extract``."""
    parser.description = DESCRIPTION
    parser.add_argument("archive", metavar="ARCHIVE", type=Path)
    parser.add_argument(
        "--to",
        metavar="DIR",
        type=Path,
        help="the layout to create for the images that passed (must not exist)",
    )
    parser.add_argument(
        "--files",
        metavar="DIR",
        type=Path,
        help="a directory to create for the files that passed, under their names (must not exist)",
    )
    add_policy_flags(parser)
    add_report_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Verify, write; print what happened."""
    request = ExtractRequest(
        verify=verify_request(args, report=args.report), to=args.to, files=args.files
    )
    warn_insecure(args)
    with Bars(f"reading {args.archive.name}") as bars:
        extracted = extract(request, bars.run)
    if args.output == "json":
        jsonout.dump(extracted.report, sys.stdout.write)
    else:
        if args.to is not None:
            to = untrusted(str(args.to), markup=False)
            print(
                f"wrote {len(extracted.plan.images)} verified image(s) to {to}"
                if extracted.blobs is not None
                else f"nothing written to {to}: no image passed",
                file=sys.stderr,
            )
        if args.files is not None:
            where = untrusted(str(args.files), markup=False)
            print(
                f"wrote {len(extracted.files)} verified file(s) to {where}"
                if extracted.files is not None
                else f"nothing written to {where}: no file passed",
                file=sys.stderr,
            )
    render_verdict(extracted.verified, extracted.report)
    return extracted.code
