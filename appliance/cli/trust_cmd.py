"""``appliance trust import | show | forget-split | publish``: the views of :mod:`appliance.actions.trust`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.actions.controls import ApproveRequest, approve
from appliance.actions.trust import (
    TrustImportRequest,
    TrustPublishRequest,
    forget_split,
    trust_import,
    trust_publish,
    trust_show,
)
from appliance.cli import env
from appliance.cli.registry_flags import (
    access,
    add_module_flag,
    add_registry_flags,
    prompt,
    signer_choice,
)
from appliance.core.approvals import ApprovalKind
from appliance.core.policyfile import parse_duration
from appliance.trust.publish import Lifetimes

if TYPE_CHECKING:
    import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """``trust import``, ``trust show`` and ``trust forget-split``."""
    commands = parser.add_subparsers(
        dest="trust_command", metavar="COMMAND", required=True
    )
    imp = commands.add_parser(
        "import",
        help="replay a TUF chain offline and make its trusted root current",
        description=(
            "Replay a TUF repository that crossed the gap (a directory laid out as served: "
            "N.root.json, timestamp.json, N.snapshot.json, N.targets.json, targets/<sha256>.<name>; "
            "or the capsule inside a transfer archive) from the root the appliance trusts. Signatures, thresholds, hashes, versions and "
            "rollback are always enforced; only expiry may be relaxed, with --trust-max-age."
        ),
    )
    imp.add_argument(
        "source",
        metavar="SOURCE",
        type=Path,
        help="directory laid out as a TUF repository is served, or a transfer archive",
    )
    imp.add_argument(
        "--bootstrap-root",
        metavar="FILE",
        type=Path,
        help="start the chain from this root.json (private deployments)",
    )
    imp.add_argument(
        "--trust-max-age",
        metavar="DURATION",
        type=str,
        default=None,
        help="accept metadata expired by at most this long (e.g. 30d); recorded in the report",
    )
    imp.add_argument(
        "--name",
        metavar="NAME",
        default="public-good",
        help="which named trust root this chain feeds (default public-good; e.g. github, "
        "started with --bootstrap-root); each name keeps its own rollback state, clock floor and log memory",
    )
    imp.add_argument(
        "--approvals",
        metavar="FILE",
        type=Path,
        help="two-person integrity: approvals of the new root version (`trust approve`)",
    )
    imp.add_argument("-o", "--output", choices=("text", "json"), default="text")
    imp.set_defaults(handler=run_import)
    show = commands.add_parser(
        "show",
        help="what the appliance trusts now, how old it is, and what it remembers",
    )
    show.add_argument("-o", "--output", choices=("text", "json"), default="text")
    show.set_defaults(handler=run_show)
    forget = commands.add_parser(
        "forget-split",
        help="after investigating, stop refusing a log recorded as showing a split view",
        description=(
            "A log that showed two different trees of the same size is refused until an "
            "operator acts. Investigate first (compare both checkpoints with the log's "
            "operator and witnesses); then remove the record by log id or origin."
        ),
    )
    forget.add_argument(
        "log", metavar="LOG", help="the log id (hex) or origin `trust show` lists"
    )
    forget.add_argument(
        "--approvals",
        metavar="FILE",
        type=Path,
        help="two-person integrity: approvals of this step (`trust approve`)",
    )
    forget.set_defaults(handler=run_forget_split)
    approve_cmd = commands.add_parser(
        "approve",
        help="two-person integrity: approve a trust change by the digest the refused command printed",
        description=(
            "Sign an approval of a trust change (a new TUF root version under a trust root "
            "name, or a forget-split: the digest the refused command printed; "
            "docs/revocation.md §4) with your "
            "approver key, and append it to FILE."
        ),
    )
    approve_cmd.add_argument("--sha256", metavar="HEX", required=True)
    approve_cmd.add_argument(
        "--key",
        metavar="KEY",
        required=True,
        help="your approver key: pkcs11: URI or key file",
    )
    approve_cmd.add_argument("--approvals", metavar="FILE", type=Path, required=True)
    approve_cmd.set_defaults(handler=run_approve)
    _configure_publish(commands)


_LIFETIMES = (
    ("root", "365d"),
    ("targets", "30d"),
    ("snapshot", "7d"),
    ("timestamp", "1d"),
)


def _configure_publish(commands: Any) -> None:  # noqa: ANN401 - argparse's private type
    pub = commands.add_parser(
        "publish",
        help="write the verified trusted roots as a gap-local TUF repository",
        description=(
            "Write (or continue) a TUF 1.0 repository with consistent snapshots whose targets "
            "are the trusted roots the appliance holds and verified (trusted_root.json for the "
            "default root), signed by the appliance's keys: any static web server can serve DIR "
            "to cosign, policy-controller, sigstore-js and python-tuf inside the gap. Keys are "
            "pkcs11: URIs, cosign.key files or PEM private keys. --refresh re-signs the timestamp "
            "(and the snapshot and targets when they would expire first) with the online key "
            "alone, for a timer."
        ),
    )
    pub.add_argument("--out", required=True, metavar="DIR", type=Path)
    pub.add_argument(
        "--root-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a root key (repeat for several); kept offline",
    )
    pub.add_argument(
        "--root-threshold",
        type=int,
        default=1,
        metavar="N",
        help="how many root keys must sign a root (default 1)",
    )
    pub.add_argument(
        "--online-key",
        metavar="KEY",
        help="the key for targets, snapshot and timestamp (default: the first root key)",
    )
    pub.add_argument(
        "--previous-root-key",
        action="append",
        default=[],
        metavar="KEY",
        help="a current root key, to sign a rotation to new --root-key keys",
    )
    pub.add_argument(
        "--refresh",
        action="store_true",
        help="re-sign the timestamp (and what expires before it) with --online-key",
    )
    for role, default in _LIFETIMES:
        pub.add_argument(
            f"--{role}-expires",
            default=default,
            metavar="DURATION",
            help=f"how long {role} metadata stays valid (default {default})",
        )
    pub.add_argument(
        "--to",
        metavar="REGISTRY[/PREFIX]",
        help="also push the repository as an OCI artifact ([PREFIX/]airlock/trust:tuf-repository)",
    )
    add_registry_flags(pub)
    add_module_flag(pub)
    pub.add_argument("-o", "--output", choices=("text", "json"), default="text")
    pub.set_defaults(handler=run_publish)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _say(lines: list[str]) -> None:
    """Print lines that quote the capsule's or the memories' strings (role names, log origins), escaped."""
    print("\n".join(untrusted(line, markup=False, limit=LINE_LIMIT) for line in lines))


def run_import(args: argparse.Namespace) -> int:
    """Replay, commit, report."""
    text: str | None = args.trust_max_age
    imported = trust_import(
        TrustImportRequest(
            source=args.source,
            state_dir=env.state_dir(),
            bootstrap_root=args.bootstrap_root,
            trust_max_age=parse_duration(text, where=f"--trust-max-age {text[:40]}")
            if text
            else timedelta(0),
            trust_max_age_text=text,
            name=args.name,
            approvals=args.approvals,
        )
    )
    if args.output == "json":
        print(json.dumps(imported.report, indent=2))
        return ExitCode.OK
    result, state = imported.result, imported.state
    roles = ", ".join(
        f"{name} v{r.version}" for name, r in result.roles.items() if name != "root"
    )
    lines = [
        f"Trust imported: root v{state.root_version} ({roles}) from {imported.source}, starting at the {imported.start}",
        f"  trusted_root.json sha256 {state.trusted_root_sha256}",
        *(f"  left out {name}: {why}" for name, why in result.left_out.items()),
    ]
    for allowance in result.allowances:
        days = allowance.overdue.total_seconds() / 86400
        lines.append(
            f"  ACCEPTED EXPIRED under --trust-max-age {text}: {allowance.role} expired {_iso(allowance.expired_at)} ({days:.1f} days ago)"
        )
    _say(lines)
    return ExitCode.OK


def _memory_lines(summary: dict[str, Any]) -> list[str]:
    floor = summary["clock_floor"]
    lines = [
        "  clock floor: "
        + (f"{floor['time']} ({floor['source']})" if floor else "none yet"),
    ]
    for origin, log in summary["logs"].items():
        lines.append(
            f"  log {origin}: {log['checkpoints']} checkpoint(s) remembered, largest tree {log['largest_tree_size']}"
        )
    for log_id, split in summary["split_views"].items():
        lines.append(
            f"  SPLIT VIEW {split['origin']} (log id {log_id}) at tree size {split['size']}, "
            f"detected {split['detected_at']}: its entries are refused; investigate, then "
            f"`appliance trust forget-split {log_id}`"
        )
    return lines


def _handed_on_lines(doc: dict[str, Any], now: str) -> list[str]:
    lines = [
        f"  hands on {r['file']} ({r['name']}) sha256 {r['sha256']}"
        for r in doc["held_roots"]
    ]
    if "held_roots_damaged" in doc:
        lines.append(
            f"  held roots DAMAGED, nothing is handed on: {doc['held_roots_damaged']}"
        )
    published = doc["published"]
    if published is None:
        return [
            *lines,
            "  no TUF repository published: `appliance trust publish --out DIR`",
        ]
    if "damaged" in published:
        return [*lines, f"  published repository DAMAGED: {published['damaged']}"]
    timestamp = published["roles"]["timestamp"]
    state = (
        "EXPIRED: run `appliance trust publish --refresh`"
        if timestamp["expires"] < now
        else "fresh"
    )
    root = published["roles"]["root"]
    return [
        *lines,
        f"  published in {published['directory']}: root v{root['version']}, timestamp v{timestamp['version']} expires {timestamp['expires']} ({state})",
    ]


def run_show(args: argparse.Namespace) -> int:
    """Print the current trust, its age, and the appliance's memories."""
    shown = trust_show(env.state_dir())
    doc, now = shown.doc, shown.now
    if args.output == "json":
        print(json.dumps(doc, indent=2))
        return ExitCode.OK
    stale = doc.get("stale_since")
    if not doc["imported"]:
        text = [
            f"Trust: {doc['source']}",
            f"  trusted_root.json sha256 {doc['trusted_root_sha256']}",
            *(
                [f"  stale since {stale}: import a newer trust capsule"]
                if stale
                else []
            ),
            "  nothing imported yet: run `appliance trust import SOURCE`",
        ]
    else:
        age_days = int(doc["age_seconds"]) // 86400
        text = [
            f"Trust: TUF root v{doc['root_version']}, imported {doc['imported_at']} ({age_days} days ago) from {doc['source']}",
            f"  trusted_root.json sha256 {doc['trusted_root_sha256']}",
            *(
                f"  {name:9} v{role['version']:<6} expires {role['expires']}"
                + ("  EXPIRED" if role["expires"] < _iso(now) else "")
                for name, role in doc["roles"].items()
            ),
            *(
                [f"  stale since {stale}: refresh with a newer trust capsule"]
                if stale
                else []
            ),
        ]
    text.extend(_memory_lines(doc["memory"]))
    text.extend(
        f"Trust root {name}: TUF root v{root['root_version']}, imported {root['imported_at']} from "
        f"{root['source']}"
        + (f", stale since {root['stale_since']}" if root["stale_since"] else "")
        for name, root in doc.get("named_roots", {}).items()
    )
    controls = doc.get("controls")
    text.append(
        "  two-person integrity: off"
        if controls is None
        else f"  two-person integrity: {controls['threshold']} of {len(controls['approvers'])} approvers "
        f"({', '.join(k[:16] for k in controls['approvers'])})"
    )
    text.extend(
        f"  revocation feed {feed['publisher']} v{feed['version']} issued {feed['issued']}, "
        f"imported {feed['imported_at']} (key {feed['key_id'][:16]})"
        for feed in doc.get("revocation_feeds", [])
    )
    text.extend(_handed_on_lines(doc, _iso(now)))
    _say(text)
    return ExitCode.OK


def run_forget_split(args: argparse.Namespace) -> int:
    """Remove a split-view record the operator has investigated."""
    forget_split(env.state_dir(), args.log, args.approvals)
    print(
        f"Split-view record for {untrusted(args.log, markup=False)} removed; its entries count again."
    )
    return ExitCode.OK


def run_approve(args: argparse.Namespace) -> int:
    """Approve a trust change by its digest."""
    record = approve(
        ApproveRequest(
            kind=ApprovalKind.TRUST,
            key=args.key,
            state_dir=env.state_dir(),
            out=args.approvals,
            sha256=args.sha256,
            secrets_handler=prompt,
        )
    )
    print(
        f"Approved trust change {record['sha256'][:16]} with key {record['approver'][:16]}: {args.approvals}"
    )
    return ExitCode.OK


def run_publish(args: argparse.Namespace) -> int:
    """Publish or refresh, then say what was signed."""
    lifetimes = Lifetimes(
        **{
            role: parse_duration(
                getattr(args, f"{role}_expires"),
                where=f"--{role}-expires",
            )
            for role, _ in _LIFETIMES
        }
    )
    publication = trust_publish(
        TrustPublishRequest(
            out=args.out,
            state_dir=env.state_dir(),
            root_keys=tuple(signer_choice(k, args) for k in args.root_key),
            online=None
            if args.online_key is None
            else signer_choice(args.online_key, args),
            previous_root_keys=tuple(
                signer_choice(k, args) for k in args.previous_root_key
            ),
            root_threshold=args.root_threshold,
            lifetimes=lifetimes,
            refresh=args.refresh,
            to=args.to,
            access=access(args, login_now=args.to is not None),
        )
    )
    doc = publication.to_json()
    published = publication.published
    if args.output == "json":
        print(json.dumps(doc, indent=2))
        return ExitCode.OK
    verb = "Refreshed" if published.refreshed else "Published"
    lines = [
        f"{verb} the TUF repository in {published.directory}: signed {', '.join(published.signed)}",
        *(
            f"  {role:9} v{info['version']:<6} expires {info['expires']}"
            for role, info in doc["roles"].items()
        ),
        *(
            f"  target {name} sha256 {digest}"
            for name, digest in published.targets.items()
        ),
        f"  clients bootstrap from {published.directory / 'root.json'}; serve {published.directory} with any static web server",
    ]
    if publication.pushed is not None:
        pushed = publication.pushed
        lines.append(
            f"  pushed to {args.to.split('/', 1)[0]}/{pushed['repository']}:{pushed['tag']}@{pushed['digest']}"
        )
    _say(lines)
    return ExitCode.OK
