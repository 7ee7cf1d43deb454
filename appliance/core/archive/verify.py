"""Verify every image of an archive against a policy: contents, trust, rules and ``now`` in; a verdict out.

Pure: the archive was read and hashed by the intake (every blob is its
digest, every descriptor's size holds), and the trust is what the operator's
side established. Here, in order:

1. the export ledger is checked both ways: every blob it lists is in the
   archive, every blob in the archive is listed, and nothing is missing but
   what the ledger says was left out (a platform not asked for, a blob the gap
   already holds);
2. each image the archive claims (``index.json`` and the ledger agreeing, a
   name in the distribution grammar: :mod:`.claims`), or those selected, is
   matched to the first policy rule whose pattern fits the repository it is
   claimed under; none fits: it fails closed. One digest claimed under two
   names is judged twice, once under each name's rule;
3. the trust's staleness must be within the rule's ``max_trust_age``;
4. signatures about the image digest: cosign ``.sig`` layers (the payload must
   name the digest, and the repository it was exported from) and Sigstore
   bundles as referrers (DSSE with predicate ``https://sigstore.dev/cosign/sign/v1``
   whose subject is the digest), each verified by
   :func:`~appliance.core.verifier.verify_bundle`; at least ``threshold``
   distinct signers of the rule must have signed (one signer counts once, even
   if it fits several entries of the rule);
5. every platform the (verified) index lists is carried, unless the
   operator's policy (``platforms``) or flags (``--platform``) say it is not
   required; with ``each_platform``, each platform carried is signed as the
   image is (cosign ``sign --recursive``);
6. attestations (``.att`` layers, and bundles of other predicate types) whose
   statement names the digest and whose signer is one of the rule's; every
   required predicate type present, read from the verified statement;
7. SBOMs carried are summarised, and counted as signed only when a signature
   about the SBOM by one of the rule's signers verifies;
8. deny entries (:mod:`appliance.core.deny`, the policy's and an applied
   revocation feed's): a signature whose signer, key, log entry or
   certificate serial is denied does not count (at 4, 6 and 9 alike), and
   an image whose digest or a platform's is denied fails whatever signed it;
9. signatures about what travels with the image (an attestation's or an
   SBOM's own signature) are judged too: only what a verified signature ties
   to the image may leave the archive with it (:mod:`.gate`).

Annotations a rule demands (``annotations``, ``-a``) are demanded of every
signature form: a legacy payload's ``optional`` map, a v3 bundle statement's
subject annotations, and attestations' too where the rule says so.

An image passes only through the ``return`` at the end of
:func:`_verify_image`; each check of :func:`_demand` raises and names itself.
The pieces live beside this module, one idea each: :mod:`.verdict` (the
values), :mod:`.accounting` (the ledger both ways), :mod:`.forms` (evidence
per signature form), :mod:`.signers` (distinct signers and thresholds),
:mod:`.countersignature`, :mod:`.delta`.
Index annotations only *find* candidates: what a signature is about is
decided by its verified payload or statement, never by an annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from appliance.core.archive import view
from appliance.core.archive.accounting import check_ledger
from appliance.core.archive.claims import Claim, read_claims
from appliance.core.archive.countersignature import countersignature
from appliance.core.archive.delta import foreign_delta
from appliance.core.archive.files import verify_files
from appliance.core.archive.forms import (
    Context,
    attached_evidence,
    bundle_evidence,
    catalog,
    legacy_evidence,
    sboms,
)
from appliance.core.archive.layout import Kind
from appliance.core.archive.signers import threshold
from appliance.core.archive.verdict import (
    ArchiveVerdict,
    Evidence,
    ImageVerdict,
    Options,
    Unmet,
)
from appliance.core.deny import NOTHING_DENIED, DenyList
from appliance.core.errors import Reason
from appliance.core.predicates import PredicateCheck, first_failure, predicate_of

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime, timedelta

    from appliance.core.archive.intake import Contents
    from appliance.core.archive.manifest import Platform
    from appliance.core.policyfile import ResolvedRule, Rule
    from appliance.core.trust import TrustMaterial

__all__ = [
    "ArchiveVerdict",
    "Evidence",
    "ImageVerdict",
    "Options",
    "Work",
    "in_order",
    "verify_archive",
]


def _platforms_present(
    claim: Claim, required: Sequence[Platform], *, explicit: bool
) -> None:
    """Every platform the index lists is carried, but those the operator says are not required.

    ``required`` comes from the policy (``platforms``) or the flags
    (``--platform``); without either (``explicit`` False), every platform
    the verified index lists is required. The ledger's word that a platform
    was left out on purpose never excuses it: only the operator's does.
    """
    if not claim.platforms:
        return
    for wanted in required:
        if not any(
            p.parsed is not None and p.parsed.matches(wanted) for p in claim.platforms
        ):
            msg = f"platform {wanted} is required, but the index lists no such platform"
            raise Unmet(Reason.POLICY_UNSATISFIED, msg)
    for platform in claim.platforms:
        if platform.carried:
            continue
        needed = not explicit or (
            platform.parsed is not None
            and any(platform.parsed.matches(w) for w in required)
        )
        if needed:
            msg = (
                f"platform {platform.platform} ({platform.digest}) is not in the archive, "
                "and neither the policy's platforms nor --platform says it may be left out"
            )
            raise Unmet(Reason.POLICY_UNSATISFIED, msg)


def _demand(  # noqa: PLR0913 - every input named
    rule: Rule,
    *,
    claim: Claim,
    signatures: Sequence[Evidence],
    attestations: Sequence[Evidence],
    required: Sequence[str],
    platforms: Sequence[Platform],
    stale_for: timedelta | None,
    now: datetime,
) -> None:
    """Raise ``Unmet`` naming the first demand of ``rule`` the evidence misses."""
    if (
        rule.max_trust_age is not None
        and stale_for is not None
        and stale_for > rule.max_trust_age
    ):
        msg = (
            f"the trust root has been stale for {stale_for.days} days, "
            f"over the policy's max_trust_age of {rule.max_trust_age.days} days"
        )
        raise Unmet(Reason.TRUST_ROOT_EXPIRED, msg)
    threshold(
        [s for s in signatures if s.site.subject == claim.digest],
        need=rule.threshold,
        what="image",
    )
    _platforms_present(
        claim,
        (*rule.platforms, *platforms),
        explicit=bool(rule.platforms or platforms),
    )
    if rule.each_platform:
        for platform in claim.platforms:
            if platform.carried:
                threshold(
                    [s for s in signatures if s.site.subject == platform.digest],
                    need=rule.threshold,
                    what=f"platform {platform.platform}",
                )
    for predicate in required:
        matching = [a for a in attestations if a.predicate_type == predicate]
        if any(a.verified and a.satisfies for a in matching):
            continue
        failed = next((a for a in matching if not a.verified), None)
        detail = f": {failed.message}" if failed else ""
        reason = (
            failed.reason if failed and failed.reason else Reason.POLICY_UNSATISFIED
        )
        raise Unmet(
            reason,
            f"no verified attestation of {predicate} by a signer of the policy{detail}",
        )
    _predicates_met(rule, attestations, now=now)


def _predicates_met(
    rule: Rule, attestations: Sequence[Evidence], *, now: datetime
) -> None:
    """Each predicate type the rule checks: one verified attestation meets all its entries.

    Values come from the verified statement alone (core/predicates.py).
    """
    by_type: dict[str, list[PredicateCheck]] = {}
    for check in rule.predicates:
        by_type.setdefault(check.predicate_type, []).append(check)
    for kind, checks in by_type.items():
        candidates = [
            a
            for a in attestations
            if a.verified and a.satisfies and a.predicate_type == kind and a.result
        ]
        if not candidates:
            msg = f"no verified attestation of {kind} by a signer of the policy (predicate rule at line {checks[0].line})"
            raise Unmet(Reason.POLICY_UNSATISFIED, msg)
        failures = []
        for found in candidates:
            assert found.result is not None  # noqa: S101 - filtered above
            failed = first_failure(
                tuple(checks), predicate_of(found.result.payload), now=now
            )
            if failed is None:
                break
            failures.append(failed)
        else:
            check, why = failures[0]
            msg = f"predicate rule at line {check.line} ({check.describe()}) is not met: {why}"
            raise Unmet(Reason.POLICY_UNSATISFIED, msg)


def _denied(evidence: Evidence, deny: DenyList) -> Evidence:
    """``evidence``, no longer counted when a deny entry names its signer (or its subject, dated)."""
    if not evidence.verified or evidence.result is None:
        return evidence
    denial = deny.signature(evidence.result, subject=evidence.site.subject)
    if denial is None:
        return evidence
    return replace(
        evidence,
        verified=False,
        satisfies=(),
        reason=Reason.DENIED_SIGNER,
        message=f"signed by {evidence.signer}, but {denial.describe()}",
        # Kept: the report shows who signed and when; it no longer counts.
    )


def _verify_image(  # noqa: PLR0913 - every input named
    claim: Claim,
    *,
    deny: DenyList,
    contents: Contents,
    about: dict[tuple[str, str], list[str]],
    agreed: frozenset[tuple[str, str, str]],
    rules: Sequence[ResolvedRule],
    held: Mapping[str, TrustMaterial],
    now: datetime,
    options: Options,
) -> ImageVerdict:
    verdict = ImageVerdict(
        ref=claim.asked,
        reference=claim.reference,
        digest=claim.digest,
        platforms=tuple((p.platform, p.digest, p.carried) for p in claim.platforms),
        verified=False,
        reason=Reason.POLICY_UNSATISFIED,
        message="",
        rule=None,
    )
    if claim.invalid is not None:
        return replace(verdict, reason=Reason.MALFORMED_INPUT, message=claim.invalid)
    repository = claim.repository
    resolved = next((r for r in rules if r.rule.matches(repository)), None)
    if resolved is None:
        return replace(
            verdict,
            message=f"no policy rule matches {repository}: refused (fail closed)",
        )
    rule = resolved.rule
    missing = [name for name in rule.trust if name not in held]
    if missing:
        return replace(
            verdict,
            rule=rule.line,
            reason=Reason.TRUST_ROOT_INVALID,
            message=f"the rule names trust root {missing[0]!r}, which is not held: refused (fail closed)",
        )
    ctx = Context(
        contents=contents,
        about=about,
        agreed=agreed,
        trusts=tuple(held[name] for name in rule.trust),
        now=now,
        signers=resolved.signers,
        insecure_ignore_tlog=rule.insecure_ignore_tlog or options.insecure_ignore_tlog,
        annotations={**rule.annotations, **options.annotations},
        attestation_annotations=rule.annotations_on_attestations,
        repository=repository,
    )
    # The rule's max_trust_age bounds the stalest of the roots it names.
    stale = [now - t.stale_since for t in ctx.trusts if t.stale_since is not None]
    stale_for = max(stale) if stale else None
    # Every platform carried is judged (what verifies about it travels with
    # it), though only each_platform demands its signatures.
    subjects = [claim.digest, *(p.digest for p in claim.platforms if p.carried)]
    found = [
        e
        for s in subjects
        for e in (*legacy_evidence(ctx, s, attestation=False), *bundle_evidence(ctx, s))
    ]
    found += legacy_evidence(ctx, claim.digest, attestation=True)
    found = [_denied(e, deny) for e in found]
    signatures = tuple(e for e in found if e.site.kind == "signature")
    attestations = tuple(
        e
        for e in found
        if e.site.kind == "attestation" and e.site.subject == claim.digest
    )
    roots = [
        e.site.manifest for e in (*signatures, *attestations) if e.verified
    ] + list(ctx.about.get((Kind.SBOM, claim.digest), ()))
    attached = tuple(_denied(e, deny) for e in attached_evidence(ctx, roots))
    verdict = replace(
        verdict,
        rule=rule.line,
        signatures=signatures,
        attestations=attestations,
        sboms=tuple(sboms(ctx, claim.digest, attached)),
        attached=attached,
    )
    denial = deny.image([claim.digest, *(p.digest for p in claim.platforms)])
    if denial is not None:
        return replace(
            verdict, reason=Reason.DENIED_DIGEST, message=f"denied: {denial.describe()}"
        )
    try:
        _demand(
            rule,
            claim=claim,
            signatures=signatures,
            attestations=attestations,
            required=(*rule.require_attestations, *options.require_attestations),
            platforms=options.platforms,
            stale_for=stale_for,
            now=now,
        )
        if options.countersigners:
            countersigned = countersignature(ctx, claim.digest, options.countersigners)
            verdict = replace(
                verdict, attestations=(*verdict.attestations, countersigned)
            )
    except Unmet as failed:
        return replace(verdict, reason=failed.reason, message=failed.message)
    signers = sorted(
        {
            e.signer
            for e in signatures
            if e.verified
            and e.satisfies
            and e.signer
            and e.site.subject == claim.digest
        }
    )
    met = (
        f"; predicate rules met (lines {', '.join(str(c.line) for c in rule.predicates)})"
        if rule.predicates
        else ""
    )
    return replace(
        verdict,
        verified=True,
        reason=None,
        message=f"signed by {'; '.join(signers)}{met}",
    )


def _selected(
    claims: Sequence[Claim], images: tuple[str, ...]
) -> tuple[list[Claim], list[str]]:
    """The images ``--image`` names (as asked, as claimed, by digest or repository)."""
    if not images:
        return list(claims), []
    chosen: list[Claim] = []
    taken: set[Claim] = set()  # chosen's members (a list scan per claim: quadratic)
    problems = []
    for wanted in images:
        found = [
            c
            for c in claims
            if wanted in (c.asked, c.reference, c.digest)
            or c.reference.startswith((f"{wanted}:", f"{wanted}@"))
        ]
        if not found:
            problems.append(f"--image {wanted}: no such image in the archive")
        for claim in found:
            if claim not in taken:
                taken.add(claim)
                chosen.append(claim)
    return chosen, problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Work:
    """Every claimed image to judge, with all that judging one needs, prepared once.

    Each image's judgement (:meth:`judge`) is pure and independent of every
    other's: bytes, trust and ``now`` in, one verdict out. A runner may
    therefore judge them in any order and in any process, and the archive's
    verdict is the same: runners return the verdicts in claim order.
    """

    claims: tuple[Claim, ...]
    contents: Contents
    about: dict[tuple[str, str], list[str]]
    agreed: frozenset[tuple[str, str, str]]
    rules: tuple[ResolvedRule, ...]
    held: Mapping[str, TrustMaterial]  # every named root; a rule uses those it names
    now: datetime
    options: Options
    deny: DenyList = NOTHING_DENIED
    # What was wrong with the archive as a whole (known before any image is
    # judged): a signed image is refused all the same.
    problems: tuple[str, ...] = ()
    foreign: str | None = None  # a delta against an inventory not ours
    # Applied to each final verdict where it was judged (the edge's: a
    # review's refusal, a report entry rendered and the evidence compacted).
    finish: Callable[[ImageVerdict], ImageVerdict] | None = None

    def __len__(self) -> int:
        """How many images there are to judge."""
        return len(self.claims)

    def judge(self, index: int) -> ImageVerdict:
        """The final verdict of the ``index``-th claimed image (archive-level problems applied)."""
        verdict = _verify_image(
            self.claims[index],
            deny=self.deny,
            contents=self.contents,
            about=self.about,
            agreed=self.agreed,
            rules=self.rules,
            held=self.held,
            now=self.now,
            options=self.options,
        )
        if self.problems and verdict.verified:
            # Signed, but not what the export accounted for: refused all the same.
            msg = f"the archive is not what its ledger says: {self.problems[0]}"
            verdict = replace(
                verdict, verified=False, reason=Reason.DIGEST_MISMATCH, message=msg
            )
        elif self.foreign is not None and verdict.verified:
            verdict = replace(
                verdict,
                verified=False,
                reason=Reason.POLICY_UNSATISFIED,
                message=self.foreign,
            )
        return verdict if self.finish is None else self.finish(verdict)


def in_order(work: Work) -> list[ImageVerdict]:
    """Judge each image in turn, in this process (the default runner)."""
    return [work.judge(i) for i in range(len(work))]


def verify_archive(  # noqa: PLR0913 - keyword-only, each input named
    contents: Contents,
    *,
    rules: Sequence[ResolvedRule],
    trust: TrustMaterial,
    now: datetime,
    options: Options | None = None,
    others: Mapping[str, TrustMaterial] | None = None,
    deny: DenyList = NOTHING_DENIED,
    runner: Callable[[Work], Sequence[ImageVerdict]] = in_order,
    finish: Callable[[ImageVerdict], ImageVerdict] | None = None,
) -> ArchiveVerdict:
    """Verify the archive's images against ``rules`` under ``trust``.

    Args:
        contents: what the intake read (every blob already hashed).
        rules: the policy's rules, resolved (first match applies).
        trust: what the operator's side trusts (never the archive's): the
            default root, for rules that name none (``public-good``).
        others: the other named roots the operator's side holds; a rule
            uses exactly those it names (``trust = [...]``).
        now: the appliance clock (trust staleness; recorded).
        options: selection, ``-a`` annotations, extra required attestations.
        deny: the deny entries in force (the policy's and an applied
            feed's): a denied digest fails its image, a denied signer's
            signatures do not count.
        runner: judges every image of a :class:`Work` and returns the
            verdicts in claim order (default :func:`in_order`, here; the
            edge may spread them over processes, ``--jobs``).
        finish: applied to each image's final verdict where it is judged
            (:attr:`Work.finish`).

    Returns:
        The verdict of each selected image (one per name it is claimed
        under) and any archive-level problem; ``verified`` is True only if
        the archive is whole and all passed.

    Raises:
        InputError: the archive has no readable ledger.
    """
    options = options or Options()
    ledger, entry = view.ledger(contents)
    claims, disagreements = read_claims(contents, ledger)
    problems = [*check_ledger(contents, ledger, entry), *disagreements]
    chosen, missing = _selected(claims, options.images)
    problems += missing
    foreign = foreign_delta(ledger, options.inventories)
    about, agreed = catalog(contents, ledger)
    work = Work(
        claims=tuple(chosen),
        contents=contents,
        about=about,
        agreed=agreed,
        rules=tuple(rules),
        held={**(others or {}), trust.name: trust},
        now=now,
        options=options,
        deny=deny,
        problems=tuple(problems),
        foreign=foreign,
        finish=finish,
    )
    verdicts = runner(work)
    if len(verdicts) != len(work):
        # A runner that lost an image must not let the others pass for all.
        msg = f"the runner judged {len(verdicts)} of {len(work)} images"
        raise AssertionError(msg)
    # Files (verify_files) are judged under the default root, as before.
    stale_for = None if trust.stale_since is None else now - trust.stale_since
    files, disagreements = (
        ((), [])
        if options.images  # --image selects images only
        else verify_files(
            contents,
            ledger,
            rules=rules,
            trust=trust,
            now=now,
            insecure_ignore_tlog=options.insecure_ignore_tlog,
            annotations=options.annotations,
            stale_for=stale_for,
            deny=deny,
        )
    )
    problems += disagreements
    if problems or foreign is not None:
        # As for images: signed, but not what the export accounted for (or a
        # delta against an inventory this appliance did not write).
        reason = Reason.DIGEST_MISMATCH if problems else Reason.POLICY_UNSATISFIED
        msg = (
            f"the archive is not what its ledger says: {problems[0]}"
            if problems
            else str(foreign)
        )
        files = tuple(
            replace(f, verified=False, reason=reason, message=msg) if f.verified else f
            for f in files
        )
    return ArchiveVerdict(
        images=tuple(verdicts),
        problems=tuple(problems if foreign is None else [*problems, foreign]),
        ledger=ledger,
        files=files,
    )
