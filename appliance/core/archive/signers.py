"""Who signed, and whether enough of the policy's signers did.

One piece of evidence is verified with each kind of signer the rule allows
(every keyless identity at once, or each key), and records every policy
signer it satisfies. A threshold counts *distinct* actual signers through a
maximum matching, so one signer fitting two entries counts once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from appliance.core import keys
from appliance.core.archive.verdict import Evidence, Unmet
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.policy import AnyIdentity, IdentityPolicy, KeyPolicy, Policy

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from appliance.core.archive.verdict import Site
    from appliance.core.policyfile import Signer
    from appliance.core.report import VerificationResult


def _attempts(signers: Sequence[Signer], *, certificate: bool) -> list[Policy]:
    """The policies to verify with: every keyless signer at once, or each key."""
    if certificate:
        identities = tuple(
            s.policy for s in signers if isinstance(s.policy, IdentityPolicy)
        )
        return [AnyIdentity(policies=identities)] if identities else []
    return [s.policy for s in signers if isinstance(s.policy, KeyPolicy)]


def _satisfied(
    result: VerificationResult, signers: Sequence[Signer]
) -> tuple[str, ...]:
    """The names of every policy signer this verified signature satisfies."""
    names = []
    for signer in signers:
        policy = signer.policy
        if isinstance(policy, KeyPolicy):
            if result.key_id is not None and keys.key_id(policy.key) == result.key_id:
                names.append(signer.name)
        elif isinstance(policy, IdentityPolicy) and result.identity is not None:
            try:
                policy.verify(result.identity)
            except VerificationError:
                continue
            names.append(signer.name)
    return tuple(names)


def judge(
    site: Site,
    run: Callable[[Policy], VerificationResult],
    signers: Sequence[Signer],
    *,
    certificate: bool,
    claimed: str | None = None,
) -> Evidence:
    """Verify with each kind of signer the policy allows; the first success counts.

    ``claimed`` is the predicate type the evidence claims, reported when it
    does not verify; a verified one reports its verified statement's.
    """

    def refused(
        reason: Reason, message: str, error: VerificationError | None = None
    ) -> Evidence:
        return Evidence(
            site=site,
            verified=False,
            predicate_type=claimed,
            reason=reason,
            message=message,
            error=error,
        )

    attempts = _attempts(signers, certificate=certificate)
    if not attempts:
        kind = "keyless signer" if certificate else "key"
        msg = f"signed with a {'certificate' if certificate else 'key'}, but the policy names no {kind}"
        return refused(Reason.POLICY_UNSATISFIED, msg)
    first: VerificationError | None = None
    for policy in attempts:
        try:
            result = run(policy)
        except VerificationError as exc:
            first = first or exc
            continue
        except InputError as exc:
            return refused(Reason.MALFORMED_INPUT, exc.diagnostics())
        return Evidence(
            site=site,
            verified=True,
            satisfies=_satisfied(result, signers),
            predicate_type=result.predicate_type,
            result=result,
        )
    assert first is not None  # noqa: S101 - attempts is not empty
    return refused(first.reason, first.diagnostics(), first)


def distinct_signers(evidence: Sequence[Evidence]) -> int:
    """How many of the policy's signers are met by distinct actual signers.

    A maximum matching between who signed (a SAN and issuer, or a key) and
    the policy's signer entries: one signer fitting two entries (an exact
    identity and a regexp) counts once, so "2 of 3" needs two signers.
    """
    edges: dict[str, set[str]] = defaultdict(set)
    for e in evidence:
        if e.verified and e.signer is not None and e.satisfies:
            edges[e.signer].update(e.satisfies)
    taken: dict[str, str] = {}  # policy signer -> who fills it

    def assign(who: str, seen: set[str]) -> bool:
        for name in sorted(edges[who]):
            if name in seen:
                continue
            seen.add(name)
            if name not in taken or assign(taken[name], seen):
                taken[name] = who
                return True
        return False

    return sum(assign(who, set()) for who in sorted(edges))


def threshold(evidence: Sequence[Evidence], *, need: int, what: str) -> None:
    """Raise :class:`Unmet` unless ``need`` distinct policy signers signed (saying why not)."""
    met = distinct_signers(evidence)
    if met >= need:
        return
    # A check that failed says more than a signature the policy had no signer for.
    broken = next((e for e in evidence if e.error), None)
    if met:
        msg = f"{what}: {met} of the {need} required signers signed"
        if broken is None:
            raise Unmet(Reason.POLICY_UNSATISFIED, msg)
        raise Unmet(
            broken.error.reason if broken.error else Reason.POLICY_UNSATISFIED,
            f"{msg}; another: {broken.message}",
        )
    failed = broken or next((e for e in evidence if not e.verified), None)
    if failed is not None:
        raise Unmet(
            failed.reason or Reason.POLICY_UNSATISFIED, f"{what}: {failed.message}"
        )
    if evidence:
        msg = f"{what}: signed, but by no signer of the policy"
        raise Unmet(Reason.POLICY_UNSATISFIED, msg)
    raise Unmet(Reason.POLICY_UNSATISFIED, f"{what}: no signature")
