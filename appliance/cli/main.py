"""The ``appliance`` command: its sub-commands, run in the shared frame.

The one lazy seam of the CLI: a command's module (and everything it
imports: the actions, the verifier, rich, textual) is imported only when the
command line names it, so that ``--version`` and ``--help`` start as fast as
an empty program (``benchmarks/startup.py`` guards it), as Textual's
``widgets/__init__.py`` defers its widgets. Every other module imports at
the top. How a command ends (exit codes, one-line and JSON errors, signals,
encodings) is :mod:`airlock_io.frame`'s job, the same for both programs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Final, cast

from airlock_io import frame

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_PROG = "appliance"
_EPILOG = """\
exit codes:
  0  verified (or the command succeeded)
  1  verification failed: something was not positively verified
  2  usage error, or input that could not be read

The appliance never reaches the network while verifying.
"""

# command -> (module, its configure function, one line of help)
COMMANDS: Final = {
    "verify": (
        "appliance.cli.verify_cmd",
        "configure",
        "verify every image of a transfer archive against a policy, offline",
    ),
    "load": (
        "appliance.cli.load_cmd",
        "configure",
        "verify an archive, then push only the images that passed to the in-gap registry",
    ),
    "extract": (
        "appliance.cli.extract_cmd",
        "configure",
        "verify an archive, then write only the images that passed as an OCI image layout",
    ),
    "verify-blob": (
        "appliance.cli.verify_blob",
        "configure",
        "verify a Sigstore bundle for a file or digest, offline",
    ),
    "trust": (
        "appliance.cli.trust_cmd",
        "configure",
        "import, show or publish the Sigstore trust root (TUF, offline)",
    ),
    "controls": (
        "appliance.cli.controls_cmd",
        "configure",
        "two-person integrity: record approver keys and the threshold (init, approve, show)",
    ),
    "policy": (
        "appliance.cli.controls_cmd",
        "configure_policy",
        "approve a policy file with your approver key (two-person integrity)",
    ),
    "revocations": (
        "appliance.cli.revocations_cmd",
        "configure",
        "import a signed revocation feed (deny entries from a party the policy trusts)",
    ),
    "sign-blob": (
        "appliance.cli.sign_cmd",
        "configure_sign_blob",
        "sign a file offline with an HSM or file key; write a Sigstore bundle",
    ),
    "public-key": (
        "appliance.cli.sign_cmd",
        "configure_public_key",
        "print the PEM public key of an HSM key, key file or PEM",
    ),
    "pkcs11": (
        "appliance.cli.sign_cmd",
        "configure_pkcs11",
        "list tokens and keys, generate keys on an HSM",
    ),
    "sign": (
        "appliance.cli.sign_image_cmd",
        "configure_sign",
        "sign an image in the in-gap registry offline (cosign-compatible, no log)",
    ),
    "attest": (
        "appliance.cli.sign_image_cmd",
        "configure_attest",
        "attest about an image in the in-gap registry offline (DSSE in-toto, cosign-compatible)",
    ),
    "handoff": (
        "appliance.cli.handoff_cmd",
        "configure",
        "write an admission policy (policy-controller, Kyverno, containers-policy) for what the appliance countersigned",
    ),
    "audit": (
        "appliance.cli.audit_cmd",
        "configure",
        "the audit log: every decision, hash-chained",
    ),
    "inventory": (
        "appliance.cli.inventory_cmd",
        "configure",
        "list what the gap holds (blobs, manifests) for `bundle-tools export --have`",
    ),
    "tui": (
        "appliance.cli.tui_cmd",
        "configure",
        "review an archive and act on it in a terminal UI (80x24 and up)",
    ),
}


class _Version(argparse.Action):
    """``--version``: the version, and for the sealed build its commit and manifest."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        # The sealed build's manifest is read only when asked for.
        from appliance.provenance import describe  # noqa: PLC0415

        print(describe())
        parser.exit()


def _named(argv: Sequence[str] | None) -> str | None:
    """The command ``argv`` names (the first word that is not a flag), if any."""
    for word in argv or ():
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the command ``argv`` names is configured (all of them without ``argv``)."""
    parser = frame.Parser(
        prog=_PROG,
        description=(
            "Airlock appliance: verify signed container images and blobs offline, "
            "with trust carried across the gap through TUF."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-V",
        "--version",
        action=_Version,
        nargs=0,
        help="version, commit and sealed manifest",
    )
    parser.add_argument(
        "--verbose",
        action="count",
        default=0,
        help="more detail on stderr (repeat for debug); tracebacks of internal errors",
    )
    # cast: the subparsers are frame.Parser instances, which the command
    # modules use only through the ArgumentParser interface.
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",  # noqa: SLF001 - argparse's own type
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    named = _named(argv) if argv is not None else None
    for name, (module, function, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text)
        if argv is None or name == named:
            configure: Callable[[argparse.ArgumentParser], None] = getattr(
                importlib.import_module(module), function
            )
            configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the appliance CLI and return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return frame.run(_PROG, _parser(arguments), arguments)
