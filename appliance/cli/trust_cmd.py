"""``appliance trust import`` and ``appliance trust show``.

Import replays a TUF chain offline from the root the appliance already trusts
(the stored one, else the sealed public-good root, or ``--bootstrap-root``)
and commits it to the state directory. Expired metadata is refused unless
``--trust-max-age`` allows it, and every allowance is reported.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.cli import env
from appliance.core.errors import InputError, Reason, TrustRootError

if TYPE_CHECKING:
    import argparse

    from appliance.trust.replay import ReplayResult
    from appliance.trust.source import ArchiveSource, DirectorySource
    from appliance.trust.state import TrustState

_DURATION = re.compile(r"^([0-9]{1,12})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# No metadata is worth trusting ten years past its expiry; a larger allowance
# is a typo (or an attempt to switch expiry off), refused by name.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str, *, flag: str = "--trust-max-age") -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``; at most ten years.

    Raises:
        InputError: anything else.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise InputError(
            "expected a duration such as 30d, 12h or 2w",
            where=f"{flag} {text[:40]}",
            reason=Reason.USAGE,
        )
    value = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if value > MAX_DURATION:
        raise InputError(
            f"at most {MAX_DURATION.days} days",
            where=f"{flag} {text[:40]}",
            reason=Reason.USAGE,
        )
    return value


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``trust import`` and ``trust show``."""
    trust = subparsers.add_parser(
        "trust", help="import or show the Sigstore trust root (TUF, offline)"
    )
    commands = trust.add_subparsers(
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
    forget.set_defaults(handler=run_forget_split)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_import(args: argparse.Namespace) -> int:
    """Replay, commit, report."""
    from airlock_io import inputs  # noqa: PLC0415
    from appliance.actions.audited import Audited  # noqa: PLC0415
    from appliance.trust.memory import Memory  # noqa: PLC0415
    from appliance.trust.source import open_source  # noqa: PLC0415
    from appliance.trust.state import StateStore  # noqa: PLC0415

    with Audited(
        "trust-import",
        env.state_dir(),
        source=str(args.source),
        trust_max_age=args.trust_max_age,
    ) as audit:
        now = datetime.now(UTC)
        max_age = (
            parse_duration(args.trust_max_age) if args.trust_max_age else timedelta(0)
        )
        memory = Memory(env.state_dir())
        # A clock set back would make expired metadata look fresh: refuse it first.
        memory.check_clock(now)
        source = open_source(args.source)
        operator_root = (
            None
            if args.bootstrap_root is None
            else inputs.read_file(
                args.bootstrap_root,
                what="bootstrap root",
                max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES,
            )
        )
        # Read, replay and commit under the state lock: an import running at
        # the same time commits before this one reads, or after it commits.
        with StateStore(env.state_dir()).update() as update:
            result, start = _replay(
                args, source, update.previous, operator_root, now=now, max_age=max_age
            )
            state = update.commit(result, source=source.label, now=now)
        memory.raise_floor(
            [
                (
                    now,
                    f"the appliance clock when it committed TUF root v{state.root_version}",
                )
            ]
        )
        head = audit.record(
            {
                "root_version": state.root_version,
                "trusted_root_sha256": state.trusted_root_sha256,
                "exit_code": 0,
            }
        )
    report: dict[str, Any] = {
        **state.to_json(),
        "bootstrap": start,
        "trust_max_age": args.trust_max_age,
        "expiry_allowance_used": bool(result.allowances),
        "left_out": result.left_out,
        "audit": head.to_json(),
    }
    if args.output == "json":
        print(json.dumps(report, indent=2))
        return ExitCode.OK
    roles = ", ".join(
        f"{name} v{r.version}" for name, r in result.roles.items() if name != "root"
    )
    lines = [
        f"Trust imported: root v{state.root_version} ({roles}) from {source.label}, starting at the {start}",
        f"  trusted_root.json sha256 {state.trusted_root_sha256}",
        *(f"  left out {name}: {why}" for name, why in result.left_out.items()),
        *(
            f"  ACCEPTED EXPIRED under --trust-max-age {args.trust_max_age}: {a.role} expired "
            f"{_iso(a.expired_at)} ({a.overdue.total_seconds() / 86400:.1f} days ago)"
            for a in result.allowances
        ),
    ]
    _say(lines)
    return ExitCode.OK


def _replay(  # noqa: PLR0913 - every input of the replay named
    args: argparse.Namespace,
    source: DirectorySource | ArchiveSource,
    previous: TrustState | None,
    operator_root: bytes | None,
    *,
    now: datetime,
    max_age: timedelta,
) -> tuple[ReplayResult, str]:
    """Replay ``source`` from the trust held; the result and where the chain started."""
    from appliance.trust import replay  # noqa: PLC0415 - tuf is imported only for trust commands
    from trustroot import store  # noqa: PLC0415

    if previous is not None:
        # Trust already held is never replaced by a flag: the chain always
        # continues from the stored root, and --bootstrap-root must lie on it.
        bootstrap, start = (
            previous.read("root.json"),
            f"stored root v{previous.root_version}",
        )
    elif operator_root is not None:
        bootstrap, start = operator_root, str(args.bootstrap_root)
    else:
        bootstrap, start = (
            store.read_embedded(store.PUBLIC_GOOD, "root.json"),
            "sealed public-good root",
        )
    on_chain = f"--bootstrap-root {args.bootstrap_root}"
    if previous is not None and operator_root is not None:
        # An older root must be one already held: refused before any replay.
        replay.check_on_chain(
            operator_root, previous=previous, result=None, where=on_chain
        )
    try:
        result = replay.replay(
            source, bootstrap=bootstrap, now=now, max_age=max_age, previous=previous
        )
    except TrustRootError as exc:
        if previous is None or operator_root is None:
            raise
        raise TrustRootError(
            f"does not chain from the stored trust (root v{previous.root_version}): {exc.diagnostics()}",
            reason=exc.reason,
            where=on_chain,
        ) from exc
    if previous is not None and operator_root is not None:
        replay.check_on_chain(
            operator_root, previous=previous, result=result, where=on_chain
        )
    return result, start


def _say(lines: list[str]) -> None:
    """Print lines that quote the capsule's or the memories' strings (role names, log origins), escaped."""
    print("\n".join(untrusted(line, markup=False, limit=LINE_LIMIT) for line in lines))


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


def run_forget_split(args: argparse.Namespace) -> int:
    """Remove a split-view record the operator has investigated."""
    from appliance.trust.memory import Memory  # noqa: PLC0415

    if not Memory(env.state_dir()).forget_split(args.log):
        raise InputError("no split view is recorded for that log", where=args.log)
    print(f"Split-view record for {args.log} removed; its entries count again.")
    return ExitCode.OK


def run_show(args: argparse.Namespace) -> int:
    """Print the current trust, its age, and the appliance's memories."""
    from appliance.trust import roots  # noqa: PLC0415
    from appliance.trust.memory import Memory  # noqa: PLC0415
    from appliance.trust.state import StateStore  # noqa: PLC0415

    now = datetime.now(UTC)
    state = StateStore(env.state_dir()).load()
    memory = Memory(env.state_dir()).summary()
    if state is None:
        trust = roots.load_embedded(now=now)
        doc: dict[str, Any] = {
            "imported": False,
            "source": trust.source,
            "trusted_root_sha256": trust.sha256,
            "stale_since": _iso(trust.stale_since) if trust.stale_since else None,
        }
        text = [
            f"Trust: {trust.source}",
            f"  trusted_root.json sha256 {trust.sha256}",
            *(
                [
                    f"  stale since {_iso(trust.stale_since)}: import a newer trust capsule"
                ]
                if trust.stale_since
                else []
            ),
            "  nothing imported yet: run `appliance trust import SOURCE`",
        ]
    else:
        state.read("trusted_root.json")  # re-checked against state.json, or refused
        age = now - state.imported_at
        stale = state.stale_since(now)
        doc = {
            "imported": True,
            **state.to_json(),
            "age_seconds": int(age.total_seconds()),
            "stale_since": _iso(stale) if stale else None,
        }
        text = [
            f"Trust: TUF root v{state.root_version}, imported {_iso(state.imported_at)} ({age.days} days ago) from {state.source}",
            f"  trusted_root.json sha256 {state.trusted_root_sha256}",
            *(
                f"  {name:9} v{r.version:<6} expires {_iso(r.expires)}"
                + ("  EXPIRED" if r.expires < now else "")
                for name, r in state.roles.items()
            ),
        ]
        if stale:
            text.append(
                f"  stale since {_iso(stale)}: refresh with a newer trust capsule"
            )
    doc["memory"] = memory
    text.extend(_memory_lines(memory))
    if args.output == "json":
        print(json.dumps(doc, indent=2))
    else:
        _say(text)
    return ExitCode.OK
