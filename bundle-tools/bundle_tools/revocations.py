"""``bundle-tools revocations sign FILE.toml --key KEY -o FEED.json``: publish a revocation feed.

The feed's source is TOML (:class:`appliance.core.policyfile.FeedSpec`: a
publisher, a version, ``[[deny]]`` entries as in a policy file); key files
it names are turned into key ids, and the payload is signed over its RFC
8785 canonical bytes (docs/revocation.md §2) with an HSM key (a ``pkcs11:``
URI) or a key file, through the appliance's signing seam. The signature is
checked with the key's public half before anything is written; the feed is
written atomically.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from airlock_io import inputs
from airlock_io.atomic import check_output, write_output
from airlock_io.exit_codes import ExitCode
from appliance.core import keys
from appliance.core.policyfile import FeedSpec
from appliance.core.revocations import (
    MEDIA_TYPE,
    canonical,
    sign_entry,
    unsigned,
    verify_feed,
)

if TYPE_CHECKING:
    import argparse

    from appliance.signer.interface import SecretsHandler


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``revocations sign``."""
    group = commands.add_parser(
        "revocations", help="publish signed revocation feeds for appliances"
    )
    sub = group.add_subparsers(
        dest="revocations_command", metavar="COMMAND", required=True
    )
    sign = sub.add_parser(
        "sign",
        help="sign a revocation feed (TOML: publisher, version, [[deny]]) into FEED.json",
        description=(
            "Read FILE.toml (publisher, version, optional issued, [[deny]] entries as in "
            "an appliance policy), sign it with KEY (a pkcs11: URI or a key file) and write "
            "the feed: carry it with `bundle-tools export --revocations` or import it with "
            "`appliance revocations import`."
        ),
    )
    sign.add_argument("source", metavar="FILE.toml", type=Path)
    sign.add_argument(
        "--key",
        required=True,
        metavar="KEY",
        help="pkcs11: URI (an HSM key) or a key file (cosign.key or PEM)",
    )
    sign.add_argument("-o", "--out", required=True, metavar="FEED.json", type=Path)
    sign.set_defaults(handler=run_sign)


def sign_feed(
    source: Path,
    *,
    key: str,
    out: Path,
    now: datetime,
    secrets_handler: SecretsHandler | None = None,
) -> dict[str, object]:
    """Sign the feed ``source`` describes with ``key``; write it to ``out``.

    Raises:
        InputError: an unreadable or invalid source, an unwritable output.
        SignerError: the key cannot sign.
    """
    from appliance.signer.opener import open_signer  # noqa: PLC0415 - pkcs11 only when signing

    check_output(out)
    spec = FeedSpec.from_toml(
        inputs.read_file(source, what="feed source", max_bytes=inputs.MAX_POLICY_BYTES),
        source=str(source),
    )

    def read_key(relative: str) -> bytes:
        return inputs.read_file(
            source.parent / relative, what="key", max_bytes=inputs.MAX_KEY_BYTES
        )

    payload = unsigned(
        publisher=spec.publisher,
        version=spec.version,
        issued=spec.issued or now,
        entries=[d.resolve(read_key) for d in spec.deny],
    )
    with open_signer(key, secrets_handler=secrets_handler) as signer:
        signature = signer.sign(canonical(payload))
        public = signer.public_key
    doc = {
        "mediaType": MEDIA_TYPE,
        "payload": payload,
        "signatures": [sign_entry(keys.key_id(public), signature)],
    }
    verify_feed(doc, trusted=[public], where=str(out))  # what the appliance will do
    write_output(out, json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n")
    return {
        "feed": str(out),
        "publisher": spec.publisher,
        "version": spec.version,
        "entries": len(spec.deny),
        "key_id": keys.key_id(public).hex(),
    }


def run_sign(args: argparse.Namespace) -> int:
    """The ``revocations sign`` command."""
    from airlock_io.terminal import untrusted  # noqa: PLC0415

    done = sign_feed(args.source, key=args.key, out=args.out, now=datetime.now(UTC))
    print(
        untrusted(
            f"Revocation feed {done['publisher']} v{done['version']} "
            f"({done['entries']} entries) signed by key {str(done['key_id'])[:16]}: "
            f"{done['feed']}",
            markup=False,
        )
    )
    return ExitCode.OK
