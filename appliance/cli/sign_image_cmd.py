"""``appliance sign`` and ``appliance attest``: image signatures written offline, with an HSM or a key file.

The key is opened (and a PIN checked) before the registry is touched: a
wrong PIN is exit 2 with nothing pushed. Then, inside the seal's permit for
the image's registry alone, the image is resolved once and every signature
is verified with the public key before it is pushed. Every signing is in the
audit log (image digest, key id, what was written where); PINs never are.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock_io.exit_codes import ExitCode
from airlock_io.terminal import LINE_LIMIT, untrusted
from appliance.cli import env
from appliance.cli.registry_flags import add_registry_flags
from appliance.core.errors import InputError, Reason, redact

if TYPE_CHECKING:
    import argparse

    from appliance.core.archive.reference import Reference
    from appliance.signer.interface import Signer


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
    parser.add_argument(
        "--module-path",
        metavar="LIB",
        help="the PKCS#11 module (else $COSIGN_PKCS11_MODULE_PATH)",
    )
    parser.add_argument(
        "--bundle-format",
        choices=("legacy", "v3"),
        default="legacy",
        help="legacy: the sha256-<hex> tag (cosign 2); v3: also a Sigstore bundle as an OCI 1.1 referrer (cosign 3)",
    )
    add_registry_flags(parser)
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")


def add_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``sign`` and ``attest``."""
    sign = subparsers.add_parser(
        "sign",
        help="sign an image in the in-gap registry offline (cosign-compatible, no log)",
        description=(
            "Resolve IMAGE-REF once, then append a cosign simple-signing signature of its digest to "
            "its sha256-<hex>.sig image (and with --bundle-format v3 push a Sigstore bundle v0.3 as a "
            "referrer). --recursive signs each platform manifest of an index too."
        ),
    )
    _common(sign)
    sign.add_argument(
        "-a",
        "--annotations",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="annotation written under the payload's `optional`",
    )
    sign.add_argument(
        "--recursive",
        action="store_true",
        help="also sign each platform manifest of an index",
    )
    sign.set_defaults(handler=run_sign)
    attest = subparsers.add_parser(
        "attest",
        help="attest about an image in the in-gap registry offline (DSSE in-toto, cosign-compatible)",
        description=(
            "Resolve IMAGE-REF once, then append a DSSE envelope of an in-toto statement (subject: the "
            "image digest; predicate: the JSON file) to its sha256-<hex>.att image (and with "
            "--bundle-format v3 push it as a Sigstore bundle referrer too)."
        ),
    )
    _common(attest)
    attest.add_argument(
        "--predicate",
        required=True,
        metavar="FILE",
        type=Path,
        help="the predicate, a JSON file",
    )
    attest.add_argument(
        "--type", required=True, metavar="PREDICATE_TYPE", help="the predicate type URI"
    )
    attest.set_defaults(handler=run_attest)


def _reference(text: str) -> Reference:
    from appliance.core.archive.reference import parse_reference  # noqa: PLC0415

    ref = parse_reference(text)
    first = text.split("/", 1)[0]
    if "/" not in text or not ("." in first or ":" in first or first == "localhost"):
        msg = "name the in-gap registry in the reference (host[:port]/repository:tag)"
        raise InputError(msg, where=text[:200], reason=Reason.USAGE)
    return ref


def _run(args: argparse.Namespace, command: str, work: Any) -> int:  # noqa: ANN401 - the command's unit of work
    """Open the key, then the registry; do ``work``; record; report."""
    from appliance.actions.audited import Audited  # noqa: PLC0415
    from appliance.cli.registry_flags import login as registry_login  # noqa: PLC0415
    from appliance.cli.sign_cmd import open_signer  # noqa: PLC0415
    from appliance.core import keys  # noqa: PLC0415
    from appliance.core.archive.plan import Target  # noqa: PLC0415
    from appliance.load.connect import registry  # noqa: PLC0415
    from appliance.load.sign import ImageWriter  # noqa: PLC0415
    from appliance.trust import roots  # noqa: PLC0415

    ref = _reference(args.image)
    login = registry_login(args)
    now = datetime.now(UTC)
    with Audited(
        command, env.state_dir(), image=args.image, key=redact(str(args.key))
    ) as audit:
        signer: Signer
        with open_signer(
            args.key, args.module_path
        ) as signer:  # the PIN before the network
            target = Target(host=ref.registry)
            with registry(
                target, plain_http=args.allow_http_registry, login=login
            ) as client:
                writer = ImageWriter(
                    client, signer, trust=roots.load_embedded(now=now), now=now
                )
                image, written = work(writer, ref)
            key_id = keys.key_id(signer.public_key).hex()
        result = {
            "image": args.image,
            "digest": image.digest,
            "key_id": key_id,
            "written": [w.to_json() for w in written],
        }
        result["audit"] = audit.record({**result, "exit_code": 0}).to_json()
    if args.output == "json":
        print(json.dumps(result, indent=2))
    else:
        for item in written:
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
            f"signed {args.image} ({image.digest}) with key {key_id[:16]}",
            file=sys.stderr,
        )
    return ExitCode.OK


def run_sign(args: argparse.Namespace) -> int:
    """``appliance sign``."""
    from appliance.cli.verify_cmd import parse_annotations  # noqa: PLC0415
    from appliance.load.sign import sign_image  # noqa: PLC0415

    annotations = parse_annotations(args.annotations)
    return _run(
        args,
        "sign",
        lambda writer, ref: sign_image(
            writer,
            ref,
            annotations=annotations,
            recursive=args.recursive,
            bundles=args.bundle_format == "v3",
        ),
    )


def run_attest(args: argparse.Namespace) -> int:
    """``appliance attest``."""
    from airlock_io import inputs  # noqa: PLC0415
    from appliance.load.sign import attest_image  # noqa: PLC0415
    from trustroot import strict_json  # noqa: PLC0415

    data = inputs.read_file(
        args.predicate, what="predicate", max_bytes=inputs.MAX_BUNDLE_BYTES
    )
    try:
        predicate = strict_json.loads(data)
    except ValueError as exc:
        msg = f"not JSON ({exc})"
        raise InputError(msg, where=str(args.predicate)) from exc
    if not args.type or "://" not in args.type:
        msg = "a predicate type URI, e.g. https://slsa.dev/provenance/v1"
        raise InputError(msg, where=f"--type {args.type[:100]}", reason=Reason.USAGE)
    return _run(
        args,
        "attest",
        lambda writer, ref: attest_image(
            writer,
            ref,
            predicate_type=args.type,
            predicate=predicate,
            bundles=args.bundle_format == "v3",
        ),
    )
