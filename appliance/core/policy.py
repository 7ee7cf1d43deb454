"""What the operator demands of a signer: an identity, or a key.

Identity matching follows cosign: ``--certificate-identity`` is an exact match
against the certificate's SAN values, ``--certificate-identity-regexp`` a
regular expression searched in them (unanchored, as Go's ``MatchString``);
the same for the OIDC issuer. There is no "any identity" policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.certs import Identity
    from appliance.core.keys import PublicKey


def compile_regexp(pattern: str, *, flag: str) -> re.Pattern[str]:
    """Compile an operator's regular expression, naming the flag on error."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        msg = f"invalid regular expression: {exc}"
        raise InputError(msg, where=flag) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityPolicy:
    """A signer identity to demand of a Fulcio certificate.

    Exactly one of ``identity``/``identity_regexp`` and one of
    ``issuer``/``issuer_regexp`` must be set. ``extensions`` demands exact
    values of other Fulcio extensions, by OID suffix (e.g. ``"12"``, the
    source repository URI).
    """

    identity: str | None = None
    identity_regexp: re.Pattern[str] | None = None
    issuer: str | None = None
    issuer_regexp: re.Pattern[str] | None = None
    extensions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a policy that names no identity or two (fail closed)."""
        if (self.identity is None) == (self.identity_regexp is None):
            msg = "give exactly one of --certificate-identity and --certificate-identity-regexp"
            raise InputError(msg)
        if (self.issuer is None) == (self.issuer_regexp is None):
            msg = "give exactly one of --certificate-oidc-issuer and --certificate-oidc-issuer-regexp"
            raise InputError(msg)

    def verify(self, found: Identity) -> None:
        """Check the certificate's identity against this policy.

        Raises:
            VerificationError: identity, issuer or an extension differs.
        """
        if self.identity is not None:
            ok = self.identity in found.sans
        else:
            pattern = self.identity_regexp
            ok = pattern is not None and any(pattern.search(san) for san in found.sans)
        if not ok:
            want = (
                self.identity
                if self.identity is not None
                else f"/{self.identity_regexp.pattern if self.identity_regexp else ''}/"
            )
            msg = f"certificate identity {', '.join(found.sans) or '(none)'} does not match {want}"
            raise VerificationError(
                msg, reason=Reason.IDENTITY_MISMATCH, where="certificate"
            )
        issuer = found.issuer or ""
        if self.issuer is not None:
            ok = issuer == self.issuer
        else:
            ok = (
                self.issuer_regexp is not None
                and self.issuer_regexp.search(issuer) is not None
            )
        if not ok:
            want = (
                self.issuer
                if self.issuer is not None
                else f"/{self.issuer_regexp.pattern if self.issuer_regexp else ''}/"
            )
            msg = f"certificate OIDC issuer {issuer or '(none)'} does not match {want}"
            raise VerificationError(
                msg, reason=Reason.ISSUER_MISMATCH, where="certificate"
            )
        for suffix, expected in self.extensions.items():
            actual = found.extensions.get(suffix)
            if actual != expected:
                msg = f"certificate extension 1.3.6.1.4.1.57264.1.{suffix} is {actual!r}, policy demands {expected!r}"
                raise VerificationError(
                    msg, reason=Reason.POLICY_UNSATISFIED, where="certificate"
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPolicy:
    """A public key that must have made the signature (no certificate)."""

    key: PublicKey


Policy = IdentityPolicy | KeyPolicy
