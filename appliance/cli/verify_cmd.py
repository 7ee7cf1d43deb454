"""``appliance verify ARCHIVE``: every image verified against a policy, offline.

The clock is read once (and refused if behind the clock floor); the policy
is validated before the archive is opened; the archive is read in one
streaming pass; trust comes only from the operator's side (the archive's TUF
capsule replayed from the appliance's own root, or ``--trusted-root``); then
the pure core judges each image. The verdict goes to stderr as a table, to
stdout with ``-o json``, and to ``--report FILE`` (written atomically). Exit
0 only if every selected image passed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io.exit_codes import ExitCode
from appliance import __version__
from appliance.cli import env
from appliance.cli.identity_flags import (
    add_identity_flags,
    identity_given,
    warn_insecure,
)
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import argparse
    import threading
    from collections.abc import Callable

    from airlock_io.archive import Archive
    from appliance.core.archive.gate import VerifiedView
    from appliance.core.archive.ledger import Ledger
    from appliance.core.archive.verdict import ArchiveVerdict
    from appliance.core.policyfile import ResolvedRule, Signer
    from appliance.trust.archive import TrustReport


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``verify``."""
    parser = subparsers.add_parser(
        "verify",
        help="verify every image of a transfer archive against a policy, offline",
        description=(
            "Read a transfer archive (.tar.zst, .tar or an extracted layout) in one streaming pass, "
            "import its TUF capsule through the offline replay, and verify every image (or those "
            "named with --image) against the policy: signatures (cosign .sig, Sigstore bundle "
            "referrers), attestations, and the ledger both ways. Exit 0 only if every selected "
            "image passed, 1 if any did not, 2 for usage or unreadable input."
        ),
    )
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


def add_report_flags(parser: argparse.ArgumentParser) -> None:
    """``-o text|json`` and ``--report FILE`` (``verify``, ``load``, ``extract``)."""
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument(
        "--report",
        metavar="FILE",
        type=Path,
        help="also write the JSON report here (atomically)",
    )


def add_policy_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that say what must have signed (``verify``, ``load``, ``extract``)."""
    parser.add_argument(
        "--require-countersignature",
        action="append",
        default=[],
        metavar="PEM",
        type=Path,
        help="also demand the appliance's countersignature (a SLSA VSA, PASSED, for the image's digest) by this key",
    )
    parser.add_argument(
        "--policy", metavar="FILE.toml", type=Path, help="the policy file (see README)"
    )
    add_identity_flags(parser, key_flag=False)
    parser.add_argument(
        "--key",
        dest="keys",
        action="append",
        default=[],
        metavar="PEM",
        type=Path,
        help="a public key any of which may sign (repeatable)",
    )
    parser.add_argument(
        "--require-attestation",
        action="append",
        default=[],
        metavar="PREDICATE_TYPE",
        help="demand a verified attestation of this type (repeatable)",
    )
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="REF",
        help="verify only this image (repeatable)",
    )
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="an index must carry this platform; the others may be absent (left out at export "
        "with --platform). Without it, every platform the index lists must be carried (repeatable)",
    )
    parser.add_argument(
        "-a",
        "--annotations",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="demand this annotation in signed payloads (as cosign)",
    )
    parser.add_argument(
        "--trusted-root",
        metavar="FILE",
        type=Path,
        help="your own trusted_root.json (not TUF-backed)",
    )
    parser.add_argument(
        "--trust-max-age",
        metavar="DURATION",
        help="accept the capsule's metadata expired by at most this long",
    )
    parser.add_argument(
        "--allow-foreign-inventory",
        action="store_true",
        help="accept a delta made against an inventory another appliance (or none) wrote",
    )


def countersigners(paths: list[Path]) -> tuple[Signer, ...]:
    """The keys of ``--require-countersignature``.

    Raises:
        InputError: a file that is not a public key.
    """
    from airlock_io import inputs  # noqa: PLC0415
    from appliance.core import keys  # noqa: PLC0415
    from appliance.core.policy import KeyPolicy  # noqa: PLC0415
    from appliance.core.policyfile import Signer  # noqa: PLC0415

    return tuple(
        Signer(
            name=f"countersignature key {path}",
            policy=KeyPolicy(
                key=keys.load_pem(
                    inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES),
                    where=str(path),
                )
            ),
        )
        for path in paths
    )


def parse_annotations(values: list[str]) -> dict[str, str]:
    """``-a KEY=VALUE`` flags as a mapping (cosign's annotations).

    Raises:
        InputError: an item without ``=``, a key or a value.
    """
    found = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            msg = "expected KEY=VALUE"
            raise InputError(msg, where=f"-a {item}", reason=Reason.USAGE)
        found[key] = value
    return found


def _rules(args: argparse.Namespace) -> tuple[tuple[ResolvedRule, ...], str]:
    from airlock_io import inputs  # noqa: PLC0415
    from appliance.cli.identity_flags import policy_from_flags  # noqa: PLC0415
    from appliance.core import keys  # noqa: PLC0415
    from appliance.core.policy import KeyPolicy  # noqa: PLC0415
    from appliance.core.policyfile import PolicySpec, ResolvedRule, Rule, Signer  # noqa: PLC0415

    if args.policy is not None:
        if identity_given(args) or args.keys:
            msg = "give a --policy file or the signer flags (--key, --certificate-*), not both"
            raise InputError(msg, reason=Reason.USAGE)
        data = inputs.read_file(
            args.policy, what="policy", max_bytes=inputs.MAX_POLICY_BYTES
        )
        spec = PolicySpec.from_toml(data, source=str(args.policy))
        base = args.policy.parent

        def read_key(relative: str) -> bytes:
            return inputs.read_file(
                base / relative, what="key", max_bytes=inputs.MAX_KEY_BYTES
            )

        return spec.resolve(read_key), str(args.policy)
    signers: list[Signer] = []
    if args.keys:
        if identity_given(args):
            msg = "give --key or the certificate identity flags, not both"
            raise InputError(msg, reason=Reason.USAGE)
        for path in args.keys:
            pem = inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES)
            signers.append(
                Signer(
                    name=f"key {path}",
                    policy=KeyPolicy(key=keys.load_pem(pem, where=str(path))),
                )
            )
    else:
        policy = policy_from_flags(args)
        who = args.certificate_identity or f"/{args.certificate_identity_regexp}/"
        signers.append(Signer(name=who, policy=policy))
    rule = Rule(line=0, match=("**",), signers=(), threshold=1)
    return (ResolvedRule(rule=rule, signers=tuple(signers)),), "command-line flags"


def _progress(archive: Path) -> tuple[Any, Any]:
    """A progress callback for the reader and its context (a bar on a terminal)."""
    from appliance.cli.progress import byte_bar  # noqa: PLC0415

    update, context = byte_bar(f"reading {archive.name}", None)
    if update is None:
        return None, context
    return (lambda p: update(p.read_bytes, p.total_bytes)), context


REPORT_VERSION = 1


def _report(
    archive: dict[str, Any],
    verdict: ArchiveVerdict,
    trust: TrustReport,
    *,
    now: datetime,
    policy: str,
) -> dict[str, Any]:
    ledger = verdict.ledger
    return {
        "report_version": REPORT_VERSION,
        "verified": verdict.verified,
        "appliance": {
            "version": __version__,
            "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "archive": {
            **archive,
            "exporter": f"{ledger.tool} {ledger.tool_version}",
            "export_time": ledger.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "delta": _delta_json(ledger),
        },
        "trust": trust.to_json(now),
        "policy": policy,
        "problems": list(verdict.problems),
        "images": [image.to_json() for image in verdict.images],
    }


def _delta_json(ledger: Ledger) -> dict[str, Any] | None:
    """A delta's inventory and what it left out as held by the gap (None: not a delta)."""
    if ledger.delta is None:
        return None
    return {
        **ledger.delta.to_json(),
        "omitted_as_held": [
            {"digest": c.digest, "size": c.size, "role": c.role}
            for c in sorted(ledger.omitted_held, key=lambda c: c.digest)
        ],
    }


def _render(
    verdict: ArchiveVerdict,
    trust: TrustReport,
    report: dict[str, Any],
    console_file: Any = None,  # noqa: ANN401 - a text stream
) -> None:
    """The verdict table and its summary lines.

    Every string from the archive (names, platforms, messages that quote a
    ledger field or a certificate's SAN) goes through
    :func:`~airlock_io.terminal.untrusted`: table cells as plain ``Text``
    (never parsed as markup), printed lines as escaped markup. The first
    column is the reference that was judged (the one the policy rule
    matched), not the ledger's free-text "asked" name; the short digest and
    the verdict word never wrap or shrink, so that two rows can always be
    told apart at 80 columns (the free-text columns fold instead).
    """
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    from airlock_io.terminal import untrusted  # noqa: PLC0415

    def cell(text: str) -> Text:
        return Text(untrusted(text, markup=False))

    console = Console(file=console_file or sys.stderr, highlight=False)
    ok, bad = _marks(console)
    where = report["archive"]
    table = Table(
        title=f"{untrusted(where['path'])} ({untrusted(where['exporter'])}, exported {where['export_time']})"
    )
    table.add_column("image", overflow="fold")
    table.add_column("digest", no_wrap=True, min_width=12)
    table.add_column("platforms", overflow="fold")
    table.add_column("verdict", no_wrap=True, min_width=len(f"{bad} REFUSED"))
    table.add_column("signer", overflow="fold")
    table.add_column("signed at", overflow="fold")
    table.add_column("reason", overflow="fold")
    for image in verdict.images:
        signed = next((s for s in image.signatures if s.verified and s.satisfies), None)
        when = signed.result.signing_time if signed and signed.result else None
        platforms = (
            ", ".join(p for p, _, carried in image.platforms if carried) or "single"
        )
        table.add_row(
            cell(image.reference),
            cell(image.digest[7:19]),
            cell(platforms),
            f"{ok} verified" if image.verified else f"{bad} REFUSED",
            cell((signed.signer or "") if signed else ""),
            when.strftime("%Y-%m-%d %H:%M") if when else "",
            cell("" if image.verified else image.message),
        )
    console.print(table)
    console.print(
        f"trust: {untrusted(trust.source)}"
        + (f", stale since {trust.stale_since:%Y-%m-%d}" if trust.stale_since else "")
    )
    console.print(f"capsule: {untrusted(trust.capsule)}")
    if (delta := verdict.ledger.delta_summary()) is not None:
        console.print(untrusted(delta))
    for problem in verdict.problems:
        console.print(f"{bad} archive: {untrusted(problem)}")
    passed = sum(1 for i in verdict.images if i.verified)
    console.print(f"{passed} of {len(verdict.images)} image(s) verified")
    audit = report.get("audit")
    if isinstance(audit, dict):
        console.print(f"audit: line {audit['line']}, head {audit['sha256']}")


def _marks(console: Any) -> tuple[str, str]:  # noqa: ANN401 - rich's Console
    encoding = (getattr(console.file, "encoding", None) or "ascii").lower()
    try:
        "✔✖".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "OK", "X"
    return "✔", "✖"


@dataclass(frozen=True, slots=True, kw_only=True)
class Judged:
    """One verification of an archive, as every command that needs one does it."""

    path: Path
    archive: Archive
    verdict: ArchiveVerdict
    trust: TrustReport
    policy: str
    now: datetime

    @property
    def view(self) -> VerifiedView:
        """What may leave the archive: the verified view (names, manifests, what goes with them)."""
        from appliance.core.archive.gate import verified_view  # noqa: PLC0415

        return verified_view(self.archive.contents, self.verdict)

    def report(self) -> dict[str, Any]:
        """The stable JSON report (README: "Verifying an archive offline")."""
        where = {
            "path": str(self.path),
            "sha256": self.archive.sha256,
            "kind": self.archive.kind,
            "size": self.archive.size,
        }
        return _report(
            where, self.verdict, self.trust, now=self.now, policy=self.policy
        )

    def audit_record(self) -> dict[str, Any]:
        """What the audit log keeps of this verification."""
        return {
            "archive": {
                "path": str(self.path),
                "sha256": self.archive.sha256,
                "size": self.archive.size,
            },
            "trust": {
                "source": self.trust.source,
                "sha256": self.trust.sha256,
                "tuf_backed": self.trust.tuf_backed,
                "root_version": self.trust.root_version,
            },
            "policy": self.policy,
            "problems": list(self.verdict.problems),
            "images": [
                {
                    "ref": i.ref,
                    "digest": i.digest,
                    "verified": i.verified,
                    "reason": None if i.reason is None else i.reason.value,
                }
                for i in self.verdict.images
            ],
        }

    def render(self, console_file: Any = None) -> None:  # noqa: ANN401 - a text stream
        """The table on stderr."""
        _render(self.verdict, self.trust, self.report(), console_file)


def signer_given(args: argparse.Namespace) -> bool:
    """Whether the flags name any signer (a policy, a key, an identity)."""
    return args.policy is not None or bool(args.keys) or identity_given(args)


def _review_rules() -> tuple[tuple[ResolvedRule, ...], str]:
    """Any keyless identity, for *showing* who signed: never a verdict (see :func:`judge`)."""
    from appliance.core.pattern import compile_pattern  # noqa: PLC0415
    from appliance.core.policy import IdentityPolicy  # noqa: PLC0415
    from appliance.core.policyfile import ResolvedRule, Rule, Signer  # noqa: PLC0415

    anyone = IdentityPolicy(
        identity_regexp=compile_pattern(".+", where="review"),
        issuer_regexp=compile_pattern(".+", where="review"),
    )
    rule = Rule(line=0, match=("**",), signers=(), threshold=1)
    return (
        ResolvedRule(
            rule=rule, signers=(Signer(name="anyone (review only)", policy=anyone),)
        ),
    ), "none (review only)"


def judge(
    args: argparse.Namespace,
    *,
    on_progress: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
    review: bool = False,
) -> Judged:
    """Verify ``args.archive`` under the policy flags: the one way every command does it.

    The clock is read once and checked against the floor; the policy is
    validated before the archive is opened; trust comes only from the
    operator's side; split views are remembered and verified times and
    checkpoints join the appliance's memories.

    With ``review`` and no signer named (the TUI, before a policy is
    written), every signature is checked against any identity so that its
    signer can be *shown*, and every image is then refused: a review is
    never a verdict.

    Raises:
        InputError: usage, an unreadable policy, key or archive.
        VerificationError: the clock is behind the floor, the archive's
            capsule does not replay, a blob is not what its name says.
    """
    from airlock_io.archive import read_archive  # noqa: PLC0415
    from appliance.cli.trust_cmd import parse_duration  # noqa: PLC0415
    from appliance.core.archive import view  # noqa: PLC0415
    from appliance.core.archive.manifest import Platform  # noqa: PLC0415
    from appliance.core.archive.verify import Options, verify_archive  # noqa: PLC0415
    from appliance.core.errors import SplitViewError  # noqa: PLC0415
    from appliance.held import Held  # noqa: PLC0415
    from appliance.trust import roots  # noqa: PLC0415
    from appliance.trust.archive import trust_for  # noqa: PLC0415
    from appliance.trust.memory import Memory  # noqa: PLC0415

    now = datetime.now(UTC)
    memory = Memory(env.state_dir())
    memory.check_clock(now)
    reviewing = review and not signer_given(args)
    rules, policy_source = _review_rules() if reviewing else _rules(args)
    warn_insecure(args)
    options = Options(
        images=tuple(args.image),
        annotations=parse_annotations(args.annotations),
        require_attestations=tuple(args.require_attestation),
        insecure_ignore_tlog=args.insecure_ignore_tlog,
        countersigners=countersigners(args.require_countersignature),
        inventories=None
        if args.allow_foreign_inventory
        else Held(env.state_dir()).written(),
        platforms=tuple(Platform.parse(p) for p in args.platform),
    )
    max_age = parse_duration(args.trust_max_age) if args.trust_max_age else timedelta(0)
    context: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if on_progress is None:
        on_progress, context = _progress(args.archive)
    with context:
        archive = read_archive(args.archive, on_progress=on_progress, cancel=cancel)
    ledger, _ = view.ledger(archive.contents)
    trust, trust_report = trust_for(
        archive.contents,
        ledger,
        trusted_root=args.trusted_root,
        state_dir=env.state_dir(),
        now=now,
        max_age=max_age,
        memory=memory.log_memory(),
    )
    verdict = verify_archive(
        archive.contents, rules=rules, trust=trust, now=now, options=options
    )
    for image in verdict.images:
        for error in image.errors:
            if isinstance(error, SplitViewError):
                memory.record_split(error, now=now)
    roots.remember(
        memory, [r for image in verdict.images for r in image.results], now=now
    )
    if reviewing:
        verdict = dataclasses.replace(
            verdict,
            images=tuple(
                dataclasses.replace(
                    i,
                    verified=False,
                    reason=Reason.POLICY_UNSATISFIED,
                    message="no policy given: signers shown for review only",
                )
                for i in verdict.images
            ),
        )
    return Judged(
        path=args.archive,
        archive=archive,
        verdict=verdict,
        trust=trust_report,
        policy=policy_source,
        now=now,
    )


def _judge_or_request(args: argparse.Namespace) -> Judged:
    """:func:`judge`; damaged parts also write the re-request list (``--request-out``)."""
    from airlock_io.atomic import write_output  # noqa: PLC0415
    from airlock_io.parts import DamagedParts  # noqa: PLC0415

    try:
        return judge(args)
    except DamagedParts as damaged:
        if args.request_out is not None:
            write_output(args.request_out, damaged.request.to_bytes())
        raise


def run(args: argparse.Namespace) -> int:
    """Verify the archive; record the decision; print and write the report."""
    from airlock_io.atomic import check_output, write_output  # noqa: PLC0415
    from appliance.actions.audited import Audited  # noqa: PLC0415

    if args.report is not None:
        check_output(args.report)  # before the archive is read
    if args.request_out is not None:
        check_output(args.request_out)
    with Audited("verify", env.state_dir()) as audit:
        judged = _judge_or_request(args)
        code = ExitCode.OK if judged.verdict.verified else ExitCode.VERIFICATION_FAILED
        report = judged.report()
        report["audit"] = audit.record(
            {**judged.audit_record(), "exit_code": int(code)}
        ).to_json()
        # Inside the audit context: a report that cannot be written is
        # recorded too, after the decision.
        if args.report is not None:
            write_output(args.report, json.dumps(report, indent=2).encode() + b"\n")
    if args.output == "json":
        print(json.dumps(report, indent=2))
    judged.render()
    return code
