"""``appliance inventory``: the view of :func:`appliance.actions.inventory.inventory`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import untrusted
from appliance.actions.inventory import InventoryRequest, inventory
from appliance.cli import env
from appliance.cli.registry_flags import access, add_registry_flags

if TYPE_CHECKING:
    import argparse

DESCRIPTION = (
    "Write INVENTORY.json: the blob digests and sizes and the manifest digests the gap "
    "already holds, with this appliance's identity and the time. By default from the "
    "appliance's own record of every load; with --registry, read from that registry's API "
    "(the seal admits its host and port, for this command only). Carried out, `bundle-tools "
    "export --have INVENTORY.json` leaves those layers out; the appliance accepts such a "
    "delta only against an inventory it wrote."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``inventory``."""
    parser.description = DESCRIPTION
    parser.add_argument(
        "-o",
        "--output-file",
        dest="out",
        required=True,
        metavar="INVENTORY.json",
        type=Path,
    )
    parser.add_argument(
        "--registry", metavar="HOST[:PORT]", help="read the in-gap registry itself"
    )
    add_registry_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Read, write atomically, remember; say what was written."""
    written = inventory(
        InventoryRequest(
            out=args.out,
            state_dir=env.state_dir(),
            registry=args.registry,
            access=access(args, login_now=args.registry is not None),
        )
    )
    print(
        f"inventory {untrusted(str(args.out), markup=False)}: {len(written.inventory.blobs)} blobs, "
        f"{len(written.inventory.manifests)} manifests from "
        f"{untrusted(written.source, markup=False)} ({written.sha256})",
        file=sys.stderr,
    )
    return ExitCode.OK
