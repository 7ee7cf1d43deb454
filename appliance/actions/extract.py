"""Extract: verify in this process, then write only what passed as a new OCI image layout.

The same verification and verified view as ``load`` (:mod:`.load`), written
to a directory instead of a registry: built in a temporary directory beside
the target (a killed run's temporaries are swept first), every blob
re-hashed from a second pass over the archive, renamed into place only when
whole. A delta is refused: a layout of it would not be whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airlock_io.archive import read_archive
from airlock_io.atomic import check_output
from airlock_io.exit_codes import ExitCode
from appliance.actions.audited import Audited
from appliance.actions.interface import QUIETLY, Run
from appliance.actions.verify import judge, write_report
from appliance.core import trust_artifact
from appliance.core.archive.plan import Plan, Target, plan_push
from appliance.core.errors import InputError, Reason
from appliance.load.extract import LayoutWriter, check_target
from appliance.trust import roots

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.actions.verify import Verified, VerifyRequest
    from appliance.core.image_signing import ArtifactImage

# What a layout's push plan is planned against: no registry is named.
_NO_REGISTRY = Target(host="layout.invalid")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractRequest:
    """An extract, fully described."""

    verify: VerifyRequest
    to: Path  # the new layout directory (must not exist)


@dataclass(frozen=True, slots=True, kw_only=True)
class Extracted:
    """What an extract wrote, and the report."""

    verified: Verified
    plan: Plan
    blobs: int | None  # files written; None: nothing (no image passed)
    report: dict[str, Any]
    code: ExitCode


def _same_archive(verified: Verified, second_sha256: str | None) -> None:
    """The second pass read the same file the first one verified."""
    if verified.archive.sha256 is not None and second_sha256 != verified.archive.sha256:
        msg = "the archive changed between verification and the second pass; nothing was written"
        raise InputError(msg, where=str(verified.path), reason=Reason.DIGEST_MISMATCH)


def _trust(verified: Verified) -> tuple[str, ArtifactImage]:
    """The trusted roots the appliance holds, as the artifact ``load`` pushes (docs/handoff.md §2)."""
    held = roots.held_roots(verified.request.state_dir, now=verified.now)
    image = trust_artifact.trusted_roots([(r.target_name, r.data) for r in held])
    return f"{trust_artifact.REPOSITORY}:{trust_artifact.TRUSTED_ROOTS_TAG}", image


def extract(request: ExtractRequest, run: Run = QUIETLY) -> Extracted:
    """Verify, then write the verified images as a new layout; record; report.

    Raises:
        InputError: the target exists or cannot be written; a delta; a full disk.
        VerificationError: a blob changed between the two passes.
    """
    if request.verify.report is not None:
        check_output(request.verify.report)
    check_target(request.to)
    with Audited(
        "extract", request.verify.state_dir, via=request.verify.via, to=str(request.to)
    ) as audit:
        verified = judge(request.verify, run)
        view = verified.view
        plan = plan_push(view, _NO_REGISTRY)
        written = None
        if plan.held:
            msg = (
                f"is a delta: it leaves out {len(plan.held)} layer(s) the gap's registry holds, "
                "so a layout of it would not be whole; load it into that registry instead"
            )
            raise InputError(msg, where=str(verified.path), reason=Reason.USAGE)
        if plan.images:
            writer = LayoutWriter(request.to, plan, view, trust=_trust(verified))
            try:
                second = read_archive(verified.path, tap=writer.tap, cancel=run.cancel)
                _same_archive(verified, second.sha256)
                written = writer.finish()
            except BaseException:
                writer.discard()
                raise
        code = (
            ExitCode.OK
            if verified.verdict.verified and written is not None
            else ExitCode.VERIFICATION_FAILED
        )
        extracted = {
            "to": str(request.to),
            "images": [i.reference for i in plan.images],
            "refused": list(plan.refused),
            "blobs": written,
        }
        report = {**verified.report(), "extract": extracted}
        report["audit"] = audit.record(
            {**verified.audit_record(), "extracted": extracted, "exit_code": int(code)}
        ).to_json()
        write_report(request.verify.report, report)
    return Extracted(
        verified=verified, plan=plan, blobs=written, report=report, code=code
    )
