"""What the operator demands of a signer: an identity, or a key.

Identity matching follows cosign: ``--certificate-identity`` is an exact match
against the certificate's SAN values, ``--certificate-identity-regexp`` an RE2
pattern searched in them (unanchored, as Go's ``MatchString``; see
:mod:`appliance.core.pattern`); the same for the OIDC issuer. There is no
"any identity" policy: empty values are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.certs import Identity
    from appliance.core.extensions import Demand
    from appliance.core.keys import PublicKey
    from appliance.core.pattern import Pattern


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityPolicy:
    """A signer identity to demand of a Fulcio certificate.

    Exactly one of ``identity``/``identity_regexp`` and one of
    ``issuer``/``issuer_regexp`` must be set, and none may be empty.
    ``extensions`` demands exact values of other Fulcio extensions, by OID
    suffix (e.g. ``"12"``, the source repository URI).
    """

    identity: str | None = None
    identity_regexp: Pattern | None = None
    issuer: str | None = None
    issuer_regexp: Pattern | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    # Named Fulcio extensions and gh attestation verify's checks
    # (appliance/core/extensions.py).
    demands: tuple[Demand, ...] = ()

    def __post_init__(self) -> None:
        """Refuse a policy that names no identity, two, or an empty one (fail closed)."""
        if (self.identity is None) == (self.identity_regexp is None):
            msg = "give exactly one of --certificate-identity and --certificate-identity-regexp"
            raise InputError(msg)
        if (self.issuer is None) == (self.issuer_regexp is None):
            msg = "give exactly one of --certificate-oidc-issuer and --certificate-oidc-issuer-regexp"
            raise InputError(msg)
        if self.identity == "" or self.issuer == "":
            # An unset shell variable must never mean "anyone".
            msg = "an empty identity or issuer names no one"
            raise InputError(msg)
        if any(not value for value in self.extensions.values()):
            msg = "an empty certificate extension value demands nothing"
            raise InputError(msg)

    def _describe_identity(self) -> str:
        if self.identity is not None:
            return self.identity
        return f"/{self.identity_regexp.text if self.identity_regexp else ''}/"

    def _describe_issuer(self) -> str:
        if self.issuer is not None:
            return self.issuer
        return f"/{self.issuer_regexp.text if self.issuer_regexp else ''}/"

    def verify(self, found: Identity) -> str:
        """Check the certificate's identity against this policy.

        Returns:
            The SAN value that satisfied the policy: the signer to report.

        Raises:
            VerificationError: identity, issuer or an extension differs.
        """
        matched: str | None = None
        if self.identity is not None:
            matched = self.identity if self.identity in found.sans else None
        elif self.identity_regexp is not None:
            matched = next(
                (san for san in found.sans if self.identity_regexp.search(san)), None
            )
        if matched is None:
            msg = f"certificate identity {', '.join(found.sans) or '(none)'} does not match {self._describe_identity()}"
            raise VerificationError(
                msg, reason=Reason.IDENTITY_MISMATCH, where="certificate"
            )
        issuer = found.issuer or ""
        if self.issuer is not None:
            ok = issuer == self.issuer
        else:
            ok = self.issuer_regexp is not None and self.issuer_regexp.search(issuer)
        if not ok:
            msg = f"certificate OIDC issuer {issuer or '(none)'} does not match {self._describe_issuer()}"
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
        for demand in self.demands:
            demand.check(found)
        return matched


@dataclass(frozen=True, slots=True, kw_only=True)
class AnyIdentity:
    """Any one of several identity policies (a policy file's keyless signers).

    One cryptographic verification serves them all: which of them the
    verified identity satisfies is then read from the result's identity.
    """

    policies: tuple[IdentityPolicy, ...]

    def verify(self, found: Identity) -> str:
        """The SAN the first satisfied policy matched.

        Raises:
            VerificationError: no policy is satisfied (the first one's reason).
        """
        first: VerificationError | None = None
        for policy in self.policies:
            try:
                return policy.verify(found)
            except VerificationError as exc:
                first = first or exc
        raise first or VerificationError(
            "no identity policy", reason=Reason.POLICY_UNSATISFIED
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPolicy:
    """A public key that must have made the signature (no certificate)."""

    key: PublicKey


Policy = IdentityPolicy | AnyIdentity | KeyPolicy
