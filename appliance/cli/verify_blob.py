"""``appliance verify-blob``: verify a Sigstore bundle for a file or a digest.

Flags follow cosign's ``verify-blob`` so that scripts carry over. The command
reads the artifact, the bundle and the trusted root (I/O), then hands values to
the pure core with the clock read once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.cli import env
from appliance.cli.exit_codes import ExitCode
from appliance.core.errors import InputError, VerificationError

if TYPE_CHECKING:
    import argparse

    from appliance.core.bundle import Bundle
    from appliance.core.policy import Policy
    from appliance.core.report import VerificationResult

# cosign's --certificate-github-workflow-* flags and the Fulcio OIDs they check.
GITHUB_FLAGS = {
    "certificate_github_workflow_trigger": "2",
    "certificate_github_workflow_sha": "3",
    "certificate_github_workflow_name": "4",
    "certificate_github_workflow_repository": "5",
    "certificate_github_workflow_ref": "6",
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``verify-blob``."""
    parser = subparsers.add_parser(
        "verify-blob",
        help="verify a Sigstore bundle for a file or digest, offline",
        description=(
            "Verify a Sigstore bundle (v0.1-v0.3; message signature or DSSE) for an artifact, "
            "with no network. ARTIFACT is a file, or sha256:<hex> / sha512:<hex> taken literally "
            "(for DSSE, a statement subject). Exit 0 verified, 1 not verified, 2 usage or input error."
        ),
    )
    parser.add_argument(
        "artifact",
        metavar="ARTIFACT",
        help="file, or sha256:<64 hex> / sha512:<128 hex>",
    )
    inputs = parser.add_argument_group("verification inputs")
    inputs.add_argument(
        "--bundle",
        required=True,
        metavar="FILE",
        type=Path,
        help="the Sigstore bundle (*.sigstore.json)",
    )
    inputs.add_argument(
        "--trusted-root",
        metavar="FILE",
        type=Path,
        help="trusted_root.json to verify against (default: the appliance's current root)",
    )
    inputs.add_argument(
        "--key",
        metavar="PEM",
        type=Path,
        help="PEM public key, for key-signed bundles (instead of an identity)",
    )
    ident = parser.add_argument_group("signer identity (certificate-signed bundles)")
    ident.add_argument(
        "--certificate-identity",
        metavar="IDENTITY",
        help="exact SAN (email or URI) of the signer",
    )
    ident.add_argument(
        "--certificate-identity-regexp",
        metavar="REGEXP",
        help="regular expression the SAN must match",
    )
    ident.add_argument(
        "--certificate-oidc-issuer", metavar="URL", help="exact OIDC issuer"
    )
    ident.add_argument(
        "--certificate-oidc-issuer-regexp",
        metavar="REGEXP",
        help="regular expression the issuer must match",
    )
    for flag in GITHUB_FLAGS:
        ident.add_argument(
            "--" + flag.replace("_", "-"),
            metavar="VALUE",
            help=f"exact {flag.rsplit('_', 1)[-1]} claim of the GitHub workflow",
        )
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="result format on stdout (default: text)",
    )
    parser.set_defaults(handler=run)


def _policy(args: argparse.Namespace) -> Policy:
    from appliance.core import keys  # noqa: PLC0415 - see run()
    from appliance.core.policy import IdentityPolicy, KeyPolicy, compile_regexp  # noqa: PLC0415

    identity_flags = [
        args.certificate_identity,
        args.certificate_identity_regexp,
        args.certificate_oidc_issuer,
        args.certificate_oidc_issuer_regexp,
    ]
    if args.key is not None:
        if any(flag is not None for flag in identity_flags):
            raise InputError(
                "give either --key or the certificate identity flags, not both"
            )
        try:
            pem = args.key.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read key: {exc.strerror}", where=str(args.key)
            ) from exc
        return KeyPolicy(key=keys.load_pem(pem, where=str(args.key)))
    if args.certificate_identity is None and args.certificate_identity_regexp is None:
        raise InputError(
            "name the signer: --certificate-identity or --certificate-identity-regexp (or --key)"
        )
    return IdentityPolicy(
        identity=args.certificate_identity,
        identity_regexp=None
        if args.certificate_identity_regexp is None
        else compile_regexp(
            args.certificate_identity_regexp, flag="--certificate-identity-regexp"
        ),
        issuer=args.certificate_oidc_issuer,
        issuer_regexp=None
        if args.certificate_oidc_issuer_regexp is None
        else compile_regexp(
            args.certificate_oidc_issuer_regexp, flag="--certificate-oidc-issuer-regexp"
        ),
        extensions={
            oid: getattr(args, flag)
            for flag, oid in GITHUB_FLAGS.items()
            if getattr(args, flag) is not None
        },
    )


def _read_bundle(path: Path) -> Bundle:
    from appliance.core.bundle import Bundle  # noqa: PLC0415 - see run()

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read bundle: {exc.strerror}", where=str(path)
        ) from exc
    try:
        return Bundle.from_bytes(data)
    except InputError as exc:
        raise InputError(exc.diagnostics(), where=str(path)) from exc


def _digests_needed(bundle: Bundle) -> tuple[str, ...]:
    """The digests of a file artifact this bundle can be checked against."""
    from appliance.core.bundle import MessageSignature  # noqa: PLC0415 - see run()

    if isinstance(bundle.content, MessageSignature):
        return (bundle.content.digest_algorithm or "sha256",)
    return ("sha256", "sha512")  # in-toto subjects: sha256, or sha512 for npm


def _print_text(result: VerificationResult, label: str) -> None:
    lines = [
        f"Verified OK: {label}",
        f"  signer:       {result.signer}"
        + (f" (issuer {result.issuer})" if result.issuer else ""),
        f"  signed at:    {result.signing_time:%Y-%m-%dT%H:%M:%SZ} ({result.time_source})"
        if result.signing_time
        else "  signed at:    (no verified time; key-signed)",
        f"  log entry:    {result.log_index} on {result.log_url}"
        if result.log_url
        else "  log entry:    none (key-signed offline; trusted on the given key alone)",
        f"  bundle:       v{result.bundle_version} {result.content}"
        + (f", predicate {result.predicate_type}" if result.predicate_type else ""),
        f"  trusted root: {result.trust_source}",
    ]
    print("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    """Verify and print the result; raise on anything not verified."""
    # The verifier (and cryptography's X.509 stack) is imported here, not at
    # module level, so that `--help` and `--version` start in a few ms.
    from appliance.cli.artifact_input import read_artifact  # noqa: PLC0415
    from appliance.core.verifier import verify_bundle  # noqa: PLC0415
    from appliance.trust import roots  # noqa: PLC0415

    now = datetime.now(UTC)  # the clock is read once, here, and passed down
    policy = _policy(args)
    bundle = _read_bundle(args.bundle)
    artifact, label = read_artifact(args.artifact, algorithms=_digests_needed(bundle))
    trust = roots.load_current(
        trusted_root=args.trusted_root, state_dir=env.state_dir(), now=now
    )
    try:
        result = verify_bundle(
            bundle, artifact=artifact, trust=trust, policy=policy, now=now
        )
    except VerificationError as exc:
        if args.output == "json":
            print(
                json.dumps(
                    {
                        "verified": False,
                        "reason": exc.reason.value,
                        "error": exc.diagnostics(),
                        "artifact": label,
                    }
                )
            )
        raise
    if args.output == "json":
        print(json.dumps({**result.to_json(), "artifact": label}, indent=2))
    else:
        _print_text(result, label)
    return ExitCode.OK
