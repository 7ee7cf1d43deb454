"""``appliance inventory``: what the gap already holds, for the connected side's next delta."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import untrusted
from appliance.cli import env
from appliance.cli.registry_flags import add_registry_flags

if TYPE_CHECKING:
    import argparse


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``inventory``."""
    parser = subparsers.add_parser(
        "inventory",
        help="list what the gap holds (blobs, manifests) for `bundle-tools export --have`",
        description=(
            "Write INVENTORY.json: the blob digests and sizes and the manifest digests the gap "
            "already holds, with this appliance's identity and the time. By default from the "
            "appliance's own record of every load; with --registry, read from that registry's API "
            "(the seal admits its host and port, for this command only). Carried out, `bundle-tools "
            "export --have INVENTORY.json` leaves those layers out; the appliance accepts such a "
            "delta only against an inventory it wrote."
        ),
    )
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
    """Read, write atomically, remember."""
    from airlock_io.atomic import check_output, write_output  # noqa: PLC0415
    from appliance.actions.audited import Audited  # noqa: PLC0415
    from appliance.cli.registry_flags import login  # noqa: PLC0415
    from appliance.core.archive.inventory import Inventory  # noqa: PLC0415
    from appliance.core.archive.plan import Target  # noqa: PLC0415
    from appliance.held import Held  # noqa: PLC0415

    check_output(args.out)
    held = Held(env.state_dir())
    with Audited("inventory", env.state_dir(), registry=args.registry) as audit:
        if args.registry is not None:
            from appliance.load.inventory import read_registry  # noqa: PLC0415 - the registry client only here

            blobs, manifests = read_registry(
                Target.parse(args.registry),
                plain_http=args.allow_http_registry,
                login=login(args),
            )
            source = f"registry {args.registry}"
        else:
            blobs, manifests, registries = held.held()
            source = f"the appliance's record of its loads into {', '.join(registries) or 'nothing yet'}"
        inventory = Inventory(
            appliance=held.identity(),
            created=datetime.now(UTC),
            source=source,
            blobs=blobs,
            manifests=frozenset(manifests),
        )
        data = inventory.to_bytes()
        write_output(args.out, data)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        held.remember_inventory(digest)
        audit.record(
            {
                "inventory": digest,
                "blobs": len(blobs),
                "manifests": len(manifests),
                "source": source,
                "exit_code": 0,
            }
        )
    print(
        f"inventory {args.out}: {len(blobs)} blobs, {len(manifests)} manifests from {untrusted(source, markup=False)} ({digest})",
        file=sys.stderr,
    )
    return ExitCode.OK
