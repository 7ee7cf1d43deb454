"""The flags of every command that verifies an archive (``verify``, ``load``, ``extract``, ``tui``).

They say what must have signed (a policy file, or cosign's signer flags),
which trust to use and which images, and become one
:class:`~appliance.actions.verify.VerifyRequest`: the only thing the views
hand to the actions.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.actions.policy import (
    PolicyFile,
    PolicySource,
    ReviewOnly,
    SignerFlags,
)
from appliance.cli import env
from appliance.cli.identity_flags import add_identity_flags, signer_flags
from appliance.core.archive.manifest import Platform
from appliance.core.errors import InputError, Reason
from appliance.core.policyfile import parse_duration

if TYPE_CHECKING:
    import argparse

    from appliance.actions.verify import VerifyRequest


def add_report_flags(parser: argparse.ArgumentParser) -> None:
    """``-o text|json`` and ``--report FILE``."""
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument(
        "--report",
        metavar="FILE",
        type=Path,
        help="also write the JSON report here (atomically)",
    )


def add_policy_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that say what must have signed, with which trust, for which images."""
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
        "--jobs",
        metavar="N",
        default=None,
        help="judge the images in N worker processes (default: every usable CPU; 1: no workers); "
        "the verdict and the report are the same whatever N is",
    )
    parser.add_argument(
        "--allow-foreign-inventory",
        action="store_true",
        help="accept a delta made against an inventory another appliance (or none) wrote",
    )


def parse_jobs(text: str | None) -> int | None:
    """``--jobs N``: a whole number of worker processes, at least 1 (None: not given).

    Raises:
        InputError: not a number, or under 1.
    """
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = "expected a whole number of worker processes, at least 1"
        raise InputError(msg, where=f"--jobs {text[:20]}", reason=Reason.USAGE)
    return value


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


def trust_max_age(args: argparse.Namespace) -> timedelta:
    """``--trust-max-age`` (0 when not given).

    Raises:
        InputError: not a duration.
    """
    text: str | None = args.trust_max_age
    if not text:
        return timedelta(0)
    return parse_duration(text, where=f"--trust-max-age {text[:40]}")


def policy_source(args: argparse.Namespace, *, review: bool = False) -> PolicySource:
    """The policy the flags name: the file, the signer flags, or (``review``) none yet.

    Raises:
        InputError: a policy file and signer flags both, or no signer at all.
    """
    flags: SignerFlags = signer_flags(args, keys=tuple(args.keys))
    if args.policy is not None:
        if flags.identity_given or flags.keys:
            msg = "give a --policy file or the signer flags (--key, --certificate-*), not both"
            raise InputError(msg, reason=Reason.USAGE)
        return PolicyFile(path=args.policy)
    if review and not flags.identity_given and not flags.keys:
        return ReviewOnly()
    return flags


def warn_insecure(args: argparse.Namespace) -> None:
    """Say on stderr, on every use, that an ``--insecure-*`` flag is in force."""
    if getattr(args, "insecure_ignore_tlog", False):
        print(
            "appliance: WARNING: --insecure-ignore-tlog: key-signed material without a "
            "transparency log entry is trusted on the key alone",
            file=sys.stderr,
        )


def verify_request(  # noqa: PLR0913 - keyword-only, each part of the request named
    args: argparse.Namespace,
    *,
    archive: Path | None = None,
    review: bool = False,
    report: Path | None = None,
    request_out: Path | None = None,
    via: str = "cli",
    keep_evidence: bool = False,
) -> VerifyRequest:
    """The verification the flags describe.

    Raises:
        InputError: flags that contradict each other, a bad duration, platform
            or annotation.
    """
    # Here, not at the top: verify-blob shares this module's flags and must
    # not import the whole archive verification to start (~70 ms).
    from appliance.actions.verify import VerifyRequest  # noqa: PLC0415

    return VerifyRequest(
        archive=args.archive if archive is None else archive,
        policy=policy_source(args, review=review),
        state_dir=env.state_dir(),
        trusted_root=args.trusted_root,
        trust_max_age=trust_max_age(args),
        images=tuple(args.image),
        annotations=parse_annotations(args.annotations),
        require_attestations=tuple(args.require_attestation),
        platforms=tuple(Platform.parse(p) for p in args.platform),
        insecure_ignore_tlog=args.insecure_ignore_tlog,
        require_countersignature=tuple(args.require_countersignature),
        allow_foreign_inventory=args.allow_foreign_inventory,
        report=report,
        request_out=request_out,
        via=via,
        jobs=parse_jobs(args.jobs),
        # The CLI prints a table and writes a report: each image's entry is
        # rendered as it is judged (#26); the TUI keeps every check to show.
        keep_evidence=keep_evidence,
    )
