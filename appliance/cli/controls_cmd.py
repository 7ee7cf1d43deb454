"""``appliance controls init | approve | show`` and ``appliance policy approve``: views of :mod:`appliance.actions.controls`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.actions.controls import (
    ApproveRequest,
    ControlsInitRequest,
    approvals_path,
    approve,
    controls_init,
)
from appliance.cli import env
from appliance.cli.registry_flags import prompt
from appliance.core.approvals import ApprovalKind
from appliance.trust.controls import ControlsStore

if TYPE_CHECKING:
    import argparse


def _key_flag(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--key",
        metavar="PEM",
        type=Path,
        action="append",
        required=True,
        help=help_text,
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """``controls init``, ``controls approve``, ``controls show``."""
    commands = parser.add_subparsers(
        dest="controls_command", metavar="COMMAND", required=True
    )
    init = commands.add_parser(
        "init",
        help="require N approver signatures for policies, trust changes and these controls",
        description=(
            "Record the approver keys and the threshold (two-person integrity). The first "
            "init needs no approval; a later one needs --approvals signed by the current "
            "threshold of the current approvers over the new controls (`controls approve`)."
        ),
    )
    init.add_argument("--approvers", metavar="N", type=int, required=True)
    _key_flag(init, "an approver's PEM public key (repeat for each approver)")
    init.add_argument(
        "--approvals",
        metavar="FILE",
        type=Path,
        help="approvals of this change by the current approvers",
    )
    init.add_argument("-o", "--output", choices=("text", "json"), default="text")
    init.set_defaults(handler=run_init)
    prop = commands.add_parser(
        "approve",
        help="approve proposed controls with your key (appends to FILE)",
    )
    prop.add_argument("--approvers", metavar="N", type=int, required=True)
    _key_flag(prop, "a proposed approver's PEM public key (repeat for each)")
    prop.add_argument(
        "--sign-with",
        metavar="KEY",
        required=True,
        help="your approver key: a pkcs11: URI or a key file",
    )
    prop.add_argument("--approvals", metavar="FILE", type=Path, required=True)
    prop.add_argument("-o", "--output", choices=("text", "json"), default="text")
    prop.set_defaults(handler=run_approve_controls)
    show = commands.add_parser("show", help="the controls in force")
    show.add_argument("-o", "--output", choices=("text", "json"), default="text")
    show.set_defaults(handler=run_show)


def configure_policy(parser: argparse.ArgumentParser) -> None:
    """``policy approve``."""
    commands = parser.add_subparsers(
        dest="policy_command", metavar="COMMAND", required=True
    )
    approve_cmd = commands.add_parser(
        "approve",
        help="approve a policy file with your key (appends to POLICY.toml.approvals.json)",
        description=(
            "Sign the policy's digest (the file and every key file it reads) with your "
            "approver key and append the approval to POLICY.toml.approvals.json. While "
            "controls are in force, a policy is used only with the threshold's approvals."
        ),
    )
    approve_cmd.add_argument("policy", metavar="POLICY.toml", type=Path)
    approve_cmd.add_argument(
        "--key",
        metavar="KEY",
        required=True,
        help="your approver key: a pkcs11: URI or a key file",
    )
    approve_cmd.add_argument("-o", "--output", choices=("text", "json"), default="text")
    approve_cmd.set_defaults(handler=run_approve_policy)


def _say(args: argparse.Namespace, record: dict[str, Any], line: str) -> int:
    if args.output == "json":
        print(json.dumps(record, indent=2))
    else:
        print(untrusted(line, markup=False, limit=LINE_LIMIT))
    return ExitCode.OK


def run_init(args: argparse.Namespace) -> int:
    """Record the controls."""
    record = controls_init(
        ControlsInitRequest(
            threshold=args.approvers,
            keys=tuple(args.key),
            approvals=args.approvals,
            state_dir=env.state_dir(),
        )
    )
    return _say(
        args,
        record,
        f"Controls recorded: {record['threshold']} of {len(record['approvers'])} approvers "
        f"({', '.join(k[:16] for k in record['approvers'])}); sha256 {record['controls_sha256']}",
    )


def run_approve_controls(args: argparse.Namespace) -> int:
    """Approve proposed controls."""
    record = approve(
        ApproveRequest(
            kind=ApprovalKind.CONTROLS,
            key=args.sign_with,
            state_dir=env.state_dir(),
            out=args.approvals,
            threshold=args.approvers,
            keys=tuple(args.key),
            secrets_handler=prompt,
        )
    )
    return _say(
        args,
        record,
        f"Approved controls {record['sha256'][:16]} with key {record['approver'][:16]}: {args.approvals}",
    )


def run_approve_policy(args: argparse.Namespace) -> int:
    """Approve a policy file."""
    out = approvals_path(args.policy)
    record = approve(
        ApproveRequest(
            kind=ApprovalKind.POLICY,
            key=args.key,
            state_dir=env.state_dir(),
            out=out,
            policy=args.policy,
            secrets_handler=prompt,
        )
    )
    return _say(
        args,
        record,
        f"Approved {record['what']} (sha256 {record['sha256'][:16]}) with key "
        f"{record['approver'][:16]}: {out}",
    )


def run_show(args: argparse.Namespace) -> int:
    """The controls in force."""
    controls = ControlsStore(env.state_dir()).read()
    record: dict[str, Any] = (
        {"controls": None}
        if controls is None
        else {
            "threshold": controls.threshold,
            "approvers": list(controls.key_ids),
            "sha256": controls.sha256,
        }
    )
    line = (
        "No controls: two-person integrity is off (appliance controls init)"
        if controls is None
        else f"Two-person integrity: {controls.describe()}; sha256 {controls.sha256}"
    )
    return _say(args, record, line)
