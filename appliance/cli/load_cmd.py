"""``appliance load`` and ``appliance extract``: only verified images leave the archive.

Both verify first, in this process, with the same code and flags as
``appliance verify`` (:func:`appliance.cli.verify_cmd.judge`); never by
trusting an earlier report. Then only the images that passed, with every
artifact about them, are pushed to the registry the operator named (the
appliance's one network action, admitted by the seal for that host and port
and for this command only) or written as an OCI layout. A second pass over
the archive re-hashes every blob as it goes out.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import untrusted
from appliance.cli import env
from appliance.cli.registry_flags import add_registry_flags
from appliance.cli.registry_flags import login as registry_login
from appliance.cli.verify_cmd import add_policy_flags, add_report_flags
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import argparse

    from appliance.cli.verify_cmd import Judged
    from appliance.core.archive.plan import Plan, Target
    from appliance.signer.interface import Signer


def add_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``load`` and ``extract``."""
    load = subparsers.add_parser(
        "load",
        help="verify an archive, then push only the images that passed to the in-gap registry",
        description=(
            "Verify ARCHIVE exactly as `appliance verify` does, then push every image that passed, "
            "with its signatures, attestations, SBOMs and referrers, byte for byte, to the registry "
            "named by --to (under PREFIX when given): blobs first (only those the registry lacks), "
            "then manifests, children before their index and subjects before their referrers. "
            "Nothing of a refused image is pushed. Exit 0 only if every selected image was verified "
            "and pushed."
        ),
    )
    load.add_argument("archive", metavar="ARCHIVE", type=Path)
    load.add_argument(
        "--to",
        required=True,
        metavar="REGISTRY[/PREFIX]",
        help="the in-gap registry, e.g. registry.gap:5000/mirror",
    )
    add_registry_flags(load)
    load.add_argument(
        "--countersign-key",
        metavar="KEY",
        help="countersign each image that passed, once pushed: a .sig and a SLSA VSA .att by this key "
        "(pkcs11: URI, cosign key file or PEM)",
    )
    load.add_argument(
        "--module-path",
        metavar="LIB",
        help="the PKCS#11 module (else $COSIGN_PKCS11_MODULE_PATH)",
    )
    load.add_argument(
        "--dry-run",
        action="store_true",
        help="verify and print the push plan; touch no network",
    )
    add_policy_flags(load)
    add_report_flags(load)
    load.set_defaults(handler=run_load)

    extract = subparsers.add_parser(
        "extract",
        help="verify an archive, then write only the images that passed as an OCI image layout",
        description=(
            "Verify ARCHIVE exactly as `appliance verify` does, then write a new OCI image layout at "
            "--to holding only the images that passed and every artifact about them (for skopeo, "
            "oras, umoci, podman load); written in a temporary directory and renamed into place."
        ),
    )
    extract.add_argument("archive", metavar="ARCHIVE", type=Path)
    extract.add_argument(
        "--to",
        required=True,
        metavar="DIR",
        type=Path,
        help="the layout to create (must not exist)",
    )
    add_policy_flags(extract)
    add_report_flags(extract)
    extract.set_defaults(handler=run_extract)


def _progress(total: int, what: str) -> tuple[Any, Any]:
    """A byte counter for the push and its context (a bar on a terminal)."""
    from appliance.cli.progress import byte_bar  # noqa: PLC0415

    update, context = byte_bar(what, total)
    if update is None or not total:
        return None, context
    return (lambda n: update(None, n)), context


def _same_archive(first: Judged, second_sha256: str | None) -> None:
    """The second pass read the same file the first one verified."""
    if first.archive.sha256 is not None and second_sha256 != first.archive.sha256:
        msg = (
            "the archive changed between verification and push; nothing more was pushed"
        )
        raise InputError(msg, where=str(first.path), reason=Reason.DIGEST_MISMATCH)


def _write_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """``--report``, written inside the audit context (a failure is recorded too)."""
    from airlock_io.atomic import write_output  # noqa: PLC0415

    if args.report is not None:
        write_output(args.report, json.dumps(report, indent=2).encode() + b"\n")


def _finish(
    args: argparse.Namespace, judged: Judged, report: dict[str, Any], code: int
) -> int:
    if args.output == "json":
        print(json.dumps(report, indent=2))
    judged.render()
    return code


def run_load(args: argparse.Namespace) -> int:
    """Verify, plan, push; record; report."""
    from airlock_io.atomic import check_output  # noqa: PLC0415
    from appliance.actions.audited import Audited  # noqa: PLC0415
    from appliance.cli.verify_cmd import judge  # noqa: PLC0415
    from appliance.core.archive.plan import Target, plan_push  # noqa: PLC0415

    target = Target.parse(args.to)
    if args.report is not None:
        check_output(args.report)
    login = None if args.dry_run else registry_login(args)
    with (
        Audited(
            "load",
            env.state_dir(),
            to=args.to,
            dry_run=args.dry_run,
            countersign_key=_key_name(args),
        ) as audit,
        contextlib.ExitStack() as keep,
    ):
        # The HSM session (and its PIN) before anything is read or pushed.
        signer = (
            None
            if args.countersign_key is None or args.dry_run
            else keep.enter_context(_signer(args))
        )
        judged = judge(args)
        plan = plan_push(judged.view, target)
        pushed = None
        if plan.images and not args.dry_run:
            pushed = _push(
                args, judged, plan=plan, target=target, login=login, signer=signer
            )
        verified = judged.verdict.verified
        code = (
            ExitCode.OK
            if verified and (pushed is not None or args.dry_run)
            else ExitCode.VERIFICATION_FAILED
        )
        load = {
            "to": args.to,
            "dry_run": args.dry_run,
            "plan": plan.to_json(),
            "pushed": pushed,
        }
        report = {**judged.report(), "load": load}
        report["audit"] = audit.record(
            {
                **judged.audit_record(),
                "pushed": pushed and {"to": args.to, **pushed},
                "exit_code": int(code),
            }
        ).to_json()
        _write_report(args, report)
    _say_load(args, plan, pushed)
    return _finish(args, judged, report, code)


def _key_name(args: argparse.Namespace) -> str | None:
    from appliance.core.errors import redact  # noqa: PLC0415

    return None if args.countersign_key is None else redact(args.countersign_key)


def _signer(args: argparse.Namespace) -> contextlib.AbstractContextManager[Signer]:
    from appliance.cli.sign_cmd import open_signer  # noqa: PLC0415

    return open_signer(args.countersign_key, args.module_path)


def _policy_digest(args: argparse.Namespace) -> str:
    """The SHA-256 a VSA names the policy by: the file's bytes, or the flags'."""
    import hashlib  # noqa: PLC0415

    from airlock_io import inputs  # noqa: PLC0415

    if args.policy is not None:
        return hashlib.sha256(
            inputs.read_file(
                args.policy, what="policy", max_bytes=inputs.MAX_POLICY_BYTES
            )
        ).hexdigest()
    flags = {
        "certificate_identity": args.certificate_identity,
        "certificate_identity_regexp": args.certificate_identity_regexp,
        "certificate_oidc_issuer": args.certificate_oidc_issuer,
        "certificate_oidc_issuer_regexp": args.certificate_oidc_issuer_regexp,
        "keys": [
            hashlib.sha256(
                inputs.read_file(k, what="key", max_bytes=inputs.MAX_KEY_BYTES)
            ).hexdigest()
            for k in args.keys
        ],
        "require_attestation": sorted(args.require_attestation),
        "annotations": sorted(args.annotations),
        "insecure_ignore_tlog": args.insecure_ignore_tlog,
    }
    return hashlib.sha256(json.dumps(flags, sort_keys=True).encode()).hexdigest()


def _push(  # noqa: PLR0913 - every part of the push named
    args: argparse.Namespace,
    judged: Judged,
    *,
    plan: Plan,
    target: Target,
    login: tuple[str, str] | None,
    signer: Signer | None,
) -> dict[str, Any]:
    from appliance.audit import attach  # noqa: PLC0415
    from appliance.held import Held  # noqa: PLC0415
    from appliance.load.push import push_archive  # noqa: PLC0415 - the registry client only for a push

    countersigned: list[dict[str, object]] = []
    countersign = None
    if signer is not None:
        from appliance import __version__  # noqa: PLC0415
        from appliance.load.sign import Countersign, countersign_loaded  # noqa: PLC0415

        facts = Countersign(
            registry=target.host,
            version=__version__,
            policy_uri=judged.policy,
            policy_sha256=_policy_digest(args),
        )

        def countersign(client: Any, pushed: Any) -> None:  # noqa: ANN401 - RegistryClient, Pushed: the registry's types stay in appliance.load
            del pushed
            countersigned.extend(
                w.to_json()
                for w in countersign_loaded(
                    client,
                    signer,
                    plan=plan,
                    verdict=judged.verdict,
                    facts=facts,
                    now=judged.now,
                )
            )

    pushed = push_archive(
        args.archive,
        plan,
        target,
        plain_http=args.allow_http_registry,
        login=login,
        verified_sha256=judged.archive.sha256,
        progress=lambda total: _progress(total, f"pushing to {target.host}"),
        countersign=countersign,
    )
    # What the gap now holds, for the next `appliance inventory` (deltas).
    try:
        Held(env.state_dir()).record_load(
            target.host,
            [
                (b.descriptor.digest, b.descriptor.size)
                for b in (*plan.blobs, *plan.held)
            ],
            [m.digest for m in plan.manifests],
        )
    except BaseException as exc:
        # The push is done: the audit line for this failure says so.
        attach(exc, pushed={"to": args.to, "complete": True, **pushed.to_json()})
        raise
    return {
        **pushed.to_json(),
        "countersigned": countersigned if signer is not None else None,
    }


def _say_load(
    args: argparse.Namespace, plan: Plan, pushed: dict[str, Any] | None
) -> None:
    if args.output == "json":
        return
    if args.dry_run:
        print(
            f"dry run: would push {len(plan.images)} image(s), {len(plan.manifests)} manifest(s), {len(plan.blobs)} blob(s) ({plan.blob_bytes:,} bytes) to {args.to}",
            file=sys.stderr,
        )
        for item in plan.manifests:
            name = untrusted(item.repository, markup=False)
            at = untrusted(item.reference, markup=False)
            print(
                f"  {name}:{at}" if ":" not in item.reference else f"  {name}@{at}",
                file=sys.stderr,
            )
    elif pushed is not None:
        print(
            f"pushed {len(pushed['images'])} image(s) to {args.to}: {pushed['blobs_sent']} blob(s) sent "
            f"({pushed['bytes_sent']:,} bytes), {pushed['blobs_already_held']} already held, "
            f"{pushed['blobs_mounted']} mounted, {pushed['manifests']} manifest(s)",
            file=sys.stderr,
        )
    for ref in plan.refused:
        print(f"not pushed (refused): {untrusted(ref, markup=False)}", file=sys.stderr)
    if plan.left_behind:
        print(
            f"left behind: {len(plan.left_behind)} artifact(s) no verified signature ties to a "
            "pushed image (the report's load.plan.left_behind says why)",
            file=sys.stderr,
        )


def run_extract(args: argparse.Namespace) -> int:
    """Verify, then write the verified images as a new OCI layout."""
    from airlock_io.archive import read_archive  # noqa: PLC0415
    from airlock_io.atomic import check_output  # noqa: PLC0415
    from appliance.actions.audited import Audited  # noqa: PLC0415
    from appliance.cli.verify_cmd import judge  # noqa: PLC0415
    from appliance.core.archive.plan import Target, plan_push  # noqa: PLC0415
    from appliance.load.extract import LayoutWriter, check_target  # noqa: PLC0415

    if args.report is not None:
        check_output(args.report)
    check_target(args.to)
    with Audited("extract", env.state_dir(), to=str(args.to)) as audit:
        judged = judge(args)
        view = judged.view
        plan = plan_push(view, Target(host="layout.invalid"))
        written = None
        if plan.held:
            msg = (
                f"is a delta: it leaves out {len(plan.held)} layer(s) the gap's registry holds, "
                "so a layout of it would not be whole; load it into that registry instead"
            )
            raise InputError(msg, where=str(args.archive), reason=Reason.USAGE)
        if plan.images:
            writer = LayoutWriter(args.to, plan, view)
            try:
                second = read_archive(args.archive, tap=writer.tap)
                _same_archive(judged, second.sha256)
                written = writer.finish()
            except BaseException:
                writer.discard()
                raise
        code = (
            ExitCode.OK
            if judged.verdict.verified and written is not None
            else ExitCode.VERIFICATION_FAILED
        )
        extracted = {
            "to": str(args.to),
            "images": [i.reference for i in plan.images],
            "refused": list(plan.refused),
            "blobs": written,
        }
        report = {**judged.report(), "extract": extracted}
        report["audit"] = audit.record(
            {**judged.audit_record(), "extracted": extracted, "exit_code": int(code)}
        ).to_json()
        _write_report(args, report)
    if args.output != "json":
        print(
            f"wrote {len(plan.images)} verified image(s) to {args.to}"
            if written is not None
            else f"nothing written to {args.to}: no image passed",
            file=sys.stderr,
        )
    return _finish(args, judged, report, code)
