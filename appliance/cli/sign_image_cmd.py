"""``appliance sign`` and ``appliance attest``: the views of :mod:`appliance.actions.sign`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io import inputs
from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.actions.sign import (
    AttestRequest,
    Signed,
    SignRequest,
    attest,
    image_reference,
    sign,
)
from appliance.cli import env
from appliance.cli.registry_flags import (
    access,
    add_module_flag,
    add_registry_flags,
    signer_choice,
)
from appliance.cli.verify_flags import parse_annotations
from appliance.core.errors import InputError
from trustroot import strict_json

if TYPE_CHECKING:
    import argparse

SIGN = (
    "Resolve IMAGE-REF once, then append a cosign simple-signing signature of its digest to "
    "its sha256-<hex>.sig image (and with --bundle-format v3 push a Sigstore bundle v0.3 as a "
    "referrer). --recursive signs each platform manifest of an index too."
)
ATTEST = (
    "Resolve IMAGE-REF once, then append a DSSE envelope of an in-toto statement (subject: the "
    "image digest; predicate: the JSON file) to its sha256-<hex>.att image (and with "
    "--bundle-format v3 push it as a Sigstore bundle referrer too)."
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "image",
        metavar="IMAGE-REF",
        help="the image in the in-gap registry (tag or digest)",
    )
    parser.add_argument(
        "--key",
        required=True,
        metavar="KEY",
        help="pkcs11: URI, cosign encrypted key file, or PEM private key",
    )
    add_module_flag(parser)
    parser.add_argument(
        "--bundle-format",
        choices=("legacy", "v3"),
        default="legacy",
        help="legacy: the sha256-<hex> tag (cosign 2); v3: also a Sigstore bundle as an OCI 1.1 referrer (cosign 3)",
    )
    add_registry_flags(parser)
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")


def configure_sign(parser: argparse.ArgumentParser) -> None:
    """The flags of ``sign``."""
    parser.description = SIGN
    _common(parser)
    parser.add_argument(
        "-a",
        "--annotations",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="annotation written under the payload's `optional`",
    )
    parser.add_argument(
        "--recursive",
        action="store_true",
        help="also sign each platform manifest of an index",
    )
    parser.set_defaults(handler=run_sign)


def configure_attest(parser: argparse.ArgumentParser) -> None:
    """The flags of ``attest``."""
    parser.description = ATTEST
    _common(parser)
    parser.add_argument(
        "--predicate",
        required=True,
        metavar="FILE",
        type=Path,
        help="the predicate, a JSON file",
    )
    parser.add_argument(
        "--type", required=True, metavar="PREDICATE_TYPE", help="the predicate type URI"
    )
    parser.set_defaults(handler=run_attest)


def _say(args: argparse.Namespace, signed: Signed) -> int:
    if args.output == "json":
        print(json.dumps(signed.to_json(), indent=2))
        return ExitCode.OK
    for item in signed.written:
        state = "already there" if item.skipped else "written"
        print(
            untrusted(
                f"{item.kind} of {item.subject[:19]}: {item.repository}:{item.reference} ({state})",
                markup=False,
                limit=LINE_LIMIT,
            ),
            file=sys.stderr,
        )
    print(
        f"signed {untrusted(args.image, markup=False)} ({signed.digest}) with key {signed.key_id[:16]}",
        file=sys.stderr,
    )
    return ExitCode.OK


def run_sign(args: argparse.Namespace) -> int:
    """``appliance sign``."""
    image_reference(args.image)  # a bad reference before the password is read
    annotations = parse_annotations(args.annotations)
    request = SignRequest(
        image=args.image,
        signer=signer_choice(args.key, args),
        state_dir=env.state_dir(),
        access=access(args),
        annotations=annotations,
        recursive=args.recursive,
        bundles=args.bundle_format == "v3",
    )
    return _say(args, sign(request))


def run_attest(args: argparse.Namespace) -> int:
    """``appliance attest``."""
    data = inputs.read_file(
        args.predicate, what="predicate", max_bytes=inputs.MAX_BUNDLE_BYTES
    )
    try:
        predicate = strict_json.loads(data)
    except ValueError as exc:
        msg = f"not JSON ({exc})"
        raise InputError(msg, where=str(args.predicate)) from exc
    image_reference(args.image)
    request = AttestRequest(
        image=args.image,
        signer=signer_choice(args.key, args),
        state_dir=env.state_dir(),
        predicate_type=args.type,
        predicate=predicate,
        access=access(args),
        bundles=args.bundle_format == "v3",
    )
    return _say(args, attest(request))
