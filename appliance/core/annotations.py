"""Annotations a policy demands of a signed payload, on every signature form.

cosign's ``-a KEY=VALUE`` (``SimpleClaimVerifier``, ``IntotoSubjectClaimVerifier``)
demands that the *signed* payload carry each annotation with exactly that
value. Where it lives depends on the form (docs/cosign.md §10):

* a cosign legacy ``.sig`` payload: its ``optional`` map;
* a cosign v3 bundle (a DSSE in-toto statement): the matched subject's
  ``annotations`` (in-toto v1 ``ResourceDescriptor.annotations``);
* an attestation's statement, the same way, where the policy asks for it.

A form that carries no annotations (a message-signature bundle, a payload
without ``optional``) never satisfies a demand: a rule is never weaker for
one form than for another. Pure; values are compared exactly, as strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.core.errors import Reason, VerificationError

if TYPE_CHECKING:
    from collections.abc import Mapping


def verify_annotations(
    carried: Mapping[str, object] | None,
    *,
    demanded: Mapping[str, str],
    where: str,
) -> None:
    """Check that ``carried`` holds every ``demanded`` annotation, value for value.

    Args:
        carried: the verified payload's annotations; None when the signature
            form carries none.
        demanded: what the policy (or ``-a``) requires; empty demands nothing.
        where: the payload, for the message.

    Raises:
        VerificationError: an annotation missing or different (reason
            ``policy-unsatisfied``).
    """
    for key, value in sorted(demanded.items()):
        if carried is None:
            msg = f"annotation {key!r} is demanded, but this signature form carries no annotations"
            raise VerificationError(msg, reason=Reason.POLICY_UNSATISFIED, where=where)
        found = carried.get(key)
        if not isinstance(found, str) or found != value:
            msg = f"annotation {key!r} is not {value!r}"
            raise VerificationError(msg, reason=Reason.POLICY_UNSATISFIED, where=where)
