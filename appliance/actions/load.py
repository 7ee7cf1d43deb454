"""Load: verify in this process, then push only what passed into the in-gap registry.

The appliance's one network action. :func:`load` is the CLI's whole verb:
the countersigning key opened first (a wrong PIN stops everything before the
archive is read), the verification (:func:`~appliance.actions.verify.judge`,
never an earlier report), the push plan from the verified view alone, the
push inside the seal's permit for the target, the countersignatures by the
same client, the record of what the gap now holds (for ``appliance
inventory`` and the next delta), the audit line and the report.

The TUI verifies first, shows the plan, and pushes after a confirmation:
:func:`plan_load` and :func:`push_verified` are the same steps, and
:func:`countersign` the later countersignature, each with its own audit line.
Both faces therefore record the same facts: what reached the registry, what
the gap now holds, and the policy's SHA-256 in every verification summary.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airlock_io.atomic import check_output
from airlock_io.exit_codes import ExitCode
from appliance import __version__
from appliance.actions.audited import Audited
from appliance.actions.interface import QUIETLY, Run
from appliance.actions.registry import RegistryAccess, SignerChoice
from appliance.actions.verify import VerifyRequest, judge, write_report
from appliance.audit import attach
from appliance.core.archive.plan import Plan, Target, plan_push
from appliance.core.errors import redact
from appliance.held import Held
from appliance.load.connect import registry
from appliance.load.push import Pushed, push_archive
from appliance.load.sign import Countersign, countersign_loaded
from appliance.load.trust import push_trusted_roots, push_tuf_repository
from appliance.signer.opener import open_signer
from appliance.trust import publish
from appliance.trust.held import held_roots

if TYPE_CHECKING:
    from airlock_registry.client import RegistryClient
    from appliance.actions.verify import Verified
    from appliance.load.sign import Written
    from appliance.signer.interface import Signer


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadRequest:
    """A load, fully described."""

    verify: VerifyRequest
    to: str  # REGISTRY[/PREFIX]
    access: RegistryAccess = field(default_factory=RegistryAccess)
    countersign: SignerChoice | None = None
    dry_run: bool = False  # verify and plan; no network


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    """What a load did: the verification, the plan, what was pushed, the report."""

    verified: Verified
    target: Target
    plan: Plan
    pushed: dict[str, Any] | None  # None: nothing pushed (a dry run, nothing passed)
    report: dict[str, Any]
    code: ExitCode


def plan_load(verified: Verified, to: str) -> tuple[Target, Plan]:
    """Where ``to`` names, and what would go there: from the verified view alone.

    Raises:
        InputError: ``to`` is not ``REGISTRY[/PREFIX]`` in the distribution grammar.
    """
    target = Target.parse(to)
    return target, plan_push(verified.view, target)


def _facts(verified: Verified, target: Target) -> Countersign:
    """What every verification summary the appliance writes says of itself and its policy."""
    return Countersign(
        registry=target.host,
        version=__version__,
        policy_uri=verified.policy.name,
        policy_sha256=verified.policy.sha256,
    )


def _push(  # noqa: PLR0913 - every part of the push named
    verified: Verified,
    plan: Plan,
    target: Target,
    access: RegistryAccess,
    *,
    signer: Signer | None,
    run: Run,
) -> dict[str, Any]:
    """Push ``plan`` and the verified trusted roots (and countersign with ``signer``); record."""
    countersigned: list[dict[str, object]] = []
    trust: dict[str, Any] = {}
    facts = _facts(verified, target)
    # Read (and checked) before anything is pushed: damaged trust stops the load first.
    held = [
        (r.target_name, r.data)
        for r in held_roots(verified.request.state_dir, now=verified.now)
    ]
    published = publish.remembered(verified.request.state_dir)
    repository = None if published is None else publish.repository_files(published)

    def hook(client: RegistryClient, pushed: Pushed) -> None:
        del pushed
        # The trust in the gap's registry too (docs/handoff.md §2), with the same client.
        trust.update(push_trusted_roots(client, prefix=target.prefix, roots=held))
        if repository is not None:  # and the gap-local TUF repository, once published
            trust["tuf_repository"] = push_tuf_repository(
                client, prefix=target.prefix, files=repository
            )
        if signer is None:
            return
        countersigned.extend(
            w.to_json()
            for w in countersign_loaded(
                client,
                signer,
                plan=plan,
                verdict=verified.verdict,
                facts=facts,
                now=verified.now,
            )
        )

    pushed = push_archive(
        verified.path,
        plan,
        target,
        access=access,
        verified_sha256=verified.archive.sha256,
        on_bytes=run.progress.pushing,
        countersign=hook,
    )
    # What the gap now holds, for the next `appliance inventory` (deltas).
    try:
        Held(verified.request.state_dir).record_load(
            target.host,
            [
                (b.descriptor.digest, b.descriptor.size)
                for b in (*plan.blobs, *plan.held)
            ],
            [m.digest for m in plan.manifests],
        )
    except BaseException as exc:
        # The push is done: the audit line for this failure says so.
        attach(exc, pushed={"to": target.host, "complete": True, **pushed.to_json()})
        raise
    return {
        **pushed.to_json(),
        "trust": trust,
        "countersigned": countersigned if signer is not None else None,
    }


def _report(
    verified: Verified,
    plan: Plan,
    pushed: dict[str, Any] | None,
    *,
    to: str,
    dry_run: bool,
) -> tuple[dict[str, Any], ExitCode]:
    code = (
        ExitCode.OK
        if verified.verdict.verified and (pushed is not None or dry_run)
        else ExitCode.VERIFICATION_FAILED
    )
    report = {
        **verified.report(),
        "load": {
            "to": to,
            "dry_run": dry_run,
            "plan": plan.to_json(),
            "pushed": pushed,
        },
    }
    return report, code


def load(request: LoadRequest, run: Run = QUIETLY) -> Loaded:
    """Verify, plan, push (and countersign); record; report.

    Raises:
        InputError: a bad target, key or flags (before anything is read); a
            registry that fails (a re-run resumes).
        SignerError: the countersigning key, token or PIN.
        VerificationError: the archive changed between the two passes.
    """
    target = Target.parse(request.to)
    if request.verify.report is not None:
        check_output(request.verify.report)
    with (
        Audited(
            "load",
            request.verify.state_dir,
            via=request.verify.via,
            to=request.to,
            dry_run=request.dry_run,
            countersign_key=None
            if request.countersign is None
            else redact(request.countersign.key),
        ) as audit,
        contextlib.ExitStack() as keep,
    ):
        # The HSM session (and its PIN) before anything is read or pushed.
        signer = (
            None
            if request.countersign is None or request.dry_run
            else keep.enter_context(_open(request.countersign))
        )
        verified = judge(request.verify, run)
        plan = plan_push(verified.view, target)
        pushed = None
        if (plan.images or plan.files) and not request.dry_run:
            pushed = _push(
                verified, plan, target, request.access, signer=signer, run=run
            )
        report, code = _report(
            verified, plan, pushed, to=request.to, dry_run=request.dry_run
        )
        report["audit"] = audit.record(
            {
                **verified.audit_record(),
                "pushed": pushed and {"to": request.to, **pushed},
                "exit_code": int(code),
            }
        ).to_json()
        write_report(request.verify.report, report)
    return Loaded(
        verified=verified,
        target=target,
        plan=plan,
        pushed=pushed,
        report=report,
        code=code,
    )


def _open(choice: SignerChoice) -> contextlib.AbstractContextManager[Signer]:
    return open_signer(
        choice.key, module_override=choice.module_path, secrets_handler=choice.secrets
    )


def push_verified(
    verified: Verified,
    to: str,
    access: RegistryAccess,
    run: Run = QUIETLY,
) -> Loaded:
    """Push what ``verified`` passed to ``to`` (the TUI, after its confirmation); record it.

    The same push, record of what the gap holds and audit line as
    :func:`load`, for a verification already made in this process.

    Raises:
        InputError: a bad target, or a registry that fails (a re-run resumes).
        VerificationError: the archive changed since it was verified.
    """
    with Audited(
        "load", verified.request.state_dir, via=verified.request.via, to=to
    ) as audit:
        target, plan = plan_load(verified, to)
        pushed = (
            _push(verified, plan, target, access, signer=None, run=run)
            if plan.images or plan.files
            else None
        )
        report, code = _report(verified, plan, pushed, to=to, dry_run=False)
        report["audit"] = audit.record(
            {
                **verified.audit_record(),
                "pushed": pushed and {"to": to, **pushed},
                "exit_code": int(code),
            }
        ).to_json()
    return Loaded(
        verified=verified,
        target=target,
        plan=plan,
        pushed=pushed,
        report=report,
        code=code,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Countersigned:
    """The signatures and verification summaries written for a load."""

    written: tuple[Written, ...]
    audit: dict[str, Any]


def countersign(
    loaded: Loaded,
    signer: SignerChoice,
    access: RegistryAccess,
) -> Countersigned:
    """Countersign what ``loaded`` pushed (the TUI's ``k``, after a load).

    Raises:
        SignerError: the key, token or PIN.
        InputError: the registry failed.
    """
    verified = loaded.verified
    with (
        Audited(
            "countersign",
            verified.request.state_dir,
            via=verified.request.via,
            key=redact(signer.key),
        ) as audit,
        _open(signer) as opened,
        registry(loaded.target, access=access) as client,
    ):
        written = countersign_loaded(
            client,
            opened,
            plan=loaded.plan,
            verdict=verified.verdict,
            facts=_facts(verified, loaded.target),
            now=verified.now,
        )
        head = audit.record({"written": [w.to_json() for w in written], "exit_code": 0})
    return Countersigned(written=tuple(written), audit=head.to_json())
