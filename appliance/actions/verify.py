"""Verify an archive: the use case every face and every later verb starts from.

:func:`judge` is the whole verification, in order: the clock read once and
checked against the clock floor; the policy loaded and validated before the
archive is opened; the archive read in one streaming pass; trust only from
the operator's side (the archive's capsule replayed from the appliance's own
root, or ``--trusted-root``); the pure verdict; then the appliance's
memories (split views seen, verified times and checkpoints). :func:`verify`
adds what the ``verify`` verb owes: its audit line, its report file and, for
an archive in parts that arrived damaged, the re-request list.

``load`` and ``extract`` call :func:`judge` themselves, in the same process,
and never trust an earlier report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airlock_io import jsonout
from airlock_io.archive import read_archive
from airlock_io.atomic import check_output, write_output
from airlock_io.exit_codes import ExitCode
from airlock_io.parts import DamagedParts
from appliance import __version__
from appliance.actions.audited import Audited
from appliance.actions.controls import enforce
from appliance.actions.interface import QUIETLY, Run
from appliance.actions.parallel import runner, usable_cpus
from appliance.actions.policy import (
    LoadedPolicy,
    PolicySource,
    countersign_keys,
    load_policy,
)
from appliance.actions.revocations import InForce, in_force
from appliance.core.archive import view
from appliance.core.archive.gate import VerifiedView, verified_view
from appliance.core.archive.verify import ArchiveVerdict, Options, verify_archive
from appliance.core.errors import InputError, Reason, SplitViewError
from appliance.held import Held
from appliance.trust import held
from appliance.trust.archive import TrustReport, trust_for
from appliance.trust.memory import Memory

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from airlock_io.archive import Archive
    from appliance.core.archive.ledger import Ledger
    from appliance.core.archive.manifest import Platform
    from appliance.core.archive.verdict import ImageVerdict

REPORT_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyRequest:
    """One verification of an archive, fully described (``verify``, and inside ``load``/``extract``)."""

    archive: Path
    policy: PolicySource
    state_dir: Path
    trusted_root: Path | None = None
    trust_max_age: timedelta = timedelta(0)
    images: tuple[str, ...] = ()  # --image: only these
    annotations: Mapping[str, str] = field(default_factory=dict)  # -a
    require_attestations: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()  # --platform
    insecure_ignore_tlog: bool = False
    require_countersignature: tuple[Path, ...] = ()  # the appliance's keys
    allow_foreign_inventory: bool = False
    report: Path | None = None  # the command's JSON report, written atomically
    request_out: Path | None = None  # damaged parts: the re-request list
    via: str = "cli"  # which face asked (recorded in the audit line)
    # --jobs: worker processes judging the images (None: every usable CPU;
    # 1: none, in this process). The verdict is the same whatever it is.
    jobs: int | None = None
    # Keep every verification result whole (the TUI shows each check and
    # certificate); False (the CLI): each image's report entry is rendered
    # as it is judged and only what the table, the gate, the audit line and
    # the memories read is kept (#26: memory at 100,000 signatures). The
    # report is the same byte for byte either way.
    keep_evidence: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """One verification as every verb that needs one does it."""

    request: VerifyRequest
    archive: Archive
    verdict: ArchiveVerdict
    trust: TrustReport
    policy: LoadedPolicy
    now: datetime
    revocations: InForce

    @property
    def path(self) -> Path:
        """The archive as named."""
        return self.request.archive

    @property
    def view(self) -> VerifiedView:
        """What may leave the archive: names, manifests and what goes with them."""
        return verified_view(self.archive.contents, self.verdict)

    def report(self) -> dict[str, Any]:
        """The stable JSON report (README: "Verifying an archive offline")."""
        ledger = self.verdict.ledger
        return {
            "report_version": REPORT_VERSION,
            "verified": self.verdict.verified,
            "appliance": {
                "version": __version__,
                "now": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "archive": {
                "path": str(self.path),
                "sha256": self.archive.sha256,
                "kind": self.archive.kind,
                "size": self.archive.size,
                "exporter": f"{ledger.tool} {ledger.tool_version}",
                "export_time": ledger.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "delta": _delta_json(ledger),
            },
            "trust": self.trust.to_json(self.now),
            "policy": self.policy.name,
            "policy_approved_by": list(self.policy.approved_by),
            "revocations": self.revocations.to_json(self.now),
            "problems": list(self.verdict.problems),
            "images": _images_json(self.verdict.images),
            "files": [file.to_json() for file in self.verdict.files],
        }

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
            "policy": self.policy.name,
            "policy_sha256": self.policy.sha256,
            "policy_approved_by": list(self.policy.approved_by),
            "revocations": self.revocations.to_json(self.now),
            "problems": list(self.verdict.problems),
            "images": [
                {
                    "ref": i.ref,
                    "reference": i.reference,
                    "digest": i.digest,
                    "verified": i.verified,
                    "reason": None if i.reason is None else i.reason.value,
                }
                for i in self.verdict.images
            ],
            "files": [
                {
                    "name": f.name,
                    "digest": f.digest,
                    "blob": f.blob,
                    "verified": f.verified,
                    "reason": None if f.reason is None else f.reason.value,
                    "name_bound": f.name_bound,
                }
                for f in self.verdict.files
            ],
        }


def _images_json(images: tuple[ImageVerdict, ...]) -> list[Any] | jsonout.Prerendered:
    """The report's images: as rendered where they were judged, or rendered now."""
    rendered = [i.rendered for i in images if i.rendered is not None]
    if not rendered:
        return [image.to_json() for image in images]
    if len(rendered) != len(images):
        # Never: all are compacted or none. A compact verdict rendered again
        # would lose its checks; refuse rather than write less.
        msg = "some images were rendered where judged and some not"
        raise AssertionError(msg)
    return jsonout.Prerendered(rendered)


def _finisher(
    *, review: bool, compact: bool
) -> Callable[[ImageVerdict], ImageVerdict] | None:
    """What is done to each image's final verdict where it is judged (in a worker with --jobs)."""
    if not review and not compact:
        return None

    def finish(verdict: ImageVerdict) -> ImageVerdict:
        if review:
            verdict = dataclasses.replace(
                verdict,
                verified=False,
                reason=Reason.POLICY_UNSATISFIED,
                message=REVIEW_ONLY,
            )
        if compact:
            verdict = verdict.compact(jsonout.render(verdict.to_json()))
        return verdict

    return finish


REVIEW_ONLY = "no policy given: signers shown for review only"


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


def _check_rule_roots(policy: LoadedPolicy, names: set[str]) -> None:
    """A rule naming a root this appliance does not hold is an input error, naming its line.

    Raises:
        InputError: such a rule exists.
    """
    for resolved in policy.rules:
        missing = [n for n in resolved.rule.trust if n not in names]
        if missing:
            msg = f"the rule names trust root {missing[0]!r}, which this appliance does not hold (it holds {', '.join(sorted(names))}; `appliance trust import --name {missing[0]}` or --trusted-root)"
            raise InputError(
                msg,
                where=f"{policy.name}:{resolved.rule.trust_line or resolved.rule.line}",
                reason=Reason.USAGE,
            )


def judge(request: VerifyRequest, run: Run = QUIETLY) -> Verified:
    """Verify ``request.archive`` under its policy: the one way every verb does it.

    With a review policy (:class:`~appliance.actions.policy.ReviewOnly`),
    every signature is checked against any identity so that its signer can
    be *shown*, and every image is then refused: a review is never a verdict.

    Raises:
        InputError: an unreadable policy, key or archive; bad flags.
        VerificationError: the clock is behind the floor, the archive's
            capsule does not replay, a blob is not what its name says.
        DamagedParts: an archive in parts arrived with a part missing or altered.
    """
    now = datetime.now(UTC)
    memory = Memory(request.state_dir)
    held.check_clocks(request.state_dir, now)
    policy = enforce(
        load_policy(
            request.policy,
            annotations=request.annotations,
            require_attestations=request.require_attestations,
            insecure_ignore_tlog=request.insecure_ignore_tlog,
        ),
        request.policy,
        request.state_dir,
    )
    options = Options(
        images=request.images,
        annotations=dict(request.annotations),
        require_attestations=request.require_attestations,
        insecure_ignore_tlog=request.insecure_ignore_tlog,
        countersigners=countersign_keys(request.require_countersignature),
        inventories=None
        if request.allow_foreign_inventory
        else Held(request.state_dir).written(),
        platforms=request.platforms,
    )
    archive = read_archive(
        request.archive,
        on_progress=lambda p: run.progress.reading(
            p.read_bytes, p.total_bytes or None, p.members
        ),
        cancel=run.cancel,
    )
    ledger, _ = view.ledger(archive.contents)  # parsed by the intake, as it arrived
    carried = ledger.revocations
    trust, trust_report = trust_for(
        archive.contents,
        ledger,
        trusted_root=request.trusted_root,
        state_dir=request.state_dir,
        now=now,
        max_age=request.trust_max_age,
        memory=memory.log_memory(),
    )
    # Every other named root the appliance holds (or the operator's file
    # names); a rule uses exactly the roots it names.
    others = {
        name: material
        for name, material in held.load_all(
            request.state_dir, now=now, trusted_root=request.trusted_root
        ).items()
        if name != trust.name
    }
    _check_rule_roots(policy, {trust.name, *others})
    revocations = in_force(policy, request.state_dir, carried=carried, now=now)
    verdict = verify_archive(
        archive.contents,
        rules=policy.rules,
        trust=trust,
        now=now,
        options=options,
        others=others,
        deny=revocations.deny,
        runner=runner(usable_cpus() if request.jobs is None else request.jobs),
        finish=_finisher(review=policy.review, compact=not request.keep_evidence),
    )
    memory.record_splits(
        [
            error
            for image in verdict.images
            for error in image.errors
            if isinstance(error, SplitViewError)
        ],
        now=now,
    )
    held.remember(
        request.state_dir,
        [
            *(r for image in verdict.images for r in image.results),
            *(r for file in verdict.files for r in file.results),
        ],
        now=now,
    )
    if policy.review:  # images: refused where judged (_finisher)
        verdict = dataclasses.replace(
            verdict,
            files=tuple(
                dataclasses.replace(
                    f,
                    verified=False,
                    reason=Reason.POLICY_UNSATISFIED,
                    message=REVIEW_ONLY,
                )
                for f in verdict.files
            ),
        )
    return Verified(
        request=request,
        archive=archive,
        verdict=verdict,
        trust=trust_report,
        policy=policy,
        now=now,
        revocations=revocations,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOutcome:
    """What ``verify`` decided: the verification, its report (audit head included), its exit code."""

    verified: Verified
    report: dict[str, Any]
    code: ExitCode


def write_report(path: Path | None, report: dict[str, Any]) -> None:
    """The JSON report, atomically, if one was asked for."""
    if path is not None:
        write_output(
            path, lambda out: jsonout.dump(report, lambda t: out.write(t.encode()))
        )


def verify(request: VerifyRequest, run: Run = QUIETLY) -> VerifyOutcome:
    """Verify; record the decision; write the report.

    The output files are checked before the archive is read; the report is
    written inside the audit context, so a report that cannot be written is
    recorded too.

    Raises:
        InputError, VerificationError, DamagedParts: as :func:`judge`
            (recorded in the audit log on the way out).
    """
    for output in (request.report, request.request_out):
        if output is not None:
            check_output(output)
    with Audited("verify", request.state_dir, via=request.via) as audit:
        try:
            verified = judge(request, run)
        except DamagedParts as damaged:
            if request.request_out is not None:
                write_output(request.request_out, damaged.request.to_bytes())
            raise
        code = (
            ExitCode.OK if verified.verdict.verified else ExitCode.VERIFICATION_FAILED
        )
        report = verified.report()
        report["audit"] = audit.record(
            {**verified.audit_record(), "exit_code": int(code)}
        ).to_json()
        write_report(request.report, report)
    return VerifyOutcome(verified=verified, report=report, code=code)
