"""``appliance verify-blob``: verify a Sigstore bundle for a file or a digest.

Flags follow cosign's ``verify-blob`` so that scripts carry over. The command
reads the clock once (refusing one behind the clock floor), the artifact, the
bundle and the trusted root (I/O), hands values to the pure core, and then
lets the appliance remember what it verified: signing times raise the clock
floor, checkpoints join the log memory.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.cli import env
from appliance.cli.identity_flags import add_identity_flags, policy_from_flags
from appliance.cli.verify_flags import warn_insecure

if TYPE_CHECKING:
    import argparse

    from appliance.core.bundle import Bundle
    from appliance.core.report import VerificationResult


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``verify-blob``."""
    parser.description = (
        "Verify a Sigstore bundle (v0.1-v0.3; message signature or DSSE) for an artifact, "
        "with no network. ARTIFACT is a file, or sha256:<hex> / sha512:<hex> taken literally "
        "(for DSSE, a statement subject). Exit 0 verified, 1 not verified, 2 usage or input error."
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
        help="trusted_root.json, or `gh attestation trusted-root` JSON lines (each line a root), to verify against (default: the appliance's current root)",
    )
    add_identity_flags(parser, key_flag=True)
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="result format on stdout (default: text)",
    )
    parser.set_defaults(handler=run)


def _read_bundle(path: Path) -> Bundle:
    from airlock_io import inputs  # noqa: PLC0415 - see run()
    from appliance.core.bundle import Bundle  # noqa: PLC0415
    from appliance.core.errors import InputError  # noqa: PLC0415

    data = inputs.read_file(path, what="bundle", max_bytes=inputs.MAX_BUNDLE_BYTES)
    try:
        return Bundle.from_bytes(data)
    except InputError as exc:
        raise InputError(exc.diagnostics(), where=str(path), reason=exc.reason) from exc


def _digests_needed(bundle: Bundle) -> tuple[str, ...]:
    """The digests of a file artifact this bundle can be checked against."""
    from appliance.core.bundle import MessageSignature  # noqa: PLC0415 - see run()

    if isinstance(bundle.content, MessageSignature):
        return (bundle.content.digest_algorithm or "sha256",)
    return ("sha256", "sha512")  # in-toto subjects: sha256, or sha512 for npm


def _print_text(result: VerificationResult, label: str) -> None:
    stale = (
        f" (stale since {result.trust_stale_since:%Y-%m-%dT%H:%M:%SZ})"
        if result.trust_stale_since
        else ""
    )
    lines = [
        f"Verified OK: {label}",
        f"  signer:       {result.signer}"
        + (f" (issuer {result.issuer})" if result.issuer else ""),
        f"  signed at:    {result.signing_time:%Y-%m-%dT%H:%M:%SZ} ({result.time_source})"
        if result.signing_time
        else "  signed at:    (no verified time; key-signed)",
        f"  log entry:    {result.log_index} on {result.log_url}"
        if result.log_index is not None
        else (
            f"  log entry:    proven on {result.log_url} (its global index is not signed)"
            if result.log_url
            else (
                "  log entry:    none (the trusted root has no log: a verified timestamp stands for it)"
                if result.time_source == "timestamp-authority"
                and result.issuer is not None
                else "  log entry:    none (accepted on the given key alone)"
            )
        ),
        f"  bundle:       v{result.bundle_version} {result.content}"
        + (f", predicate {result.predicate_type}" if result.predicate_type else ""),
        f"  trusted root: {result.trust_source}{stale}",
    ]
    # The SAN, the issuer, the log's URL and the predicate type are the
    # bundle's and the certificate's: shown escaped.
    print("\n".join(untrusted(line, markup=False, limit=LINE_LIMIT) for line in lines))


def run(args: argparse.Namespace) -> int:
    """Verify and print the result; raise on anything not verified."""
    # The verifier (and cryptography's X.509 stack) is imported here, not at
    # module level, so that `--help` and `--version` start in a few ms.
    from appliance.cli.artifact_input import read_artifact  # noqa: PLC0415
    from appliance.core.verifier import under_roots, verify_bundle  # noqa: PLC0415
    from appliance.trust import held, roots  # noqa: PLC0415
    from appliance.trust.memory import Memory  # noqa: PLC0415

    now = datetime.now(UTC)  # the clock is read once, here, and passed down
    state_dir = env.state_dir()
    held.check_clocks(state_dir, now)
    memory = Memory(state_dir)
    policy = policy_from_flags(args)
    warn_insecure(args)
    bundle = _read_bundle(args.bundle)
    artifact, label = read_artifact(args.artifact, algorithms=_digests_needed(bundle))
    # The operator's file alone if named (each of its roots), else every
    # root the appliance holds: material verifies under one of them, by
    # that root's own rules.
    trusts = (
        tuple(held.load_all(state_dir, now=now, trusted_root=None).values())
        if args.trusted_root is None
        else roots.load_current_roots(
            trusted_root=args.trusted_root,
            state_dir=state_dir,
            now=now,
            memory=memory.log_memory(),
        )
    )
    with roots.recording_splits(memory, now=now):
        result = under_roots(
            trusts,
            lambda trust: verify_bundle(
                bundle,
                artifact=artifact,
                trust=trust,
                policy=policy,
                now=now,
                insecure_ignore_tlog=args.insecure_ignore_tlog,
            ),
        )
    held.remember(state_dir, [result], now=now)
    if args.output == "json":
        print(json.dumps({**result.to_json(), "artifact": label}, indent=2))
    else:
        _print_text(result, label)
    return ExitCode.OK
