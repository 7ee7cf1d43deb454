"""``appliance audit show`` and ``appliance audit verify``: the decisions, and whether their chain holds."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from airlock_io.exit_codes import ExitCode
from appliance.audit import describe
from appliance.cli import env
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import argparse

_SHA256 = re.compile(r"[0-9a-f]{64}")


def configure(parser: argparse.ArgumentParser) -> None:
    """``audit show`` and ``audit verify``."""
    audit = parser
    commands = audit.add_subparsers(
        dest="audit_command", metavar="COMMAND", required=True
    )
    show = commands.add_parser("show", help="the most recent decisions")
    show.add_argument(
        "-n", type=int, default=20, metavar="N", help="how many (default 20)"
    )
    show.add_argument("-o", "--output", choices=("text", "json"), default="text")
    show.set_defaults(handler=run_show)
    verify = commands.add_parser(
        "verify",
        help="walk the hash chain; name the first line edited, removed or reordered (exit 1)",
        description=(
            "Walk audit.jsonl from its first line: each line must name the SHA-256 of the line "
            "before and its own number. Exit 0 if the chain holds, 1 naming the first line that "
            "was edited, removed or reordered, or an incomplete last line (set aside, so that "
            "appends can continue). --anchor checks that a head printed in a kept report is in "
            "the chain (which catches a removed or edited tail)."
        ),
    )
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="SHA256",
        help="a head hash from a kept report that must be in the chain (repeatable)",
    )
    verify.add_argument("-o", "--output", choices=("text", "json"), default="text")
    verify.set_defaults(handler=run_verify)


def run_show(args: argparse.Namespace) -> int:
    """Print the last decisions."""
    from appliance.audit import AuditLog  # noqa: PLC0415

    if not 1 <= args.n <= 100_000:  # noqa: PLR2004
        msg = "between 1 and 100000"
        raise InputError(msg, where=f"-n {args.n}", reason=Reason.USAGE)
    entries = AuditLog(env.state_dir()).recent(args.n)
    if args.output == "json":
        print(json.dumps(entries, indent=2))
        return ExitCode.OK
    if not entries:
        print("no decisions recorded yet")
    for entry in entries:
        print(describe(entry))
    return ExitCode.OK


def run_verify(args: argparse.Namespace) -> int:
    """Walk the chain."""
    from appliance.audit import AuditLog  # noqa: PLC0415

    anchors = [a.lower().removeprefix("sha256:") for a in args.anchor]
    for anchor in anchors:
        if not _SHA256.fullmatch(anchor):
            msg = "expected the 64 hex digits of a report's audit sha256"
            raise InputError(msg, where=f"--anchor {anchor[:80]}", reason=Reason.USAGE)
    log = AuditLog(env.state_dir())
    count, problem = log.verify(anchors)
    if args.output == "json":
        print(
            json.dumps(
                {
                    "ok": problem is None,
                    "lines": count,
                    "problem": None
                    if problem is None
                    else {
                        "line": problem.line,
                        "what": problem.what,
                        "set_aside": problem.torn,
                    },
                },
                indent=2,
            )
        )
    elif problem is None:
        print(
            f"audit log holds: {count} line(s), chain unbroken"
            + (f", {len(anchors)} anchor(s) found" if anchors else "")
        )
    else:
        extra = (
            " (moved aside and recorded; appends may continue)" if problem.torn else ""
        )
        print(f"audit log broken: line {problem.line} {problem.what}{extra}")
    return ExitCode.OK if problem is None else ExitCode.VERIFICATION_FAILED
