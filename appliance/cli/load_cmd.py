"""``appliance load``: the view of :func:`appliance.actions.load.load`.

Verify in this process, then push only what passed to the registry ``--to``
names (the appliance's one network action), optionally countersigning each
image. The table on stderr, what was pushed or planned below it, the JSON
report on stdout with ``-o json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io import jsonout
from airlock_io.terminal import untrusted
from appliance.actions.load import LoadRequest, load
from appliance.cli.progress import Bars
from appliance.cli.registry_flags import (
    access,
    add_module_flag,
    add_registry_flags,
    signer_choice,
)
from appliance.cli.render import render_verdict
from appliance.cli.verify_flags import (
    add_policy_flags,
    add_report_flags,
    verify_request,
    warn_insecure,
)
from appliance.core.archive.plan import Target

if TYPE_CHECKING:
    import argparse

    from appliance.core.archive.plan import Plan

DESCRIPTION = (
    "Verify ARCHIVE exactly as `appliance verify` does, then push every image that passed, under "
    "the name that passed, with the signatures, attestations and referrers a verified signature "
    "ties to it, byte for byte, to the registry named by --to (under PREFIX when given): blobs "
    "first (only those the registry lacks), then manifests, children before their index and "
    "subjects before their referrers. Nothing of a refused image is pushed. Exit 0 only if every "
    "selected image was verified and pushed."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``load``."""
    parser.description = DESCRIPTION
    parser.add_argument("archive", metavar="ARCHIVE", type=Path)
    parser.add_argument(
        "--to",
        required=True,
        metavar="REGISTRY[/PREFIX]",
        help="the in-gap registry, e.g. registry.gap:5000/mirror",
    )
    add_registry_flags(parser)
    parser.add_argument(
        "--countersign-key",
        metavar="KEY",
        help="countersign each image that passed, once pushed: a .sig and a SLSA VSA .att by this key "
        "(pkcs11: URI, cosign key file or PEM)",
    )
    add_module_flag(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="verify and print the push plan; touch no network",
    )
    add_policy_flags(parser)
    add_report_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Verify, plan, push; print what happened."""
    Target.parse(args.to)  # a bad --to before the password is read
    request = LoadRequest(
        verify=verify_request(args, report=args.report),
        to=args.to,
        access=access(args, login_now=not args.dry_run),
        countersign=None
        if args.countersign_key is None
        else signer_choice(args.countersign_key, args),
        dry_run=args.dry_run,
    )
    warn_insecure(args)
    with Bars(f"reading {args.archive.name}", f"pushing to {args.to}") as bars:
        loaded = load(request, bars.run)
    if args.output == "json":
        jsonout.dump(loaded.report, sys.stdout.write)
    else:
        _say(args, loaded.plan, loaded.pushed)
    render_verdict(loaded.verified, loaded.report)
    return loaded.code


def _say(args: argparse.Namespace, plan: Plan, pushed: dict[str, Any] | None) -> None:
    to = untrusted(args.to, markup=False)
    if args.dry_run:
        print(
            f"dry run: would push {len(plan.images)} image(s), {len(plan.files)} file(s), {len(plan.manifests)} manifest(s), {len(plan.blobs)} blob(s) ({plan.blob_bytes:,} bytes) to {to}",
            file=sys.stderr,
        )
        for item in plan.manifests:
            name = untrusted(item.repository, markup=False)
            at = untrusted(item.reference, markup=False)
            print(
                f"  {name}:{at}" if ":" not in item.reference else f"  {name}@{at}",
                file=sys.stderr,
            )
    elif pushed is not None:
        print(
            f"pushed {len(pushed['images'])} image(s), {len(pushed['files'])} file(s) to {to}: {pushed['blobs_sent']} blob(s) sent "
            f"({pushed['bytes_sent']:,} bytes), {pushed['blobs_already_held']} already held, "
            f"{pushed['blobs_mounted']} mounted, {pushed['manifests']} manifest(s)",
            file=sys.stderr,
        )
    for ref in plan.refused:
        print(f"not pushed (refused): {untrusted(ref, markup=False)}", file=sys.stderr)
    for name in plan.refused_files:
        print(
            f"not pushed (refused): file:{untrusted(name, markup=False)}",
            file=sys.stderr,
        )
    if plan.left_behind:
        print(
            f"left behind: {len(plan.left_behind)} artifact(s) no verified signature ties to a "
            "pushed image (the report's load.plan.left_behind says why)",
            file=sys.stderr,
        )
