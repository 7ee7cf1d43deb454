"""cosign's signer flags, shared by every verifying command.

``--certificate-identity[-regexp]``, ``--certificate-oidc-issuer[-regexp]``,
the ``--certificate-github-workflow-*`` claims, ``--key`` and
``--insecure-ignore-tlog``, read into
:class:`~appliance.actions.policy.SignerFlags` (what the actions take).

As in cosign, an empty value is "not given": an unset shell variable
(``--certificate-identity "$ID"``) never becomes "anyone". Flags that cannot
apply are refused rather than ignored: the GitHub claims are certificate
extensions, so they cannot constrain a ``--key`` signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from appliance.actions.policy import SignerFlags, identity_policy, read_public_key
from appliance.core.errors import InputError, Reason
from appliance.core.extensions import NAMES, demands
from appliance.core.policy import KeyPolicy

if TYPE_CHECKING:
    import argparse

    from appliance.core.extensions import Demand
    from appliance.core.policy import Policy

# cosign's --certificate-github-workflow-* flags and the policy names they fill.
GITHUB_FLAGS = {
    "certificate_github_workflow_trigger": "github_workflow_trigger",
    "certificate_github_workflow_sha": "github_workflow_sha",
    "certificate_github_workflow_name": "github_workflow_name",
    "certificate_github_workflow_repository": "github_workflow_repository",
    "certificate_github_workflow_ref": "github_workflow_ref",
}


# gh attestation verify's flags (appliance/core/extensions.py).
GH_FLAGS = {
    "repo": "source repository OWNER/REPO (or its https:// URL)",
    "owner": "source repository owner (or its https:// URL)",
    "signer_workflow": "workflow that signed, OWNER/REPO/PATH (any ref)",
    "signer_repo": "repository of the workflow that signed, OWNER/REPO",
    "source_ref": "exact source repository ref, e.g. refs/tags/v1.2.3",
    "source_digest": "exact source repository digest (commit)",
}


def _demands(args: argparse.Namespace) -> tuple[Demand, ...]:
    found: list[Demand] = []
    for flag in GH_FLAGS:
        value = getattr(args, flag, None)
        if value:  # "" is "not given", as for every signer flag
            found += demands(flag, value, where="--" + flag.replace("_", "-"))
    if getattr(args, "deny_self_hosted_runners", False):
        found += demands(
            "deny_self_hosted_runners", value=True, where="--deny-self-hosted-runners"
        )
    for item in getattr(args, "certificate_extension", None) or ():
        name, sep, value = item.partition("=")
        if not sep or name not in NAMES:
            msg = f"expected NAME=VALUE with NAME one of {', '.join(NAMES)}"
            raise InputError(msg, where="--certificate-extension", reason=Reason.USAGE)
        found += demands(name, value, where=f"--certificate-extension {name}")
    return tuple(found)


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
    gh = parser.add_argument_group(
        "provenance of certificate-signed material (as gh attestation verify; Fulcio extensions)"
    )
    for flag, what in GH_FLAGS.items():
        gh.add_argument("--" + flag.replace("_", "-"), metavar="VALUE", help=what)
    gh.add_argument(
        "--deny-self-hosted-runners",
        action="store_true",
        help="the runner environment extension must be github-hosted",
    )
    gh.add_argument(
        "--certificate-extension",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="exact value of a Fulcio extension by name (e.g. build_trigger=push, "
        "source_repository_visibility_at_signing=private); repeatable",
    )
    keyed = parser.add_argument_group("key-signed material")
    if key_flag:
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


def signer_flags(
    args: argparse.Namespace, *, keys: tuple[Path, ...] = ()
) -> SignerFlags:
    """The signer flags as given ("" is "not given", as in cosign)."""
    return SignerFlags(
        identity=args.certificate_identity or None,
        identity_regexp=args.certificate_identity_regexp or None,
        issuer=args.certificate_oidc_issuer or None,
        issuer_regexp=args.certificate_oidc_issuer_regexp or None,
        github={
            claim: value
            for flag, claim in GITHUB_FLAGS.items()
            if (value := getattr(args, flag, None))
        },
        keys=keys,
        demands=_demands(args),
    )


def policy_from_flags(args: argparse.Namespace) -> Policy:
    """The one signer the flags describe (``verify-blob``): a key, or an identity.

    Raises:
        InputError: no signer named, flags that contradict each other or
            cannot apply, an empty or invalid pattern, an unreadable key.
    """
    flags = signer_flags(args)
    key_path: Path | None = getattr(args, "key", None)
    if key_path is not None:
        if flags.identity_given:
            msg = "give either --key or the certificate identity flags, not both (the GitHub claims are certificate extensions)"
            raise InputError(msg, reason=Reason.USAGE)
        return KeyPolicy(key=read_public_key(key_path))
    return identity_policy(flags)
