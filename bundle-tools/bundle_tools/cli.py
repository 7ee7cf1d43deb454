"""The ``bundle-tools`` command: its sub-commands, run in the shared frame.

Exit codes, one-line and JSON errors, signals and encodings are the
appliance's own (:mod:`airlock_io.frame`): 0 success, 1 verification failed,
2 usage or input error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from airlock_io import frame
from airlock_io.exit_codes import ExitCode
from appliance.core.errors import InputError, Reason
from bundle_tools import __version__, export_cmd, revocations

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

_PROG = "bundle-tools"


def _parser() -> argparse.ArgumentParser:
    parser = frame.Parser(
        prog=_PROG,
        description=(
            "Airlock bundle-tools (connected side): export images, signatures, "
            "attestations and Sigstore trust into one transfer archive."
        ),
        epilog="exit codes: 0 success, 1 verification failed, 2 usage or input error",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"{_PROG} {__version__}"
    )
    parser.add_argument(
        "--verbose",
        action="count",
        default=0,
        help="show tracebacks of internal errors",
    )
    # cast: the subparsers are frame.Parser instances, used as ArgumentParsers.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",  # noqa: SLF001 - argparse's own type
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    export_cmd.add_parsers(commands)
    revocations.add_parsers(commands)
    trust = commands.add_parser(
        "trust", help="refresh the Sigstore trust root through TUF"
    )
    trust_commands = trust.add_subparsers(
        dest="trust_command", metavar="COMMAND", required=True
    )
    update = trust_commands.add_parser(
        "update",
        help="refresh through TUF online and write a trust capsule for the appliance",
        description=(
            "Run the TUF client workflow against URL from the root in FILE (default: the "
            "public-good repository and the root sealed into Airlock), and write every root "
            "version, the timestamp, snapshot and targets metadata and the target files to OUT, "
            "laid out as the repository serves them: `appliance trust import OUT` replays it offline."
        ),
    )
    update.add_argument(
        "--tuf-url",
        metavar="URL",
        default=None,
        help="TUF repository (default: the public-good repository)",
    )
    update.add_argument(
        "--root",
        metavar="FILE",
        type=Path,
        help="trusted initial root.json for --tuf-url (required with it)",
    )
    update.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        required=True,
        help="where to write the capsule (must not exist)",
    )
    update.set_defaults(handler=_trust_update)
    return parser


def _trust_update(args: argparse.Namespace) -> int:
    from airlock_io import inputs  # noqa: PLC0415
    from bundle_tools import trust  # noqa: PLC0415 - tuf and urllib3 only for this command
    from trustroot import store  # noqa: PLC0415

    if args.tuf_url is not None and args.root is None:
        raise InputError(
            "--tuf-url needs --root: the initial root you trust for that repository",
            reason=Reason.USAGE,
        )
    if args.root is not None:
        bootstrap = inputs.read_file(
            args.root, what="root", max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES
        )
    else:
        bootstrap = store.read_embedded(store.PUBLIC_GOOD, "root.json")
    capsule = trust.update(
        url=args.tuf_url or trust.PUBLIC_GOOD_URL, bootstrap=bootstrap, out=args.out
    )
    from airlock_io.terminal import LINE_LIMIT, untrusted  # noqa: PLC0415

    line = (
        f"Trust capsule written to {capsule.path}: roots v{capsule.root_versions[0]}-v{capsule.root_versions[-1]}, "
        f"timestamp v{capsule.timestamp_version}, snapshot v{capsule.snapshot_version}, targets v{capsule.targets_version}; "
        + ", ".join(f"{n} {h[:12]}" for n, h in capsule.targets.items())
    )
    print(
        untrusted(line, markup=False, limit=LINE_LIMIT)
    )  # target names: the repository's
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bundle-tools CLI and return its exit code."""
    return frame.run(_PROG, _parser(), argv)
