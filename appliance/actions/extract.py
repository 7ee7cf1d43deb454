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
from appliance.load.files import FilesWriter
from appliance.trust.held import held_roots

if TYPE_CHECKING:
    from pathlib import Path

    from airlock_io.archive import Sink
    from appliance.actions.verify import Verified, VerifyRequest
    from appliance.core.image_signing import ArtifactImage

# What a layout's push plan is planned against: no registry is named.
_NO_REGISTRY = Target(host="layout.invalid")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractRequest:
    """An extract, fully described."""

    verify: VerifyRequest
    to: Path | None  # the new layout directory (must not exist); None: files only
    files: Path | None = None  # --files: a new directory for the verified files


@dataclass(frozen=True, slots=True, kw_only=True)
class Extracted:
    """What an extract wrote, and the report."""

    verified: Verified
    plan: Plan
    blobs: int | None  # files written; None: nothing (no image passed)
    report: dict[str, Any]
    code: ExitCode
    files: list[str] | None = None  # --files: the names written; None: nothing


def _same_archive(verified: Verified, second_sha256: str | None) -> None:
    """The second pass read the same file the first one verified."""
    if verified.archive.sha256 is not None and second_sha256 != verified.archive.sha256:
        msg = "the archive changed between verification and the second pass; nothing was written"
        raise InputError(msg, where=str(verified.path), reason=Reason.DIGEST_MISMATCH)


def _trust(verified: Verified) -> tuple[str, ArtifactImage]:
    """The trusted roots the appliance holds, as the artifact ``load`` pushes (docs/handoff.md §2)."""
    held = held_roots(verified.request.state_dir, now=verified.now)
    image = trust_artifact.trusted_roots([(r.target_name, r.data) for r in held])
    return f"{trust_artifact.REPOSITORY}:{trust_artifact.TRUSTED_ROOTS_TAG}", image


def extract(request: ExtractRequest, run: Run = QUIETLY) -> Extracted:  # noqa: C901 - one pipeline, each step named
    """Verify, then write the verified images as a new layout; record; report.

    Raises:
        InputError: the target exists or cannot be written; a delta; a full disk.
        VerificationError: a blob changed between the two passes.
    """
    if request.verify.report is not None:
        check_output(request.verify.report)
    if request.to is None and request.files is None:
        msg = "name where to write: --to DIR (images), --files DIR (files), or both"
        raise InputError(msg, reason=Reason.USAGE)
    for target in (request.to, request.files):
        if target is not None:
            check_target(target)
    with Audited(
        "extract", request.verify.state_dir, via=request.verify.via, to=str(request.to)
    ) as audit:
        verified = judge(request.verify, run)
        view = verified.view
        plan = plan_push(view, _NO_REGISTRY)
        written, files = None, None
        if plan.held and request.to is not None:
            msg = (
                f"is a delta: it leaves out {len(plan.held)} layer(s) the gap's registry holds, "
                "so a layout of it would not be whole; load it into that registry instead"
            )
            raise InputError(msg, where=str(verified.path), reason=Reason.USAGE)
        writer = (
            LayoutWriter(request.to, plan, view, trust=_trust(verified))
            if request.to is not None and plan.images
            else None
        )
        passed = {f.blob: f.name for f in verified.verdict.files if f.verified}
        file_writer = (
            FilesWriter(request.files, passed)
            if request.files is not None and passed
            else None
        )

        def tap(digest: str, size: int) -> Sink | None:
            sink = writer.tap(digest, size) if writer is not None else None
            if sink is None and file_writer is not None:
                return file_writer.tap(digest, size)
            return sink

        if writer is not None or file_writer is not None:
            try:
                second = read_archive(
                    verified.path, tap=tap, cancel=run.cancel, documents=False
                )
                _same_archive(verified, second.sha256)
                written = writer.finish() if writer is not None else None
                files = file_writer.finish() if file_writer is not None else None
            except BaseException:
                for each in (writer, file_writer):
                    if each is not None:
                        each.discard()
                raise
        code = (
            ExitCode.OK
            if verified.verdict.verified
            and (request.to is None or written is not None)
            and (request.files is None or files is not None)
            else ExitCode.VERIFICATION_FAILED
        )
        extracted = {
            "to": None if request.to is None else str(request.to),
            "images": [i.reference for i in plan.images],
            "refused": list(plan.refused),
            "blobs": written,
            "files_to": None if request.files is None else str(request.files),
            "files": files,
        }
        report = {**verified.report(), "extract": extracted}
        report["audit"] = audit.record(
            {**verified.audit_record(), "extracted": extracted, "exit_code": int(code)}
        ).to_json()
        write_report(request.verify.report, report)
    return Extracted(
        verified=verified,
        plan=plan,
        blobs=written,
        report=report,
        code=code,
        files=files,
    )
