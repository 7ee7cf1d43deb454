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

    from bundle_tools import trust as trust_module

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
            "laid out as the repository serves them: `appliance trust import OUT` replays it offline. "
            "Each --repository NAME is refreshed too, from its --root NAME=FILE, into OUT/NAME/ "
            "(`appliance trust import OUT/NAME --name NAME`; `bundle-tools export --trust-dir OUT` "
            "carries them all); one failing writes nothing."
        ),
    )
    update.add_argument(
        "--tuf-url",
        metavar="URL",
        default=None,
        help="the repository whose capsule is OUT itself (default: the public-good repository)",
    )
    update.add_argument(
        "--repository",
        metavar="NAME[=URL]",
        action="append",
        default=[],
        help="also refresh this named repository into OUT/NAME/ (repeatable; NAME alone: "
        "a known one, github = https://tuf-repo.github.com); needs --root NAME=FILE",
    )
    update.add_argument(
        "--root",
        metavar="FILE|NAME=FILE",
        action="append",
        default=[],
        help="trusted initial root.json: FILE for --tuf-url (required with it), NAME=FILE for "
        "each --repository NAME (always the operator's, never fetched; repeatable)",
    )
    update.add_argument(
        "--no-public-good",
        action="store_true",
        help="refresh only the --repository ones, not public-good",
    )
    update.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        required=True,
        help="where to write the capsule (must not exist); named ones go to DIR/NAME/",
    )
    update.set_defaults(handler=_trust_update)
    return parser


def _repositories(args: argparse.Namespace) -> dict[str, str]:
    """``--repository NAME[=URL]``: name -> URL, each name once, in order.

    Raises:
        InputError: a malformed, repeated, reserved or unknown name.
    """
    from bundle_tools import trust  # noqa: PLC0415

    found: dict[str, str] = {}
    for item in args.repository:
        name, sep, url = item.partition("=")
        where = f"--repository {item[:60]}"
        if not trust.NAME.fullmatch(name):
            msg = f"{name[:64]!r} is not a trust root name (lowercase letters, digits and '-', at most 63)"
            raise InputError(msg, where=where, reason=Reason.USAGE)
        # "targets" is the capsule's own directory of target files.
        if name in found or name == "targets":
            msg = "each name once, and not 'targets'"
            raise InputError(msg, where=where, reason=Reason.USAGE)
        if name == trust.PUBLIC_GOOD and (args.tuf_url or args.no_public_good):
            msg = (
                "public-good is --tuf-url (or left out with --no-public-good), not both"
            )
            raise InputError(msg, where=where, reason=Reason.USAGE)
        if not sep:
            if name not in trust.KNOWN_URLS:
                msg = f"no known URL for {name}: give --repository {name}=URL"
                raise InputError(msg, where=where, reason=Reason.USAGE)
            url = trust.KNOWN_URLS[name]
        if not url.startswith(("https://", "http://")):
            msg = "expected an http(s) URL"
            raise InputError(msg, where=where, reason=Reason.USAGE)
        found[name] = url
    return found


def _roots(
    args: argparse.Namespace, names: Sequence[str]
) -> tuple[Path | None, dict[str, Path]]:
    """``--root``: the unnamed FILE (public-good's), and NAME=FILE for each named repository.

    Raises:
        InputError: two unnamed roots, a name given twice, or naming no ``--repository``.
    """
    plain: Path | None = None
    named: dict[str, Path] = {}
    for item in args.root:
        name, sep, file = item.partition("=")
        if sep and file and name in names:
            if name in named:
                msg = "each name's root once"
                raise InputError(msg, where=f"--root {name}", reason=Reason.USAGE)
            named[name] = Path(file)
        elif sep and name and not Path(item).exists():
            msg = f"no --repository {name} (or no such file)"
            raise InputError(msg, where=f"--root {item[:60]}", reason=Reason.USAGE)
        elif plain is not None:
            msg = "one --root FILE for public-good; NAME=FILE for the others"
            raise InputError(msg, where=f"--root {item[:60]}", reason=Reason.USAGE)
        else:
            plain = Path(item)
    return plain, named


def _trust_update(args: argparse.Namespace) -> int:
    from airlock_io import inputs  # noqa: PLC0415
    from bundle_tools import trust  # noqa: PLC0415 - tuf and urllib3 only for this command
    from trustroot import store  # noqa: PLC0415

    urls = _repositories(args)
    plain, named = _roots(args, (*urls, trust.PUBLIC_GOOD))
    if args.tuf_url is not None and plain is None and trust.PUBLIC_GOOD not in named:
        raise InputError(
            "--tuf-url needs --root: the initial root you trust for that repository",
            reason=Reason.USAGE,
        )
    if args.no_public_good and (args.tuf_url or plain or not urls):
        msg = "--no-public-good takes neither --tuf-url nor --root FILE, and needs --repository"
        raise InputError(msg, reason=Reason.USAGE)
    pg_root = plain or named.get(trust.PUBLIC_GOOD)
    for name, url in urls.items():
        # public-good's default repository may start from the sealed root;
        # any other URL only from a root the operator gives.
        own = pg_root if name == trust.PUBLIC_GOOD else named.get(name)
        if own is None and (name != trust.PUBLIC_GOOD or url != trust.PUBLIC_GOOD_URL):
            msg = f"needs --root {name}=FILE: the initial root you trust for it (never fetched)"
            raise InputError(msg, where=f"--repository {name}", reason=Reason.USAGE)

    def read(path: Path) -> bytes:
        return inputs.read_file(
            path, what="root", max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES
        )

    # Every root is read before any network work: a bad flag costs no refresh.
    repositories: list[trust.Repository] = []
    if not args.no_public_good:
        repositories.append(
            trust.Repository(
                name=trust.PUBLIC_GOOD,
                url=args.tuf_url or urls.get(trust.PUBLIC_GOOD, trust.PUBLIC_GOOD_URL),
                bootstrap=read(pg_root)
                if pg_root is not None
                else store.read_embedded(store.PUBLIC_GOOD, "root.json"),
            )
        )
    repositories.extend(
        trust.Repository(name=name, url=url, bootstrap=read(named[name]))
        for name, url in urls.items()
        if name != trust.PUBLIC_GOOD
    )
    if len(repositories) == 1 and repositories[0].name == trust.PUBLIC_GOOD:
        only = repositories[0]
        _say(trust.update(url=only.url, bootstrap=only.bootstrap, out=args.out), "")
        return ExitCode.OK
    for name, capsule in trust.update_many(repositories, args.out):
        _say(capsule, f"{name}: ")
    return ExitCode.OK


def _say(capsule: trust_module.Capsule, prefix: str) -> None:
    from airlock_io.terminal import LINE_LIMIT, untrusted  # noqa: PLC0415

    line = (
        f"{prefix}Trust capsule written to {capsule.path}: roots v{capsule.root_versions[0]}-v{capsule.root_versions[-1]}, "
        f"timestamp v{capsule.timestamp_version}, snapshot v{capsule.snapshot_version}, targets v{capsule.targets_version}; "
        + ", ".join(f"{n} {h[:12]}" for n, h in capsule.targets.items())
    )
    print(
        untrusted(line, markup=False, limit=LINE_LIMIT)
    )  # target names: the repository's


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bundle-tools CLI and return its exit code."""
    return frame.run(_PROG, _parser(), argv)
