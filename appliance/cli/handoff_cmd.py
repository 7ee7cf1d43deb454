"""``appliance handoff``: the view of :mod:`appliance.actions.handoff`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.actions.handoff import HandoffRequest, write_handoff
from appliance.cli import env
from appliance.core.handoff import FORMATS

if TYPE_CHECKING:
    import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``handoff``."""
    parser.description = (
        "Write an admission policy that admits exactly the images the appliance countersigned "
        "(`load --countersign-key`: its signature and its SLSA verification summary, by its key) "
        "under REGISTRY[/PREFIX]: a policy-controller ClusterImagePolicy (and a TrustRoot over the "
        "gap-local TUF repository with --tuf-mirror/--tuf-root), a Kyverno ClusterPolicy, or "
        "containers-policy.json plus its registries.d file (FILE's stem + .registries.d.yaml)."
    )
    parser.add_argument(
        "--countersign-key",
        required=True,
        metavar="PUB",
        type=Path,
        help="the countersigning PEM public key (`appliance public-key --key ...`)",
    )
    parser.add_argument(
        "--registry",
        required=True,
        metavar="REGISTRY[/PREFIX]",
        help="where `load --to` put the images",
    )
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="FILE",
        type=Path,
        help="written atomically",
    )
    parser.add_argument(
        "--tuf-mirror",
        metavar="URL",
        help="policy-controller: also a TrustRoot over the gap-local TUF repository served here",
    )
    parser.add_argument(
        "--tuf-root",
        metavar="FILE",
        type=Path,
        help="its root.json (`appliance trust publish` wrote it)",
    )
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the policy and say what was written."""
    done = write_handoff(
        HandoffRequest(
            countersign_key=args.countersign_key,
            registry=args.registry,
            format=args.format,
            out=args.out,
            state_dir=env.state_dir(),
            tuf_mirror=args.tuf_mirror,
            tuf_root=args.tuf_root,
        )
    )
    if args.output == "json":
        print(json.dumps(done, indent=2))
        return ExitCode.OK
    lines = [
        f"Hand-off for {done['format']}: admits what key {done['key_id'][:16]}… countersigned under {done['scope']}",
        *(
            f"  wrote {path} (sha256 {digest})"
            for path, digest in done["files"].items()
        ),
    ]
    print("\n".join(untrusted(line, markup=False, limit=LINE_LIMIT) for line in lines))
    return ExitCode.OK
