"""cosign's signer flags, shared by every verifying command.

``--certificate-identity[-regexp]``, ``--certificate-oidc-issuer[-regexp]``,
the ``--certificate-github-workflow-*`` claims, ``--key`` and
``--insecure-ignore-tlog``, turned into a :class:`~appliance.core.policy.Policy`.

As in cosign, an empty value is "not given": an unset shell variable
(``--certificate-identity "$ID"``) never becomes "anyone". Flags that cannot
apply are refused rather than ignored: the GitHub claims are certificate
extensions, so they cannot constrain a ``--key`` signature.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from appliance.core.policy import Policy

# cosign's --certificate-github-workflow-* flags and the Fulcio OIDs they check.
GITHUB_FLAGS = {
    "certificate_github_workflow_trigger": "2",
    "certificate_github_workflow_sha": "3",
    "certificate_github_workflow_name": "4",
    "certificate_github_workflow_repository": "5",
    "certificate_github_workflow_ref": "6",
}
_IDENTITY_FLAGS = (
    "certificate_identity",
    "certificate_identity_regexp",
    "certificate_oidc_issuer",
    "certificate_oidc_issuer_regexp",
)


def add_identity_flags(parser: argparse.ArgumentParser, *, key_flag: bool) -> None:
    """Add the signer flags to ``parser`` (``--key`` too when ``key_flag``)."""
    ident = parser.add_argument_group("signer identity (certificate-signed material)")
    ident.add_argument(
        "--certificate-identity",
        metavar="IDENTITY",
        help="exact SAN (email or URI) of the signer",
    )
    ident.add_argument(
        "--certificate-identity-regexp",
        metavar="REGEXP",
        help="RE2 pattern (as cosign) searched in the SAN",
    )
    ident.add_argument(
        "--certificate-oidc-issuer", metavar="URL", help="exact OIDC issuer"
    )
    ident.add_argument(
        "--certificate-oidc-issuer-regexp",
        metavar="REGEXP",
        help="RE2 pattern searched in the OIDC issuer",
    )
    for flag in GITHUB_FLAGS:
        ident.add_argument(
            "--" + flag.replace("_", "-"),
            metavar="VALUE",
            help=f"exact {flag.rsplit('_', 1)[-1]} claim of the GitHub workflow",
        )
    keyed = parser.add_argument_group("key-signed material")
    if key_flag:
        from pathlib import Path  # noqa: PLC0415 - a type for argparse only

        keyed.add_argument(
            "--key",
            metavar="PEM",
            type=Path,
            help="PEM public key, for key-signed material (instead of an identity)",
        )
    keyed.add_argument(
        "--insecure-ignore-tlog",
        action="store_true",
        help="accept key-signed material without a transparency log entry (as cosign); "
        "entries present are still verified",
    )


def _given(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name, None)
    return value or None  # "" is "not given", as in cosign


def warn_insecure(args: argparse.Namespace) -> None:
    """Say on stderr, on every use, that an ``--insecure-*`` flag is in force."""
    if getattr(args, "insecure_ignore_tlog", False):
        print(
            "appliance: WARNING: --insecure-ignore-tlog: key-signed material without a "
            "transparency log entry is trusted on the key alone",
            file=sys.stderr,
        )


def identity_given(args: argparse.Namespace) -> bool:
    """Tell whether any certificate flag was given (non-empty)."""
    return any(_given(args, name) for name in (*_IDENTITY_FLAGS, *GITHUB_FLAGS))


def read_key(path: Path) -> object:
    """Load a PEM public key file given on the command line.

    Raises:
        InputError: unreadable, too large, or not a supported public key.
    """
    from airlock_io import inputs  # noqa: PLC0415 - see policy_from_flags
    from appliance.core import keys  # noqa: PLC0415

    pem = inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES)
    return keys.load_pem(pem, where=str(path))


def policy_from_flags(args: argparse.Namespace) -> Policy:
    """The policy the flags describe.

    Raises:
        InputError: no signer named, flags that contradict each other or
            cannot apply, an empty or invalid pattern, an unreadable key.
    """
    # Imported here so that `--help` and `--version` stay fast.
    from appliance.core import keys  # noqa: PLC0415
    from appliance.core.pattern import compile_pattern  # noqa: PLC0415
    from appliance.core.policy import IdentityPolicy, KeyPolicy  # noqa: PLC0415

    key_path: Path | None = getattr(args, "key", None)
    if key_path is not None:
        if identity_given(args):
            msg = "give either --key or the certificate identity flags, not both (the GitHub claims are certificate extensions)"
            raise InputError(msg, reason=Reason.USAGE)
        key = read_key(key_path)
        return KeyPolicy(key=keys.supported(key, str(key_path)))
    identity = _given(args, "certificate_identity")
    identity_re = _given(args, "certificate_identity_regexp")
    issuer = _given(args, "certificate_oidc_issuer")
    issuer_re = _given(args, "certificate_oidc_issuer_regexp")
    if identity is None and identity_re is None:
        msg = "name the signer: --certificate-identity or --certificate-identity-regexp (or --key); an empty value counts as not given"
        raise InputError(msg, reason=Reason.USAGE)
    if issuer is None and issuer_re is None:
        msg = "name the issuer: --certificate-oidc-issuer or --certificate-oidc-issuer-regexp; an empty value counts as not given"
        raise InputError(msg, reason=Reason.USAGE)
    return IdentityPolicy(
        identity=identity,
        identity_regexp=None
        if identity_re is None
        else compile_pattern(identity_re, where="--certificate-identity-regexp"),
        issuer=issuer,
        issuer_regexp=None
        if issuer_re is None
        else compile_pattern(issuer_re, where="--certificate-oidc-issuer-regexp"),
        extensions={
            oid: value
            for flag, oid in GITHUB_FLAGS.items()
            if (value := _given(args, flag)) is not None
        },
    )
