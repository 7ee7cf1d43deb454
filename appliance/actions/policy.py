"""Where a verdict's rules come from: a policy file, cosign-style signer flags, or none (review).

Both faces name the policy the same way, as one of the three sources below,
and every action loads it here: the file is validated before any archive is
opened, keys are read relative to it, and the policy's SHA-256 (what a SLSA
VSA names it by) is computed once, from the file's bytes or from a canonical
form of the flags. A review (the TUI before a policy is written) shows who
signed and never passes anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airlock_io import inputs
from appliance.core import keys
from appliance.core.approvals import policy_digest
from appliance.core.deny import NOTHING_DENIED, DenyList
from appliance.core.errors import InputError, Reason
from appliance.core.pattern import compile_pattern
from appliance.core.policy import IdentityPolicy, KeyPolicy
from appliance.core.policyfile import (
    GITHUB_CLAIMS,
    PolicySpec,
    ResolvedRule,
    Rule,
    Signer,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import timedelta
    from pathlib import Path

    from appliance.core.extensions import Demand


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyFile:
    """A TOML policy file (README "Policy files")."""

    path: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerFlags:
    """cosign's signer flags: an identity and issuer (exact or RE2), GitHub claims; or keys.

    An empty value is "not given", as in cosign: an unset shell variable never
    becomes "anyone".
    """

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    # github_workflow_{trigger,sha,name,repository,ref} -> value
    github: Mapping[str, str] = field(default_factory=dict)
    keys: tuple[Path, ...] = ()
    # --repo, --owner, --signer-workflow, ... and --certificate-extension
    # NAME=VALUE (appliance/core/extensions.py).
    demands: tuple[Demand, ...] = ()

    @property
    def identity_given(self) -> bool:
        """Whether any certificate flag was given (non-empty)."""
        return (
            any((self.identity, self.identity_regexp, self.issuer, self.issuer_regexp))
            or any(self.github.values())
            or bool(self.demands)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewOnly:
    """No policy yet: signatures are checked against anyone so their signers can be *shown*."""


PolicySource = PolicyFile | SignerFlags | ReviewOnly


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedPolicy:
    """The rules to judge with, what to call them, and their digest."""

    rules: tuple[ResolvedRule, ...]
    name: str  # the file's path, "command-line flags", or "none (review only)"
    sha256: str  # hex: what a verification summary names the policy by
    review: bool = False
    deny: DenyList = NOTHING_DENIED  # the file's [[deny]] entries
    # Keys a revocation feed must verify under (revocation_keys), and how
    # old the newest applied feed may be (max_revocation_age).
    revocation_keys: tuple[keys.PublicKey, ...] = ()
    max_revocation_age: timedelta | None = None
    # Two-person integrity (docs/revocation.md §4): what an approval covers
    # (the file and every key file it reads), and who approved it.
    approval_sha256: str = ""
    approved_by: tuple[str, ...] = ()


def _file(source: PolicyFile) -> LoadedPolicy:
    data = inputs.read_file(
        source.path, what="policy", max_bytes=inputs.MAX_POLICY_BYTES
    )
    spec = PolicySpec.from_toml(data, source=str(source.path))
    base = source.path.parent
    files: dict[str, bytes] = {}

    def read_key(relative: str) -> bytes:
        files[relative] = inputs.read_file(
            base / relative, what="key", max_bytes=inputs.MAX_KEY_BYTES
        )
        return files[relative]

    rules = spec.resolve(read_key)
    deny = spec.deny_list(read_key)
    revocation_keys = tuple(
        keys.supported(
            keys.load_pem(read_key(k), where=f"{source.path}: revocation_keys"),
            str(k),
        )
        for k in spec.revocation_keys
    )
    return LoadedPolicy(
        rules=rules,
        name=str(source.path),
        sha256=hashlib.sha256(data).hexdigest(),
        deny=deny,
        revocation_keys=revocation_keys,
        max_revocation_age=spec.max_revocation_age,
        approval_sha256=policy_digest(data, files),
    )


def identity_policy(flags: SignerFlags) -> IdentityPolicy:
    """The identity (and issuer, and GitHub claims) the flags demand.

    Raises:
        InputError: no identity or no issuer named; an invalid pattern.
    """
    identity, identity_re = flags.identity or None, flags.identity_regexp or None
    issuer, issuer_re = flags.issuer or None, flags.issuer_regexp or None
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
            GITHUB_CLAIMS[claim]: value
            for claim, value in sorted(flags.github.items())
            if value
        },
        demands=flags.demands,
    )


def read_public_key(path: Path) -> keys.PublicKey:
    """A PEM public key named on the command line.

    Raises:
        InputError: unreadable, too large, or not a supported public key.
    """
    pem = inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES)
    return keys.supported(keys.load_pem(pem, where=str(path)), str(path))


def _flags(flags: SignerFlags, extras: Mapping[str, object]) -> LoadedPolicy:
    signers: list[Signer] = []
    key_digests = []
    if flags.keys:
        if flags.identity_given:
            msg = "give --key or the certificate identity flags, not both (the GitHub claims are certificate extensions)"
            raise InputError(msg, reason=Reason.USAGE)
        for path in flags.keys:
            pem = inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES)
            key_digests.append(hashlib.sha256(pem).hexdigest())
            signers.append(
                Signer(
                    name=f"key {path}",
                    policy=KeyPolicy(key=keys.load_pem(pem, where=str(path))),
                )
            )
    else:
        who = flags.identity or f"/{flags.identity_regexp}/"
        signers.append(Signer(name=who, policy=identity_policy(flags)))
    rule = Rule(line=0, match=("**",), signers=(), threshold=1)
    canonical = {
        "certificate_identity": flags.identity,
        "certificate_identity_regexp": flags.identity_regexp,
        "certificate_oidc_issuer": flags.issuer,
        "certificate_oidc_issuer_regexp": flags.issuer_regexp,
        "keys": key_digests,
        **extras,
    }
    if any(flags.github.values()):  # absent otherwise: earlier digests hold
        canonical["github"] = {k: v for k, v in sorted(flags.github.items()) if v}
    return LoadedPolicy(
        rules=(ResolvedRule(rule=rule, signers=tuple(signers)),),
        name="command-line flags",
        sha256=hashlib.sha256(
            json.dumps(canonical, sort_keys=True).encode()
        ).hexdigest(),
    )


def _review() -> LoadedPolicy:
    anyone = IdentityPolicy(
        identity_regexp=compile_pattern(".+", where="review"),
        issuer_regexp=compile_pattern(".+", where="review"),
    )
    rule = Rule(line=0, match=("**",), signers=(), threshold=1)
    return LoadedPolicy(
        rules=(
            ResolvedRule(
                rule=rule,
                signers=(Signer(name="anyone (review only)", policy=anyone),),
            ),
        ),
        name="none (review only)",
        sha256="",
        review=True,
    )


def load_policy(
    source: PolicySource,
    *,
    annotations: Mapping[str, str] | None = None,
    require_attestations: Sequence[str] = (),
    insecure_ignore_tlog: bool = False,
) -> LoadedPolicy:
    """The rules ``source`` describes, validated before anything else is read.

    The extra demands (``-a``, ``--require-attestation``,
    ``--insecure-ignore-tlog``) join the flags' digest, so a VSA names
    exactly what was demanded.

    Raises:
        InputError: an unreadable or invalid policy or key file; flags that
            name no signer, contradict each other, or cannot apply.
    """
    if isinstance(source, PolicyFile):
        return _file(source)
    if isinstance(source, ReviewOnly):
        return _review()
    return _flags(
        source,
        {
            "require_attestation": sorted(require_attestations),
            "annotations": sorted(f"{k}={v}" for k, v in (annotations or {}).items()),
            "insecure_ignore_tlog": insecure_ignore_tlog,
        },
    )


def countersign_keys(paths: Sequence[Path]) -> tuple[Signer, ...]:
    """The appliance keys ``--require-countersignature`` names.

    Raises:
        InputError: a file that is not a public key.
    """
    return tuple(
        Signer(
            name=f"countersignature key {path}",
            policy=KeyPolicy(
                key=keys.load_pem(
                    inputs.read_file(path, what="key", max_bytes=inputs.MAX_KEY_BYTES),
                    where=str(path),
                )
            ),
        )
        for path in paths
    )
