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
8. signatures about what travels with the image (an attestation's or an
   SBOM's own signature) are judged too: only what a verified signature ties
   to the image may leave the archive with it (:mod:`.gate`).

Annotations a rule demands (``annotations``, ``-a``) are demanded of every
signature form: a legacy payload's ``optional`` map, a v3 bundle statement's
subject annotations, and attestations' too where the rule says so.

An image passes only through the ``return`` at the end of
:func:`_verify_image`; each check of :func:`_demand` raises and names itself.
Index annotations only *find* candidates: what a signature is about is
decided by its verified payload or statement, never by an annotation.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from appliance.core import _json, dsse, image_signing, keys
from appliance.core.annotations import verify_annotations
from appliance.core.archive import media, view
from appliance.core.archive.claims import Claim, read_claims
from appliance.core.archive.layout import Kind
from appliance.core.archive.manifest import ImageManifest
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle, DsseEnvelope
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.legacy import (
    CERTIFICATE,
    PREDICATE_TYPE,
    LegacySignature,
    verify_legacy,
    verify_legacy_attestation,
)
from appliance.core.limits import DEFAULT_LIMITS
from appliance.core.policy import AnyIdentity, IdentityPolicy, KeyPolicy, Policy
from appliance.core.verifier import verify_bundle

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime, timedelta

    from appliance.core.archive.intake import Contents
    from appliance.core.archive.ledger import Ledger
    from appliance.core.archive.manifest import Descriptor, Platform
    from appliance.core.policyfile import ResolvedRule, Rule, Signer
    from appliance.core.report import VerificationResult
    from appliance.core.trust import TrustMaterial


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What the operator asked for beyond the policy."""

    images: tuple[str, ...] = ()  # --image: only these (as asked, or repository)
    annotations: dict[str, str] = field(default_factory=dict)  # -a
    require_attestations: tuple[str, ...] = ()  # --require-attestation
    insecure_ignore_tlog: bool = False  # --insecure-ignore-tlog
    countersigners: tuple[
        Signer, ...
    ] = ()  # --require-countersignature: the appliance keys
    # A delta is accepted only against an inventory named here (those this
    # appliance wrote); None: any (--allow-foreign-inventory, or the
    # connected side judging its own plan).
    inventories: frozenset[str] | None = frozenset()
    # --platform: the platforms an index must carry; the others may be
    # absent (left out at export). Empty: every platform the index lists.
    platforms: tuple[Platform, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """Where a piece of evidence is: what kind, which manifest and blob, about what."""

    kind: str  # signature | attestation
    form: str  # cosign-legacy | sigstore-bundle
    manifest: str  # the .sig/.att/referrer manifest
    blob: str  # the layer or bundle
    subject: str  # the digest it is about


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One signature or attestation as judged: verified or not, and why."""

    site: Site
    verified: bool
    satisfies: tuple[str, ...] = ()  # the policy signers it satisfied
    predicate_type: str | None = None  # from the verified statement when verified
    reason: Reason | None = None
    message: str | None = None
    result: VerificationResult | None = None
    error: VerificationError | None = None  # kept for the edge (split views)

    @property
    def signer(self) -> str | None:
        """Who actually signed: the SAN and issuer, or the key id (distinct signers)."""
        if self.result is None:
            return None
        return (
            f"{self.result.signer} ({self.result.issuer})"
            if self.result.issuer
            else self.result.signer
        )

    def to_json(self) -> dict[str, Any]:
        """The stable JSON of one signature or attestation."""
        result = self.result
        return {
            "kind": self.site.kind,
            "form": self.site.form,
            "manifest": self.site.manifest,
            "blob": self.site.blob,
            "subject": self.site.subject,
            "verified": self.verified,
            "signer": None if result is None or result.key_id else result.signer,
            "issuer": None if result is None else result.issuer,
            "key_id": None
            if result is None or result.key_id is None
            else result.key_id.hex(),
            "policy_signers": list(self.satisfies),
            "signing_time": None if result is None else _iso(result.signing_time),
            "signing_time_source": None if result is None else result.time_source.value,
            "log_index": None if result is None else result.log_index,
            "log_url": None if result is None else result.log_url,
            "predicate_type": self.predicate_type,
            "checks": [] if result is None else list(result.checks),
            "reason": None if self.reason is None else self.reason.value,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Sbom:
    """An SBOM carried: its format and size, and whether it is signed."""

    manifest: str  # the .sbom manifest
    blob: str
    media_type: str
    format: str
    packages: int | None
    signed: bool

    def to_json(self) -> dict[str, Any]:
        """The stable JSON of an SBOM."""
        return {
            "manifest": self.manifest,
            "blob": self.blob,
            "mediaType": self.media_type,
            "format": self.format,
            "packages": self.packages,
            "signed": self.signed,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageVerdict:
    """One image: verified or not, why, and every piece of evidence judged."""

    ref: str  # as the exporter was asked (free text: shown, never used)
    reference: str  # the name judged (the rule matched it; a push uses it)
    digest: str
    platforms: tuple[tuple[str, str, bool], ...]  # (platform, digest, carried)
    verified: bool
    reason: Reason | None
    message: str
    rule: int | None  # the policy rule's line (0: the command-line flags)
    signatures: tuple[Evidence, ...] = ()
    attestations: tuple[Evidence, ...] = ()
    sboms: tuple[Sbom, ...] = ()
    # Signatures about what travels with the image (an attestation's, an
    # SBOM's own): what ties each to the image, for the verified view.
    attached: tuple[Evidence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The stable JSON of one image."""
        return {
            "ref": self.ref,
            "reference": self.reference,
            "digest": self.digest,
            "platforms": [
                {"platform": p, "digest": d, "carried": c} for p, d, c in self.platforms
            ],
            "verified": self.verified,
            "reason": None if self.reason is None else self.reason.value,
            "message": self.message,
            "policy_rule_line": self.rule,
            "signatures": [s.to_json() for s in self.signatures],
            "attestations": [a.to_json() for a in self.attestations],
            "sboms": [s.to_json() for s in self.sboms],
            "attached": [a.to_json() for a in self.attached],
        }

    @property
    def results(self) -> tuple[VerificationResult, ...]:
        """Every verification that passed (for the appliance's memories)."""
        return tuple(
            e.result
            for e in (*self.signatures, *self.attestations, *self.attached)
            if e.result
        )

    @property
    def errors(self) -> tuple[VerificationError, ...]:
        """Every verification error (the edge records split views from them)."""
        return tuple(
            e.error
            for e in (*self.signatures, *self.attestations, *self.attached)
            if e.error is not None
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveVerdict:
    """Every selected image's verdict, and what was wrong with the archive itself."""

    images: tuple[ImageVerdict, ...]
    problems: tuple[str, ...]  # archive-level failures (the ledger, selection)
    ledger: Ledger

    @property
    def verified(self) -> bool:
        """True only if the archive is whole and every selected image passed."""
        return (
            not self.problems
            and bool(self.images)
            and all(i.verified for i in self.images)
        )


class _Failed(Exception):  # noqa: N818 - internal control flow, never escapes
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# -- the ledger, both ways ----------------------------------------------------------


def check_ledger(contents: Contents, ledger: Ledger, entry: Descriptor) -> list[str]:
    """What the archive and its ledger disagree about (empty: nothing)."""
    listed = {c.digest: c for c in ledger.contents}
    accounted = view.accounted(contents, entry, ledger)
    left_out = {p.digest for i in ledger.images for p in i.platforms if not p.included}
    left_out |= {c.digest for c in ledger.omitted_held}
    return [
        *(
            f"the archive holds {d}, which the ledger does not list"
            for d in sorted(set(contents.blobs) - accounted)
        ),
        *(
            f"the ledger lists {d} ({listed[d].role}), which is not in the archive"
            for d in sorted(set(listed) - set(contents.blobs))
        ),
        *(
            f"the ledger says {d} is {c.size} bytes; the archive's is {contents.blobs[d]}"
            for d, c in sorted(listed.items())
            if d in contents.blobs and contents.blobs[d] != c.size
        ),
        *(
            f"{d} is named in the archive but not carried, and the ledger does not say why"
            for d in sorted(contents.missing - left_out)
        ),
        *(
            # Omissions stand only with the inventory they come from (a delta).
            [
                f"the ledger leaves out {len(ledger.omitted_held)} blob(s) as held but names no inventory"
            ]
            if ledger.omitted_held and ledger.delta is None
            else []
        ),
        *(
            f"the ledger says {c.digest} was left out as held, yet the archive carries it"
            for c in ledger.omitted_held
            if c.digest in contents.blobs
        ),
    ]


# -- one piece of evidence -------------------------------------------------------


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


def _judge(
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


# -- finding evidence ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    contents: Contents
    about: dict[tuple[str, str], list[str]]  # (kind, subject) -> manifest digests
    trust: TrustMaterial
    now: datetime
    signers: tuple[Signer, ...]
    insecure_ignore_tlog: bool
    annotations: dict[str, str]  # demanded of every signature
    attestation_annotations: bool  # ... and of every attestation
    repository: str


def _catalog(contents: Contents, ledger: Ledger) -> dict[tuple[str, str], list[str]]:
    """Manifest digests by (kind, subject): candidates only, never trusted.

    From the ledger's related artifacts and the index's annotations both: one
    manifest may be about two subjects (a signature copied byte for byte
    onto another image is one blob, filed once in the index).
    """
    about: dict[tuple[str, str], list[str]] = defaultdict(list)
    pairs = [(r.kind, r.subject, r.digest) for i in ledger.images for r in i.related]
    pairs += [
        (
            e.annotations.get(media.KIND, ""),
            e.annotations.get(media.SUBJECT, ""),
            e.digest,
        )
        for e in contents.index.manifests
    ]
    for kind, subject, digest in pairs:
        if kind and subject and digest not in about[kind, subject]:
            about[kind, subject].append(digest)
    return about


def _layers(contents: Contents, digest: str) -> tuple[Descriptor, ...]:
    manifest = contents.manifests.get(digest)
    return manifest.layers if isinstance(manifest, ImageManifest) else ()


def _legacy(ctx: _Context, subject: str, *, attestation: bool) -> list[Evidence]:
    """The cosign ``.sig`` (or ``.att``) layers filed under ``subject``, each judged."""
    kind, wanted = (
        (Kind.ATTESTATION, media.DSSE_ENVELOPE)
        if attestation
        else (Kind.SIGNATURE, media.SIMPLESIGNING)
    )
    found = []
    for manifest in ctx.about.get((kind, subject), ()):
        for layer in _layers(ctx.contents, manifest):
            if layer.media_type != wanted:
                continue
            site = Site(
                kind="attestation" if attestation else "signature",
                form="cosign-legacy",
                manifest=manifest,
                blob=layer.digest,
                subject=subject,
            )
            signature = LegacySignature(
                payload=ctx.contents.documents.get(layer.digest, b""),
                annotations=layer.annotations,
            )

            def run(
                policy: Policy, signature: LegacySignature = signature
            ) -> VerificationResult:
                if attestation:
                    result = verify_legacy_attestation(
                        signature,
                        image_digest=subject,
                        trust=ctx.trust,
                        policy=policy,
                        now=ctx.now,
                        require_tlog=not ctx.insecure_ignore_tlog,
                    )
                    if ctx.attestation_annotations:
                        verify_annotations(
                            result.subject_annotations,
                            demanded=ctx.annotations,
                            where="attestation statement",
                        )
                    return result
                return verify_legacy(
                    signature,
                    image_digest=subject,
                    trust=ctx.trust,
                    policy=policy,
                    now=ctx.now,
                    require_tlog=not ctx.insecure_ignore_tlog,
                    annotations=ctx.annotations,
                    reference=ctx.repository,
                )

            found.append(
                _judge(
                    site,
                    run,
                    ctx.signers,
                    certificate=bool(layer.annotations.get(CERTIFICATE)),
                    claimed=layer.annotations.get(PREDICATE_TYPE)
                    if attestation
                    else None,
                )
            )
    return found


def _statement_type(bundle: Bundle) -> str | None:
    """The predicate type a DSSE bundle claims (sorting only; judged after verification)."""
    if not isinstance(bundle.content, DsseEnvelope):
        return None
    try:
        return dsse.parse_statement(
            bundle.content.payload, limits=DEFAULT_LIMITS
        ).predicate_type
    except (VerificationError, InputError):
        return None


def _bundles(ctx: _Context, subject: str) -> list[Evidence]:
    """Sigstore bundle referrers of ``subject``, each judged.

    A DSSE bundle whose statement is cosign's signing predicate, or a message
    signature over the manifest, is a signature; any other statement is an
    attestation.
    """
    found = []
    digest = Artifact.from_digest(
        "sha256", bytes.fromhex(subject.removeprefix("sha256:"))
    )
    for where in ctx.about.get((Kind.REFERRER, subject), ()):
        manifest = ctx.contents.manifests.get(where)
        if (
            not isinstance(manifest, ImageManifest)
            or manifest.subject is None
            or manifest.subject.digest != subject
        ):
            continue  # a referrer of something else, filed under this subject
        layers = [
            layer
            for layer in manifest.layers
            if layer.media_type.startswith(media.BUNDLE_PREFIX)
        ]
        if len(layers) != 1:
            continue  # not a Sigstore bundle referrer (formats.md §3.3)
        site = Site(
            kind="signature",
            form="sigstore-bundle",
            manifest=where,
            blob=layers[0].digest,
            subject=subject,
        )
        try:
            bundle = Bundle.from_bytes(ctx.contents.documents.get(site.blob, b""))
        except InputError as exc:
            found.append(
                Evidence(
                    site=site,
                    verified=False,
                    reason=Reason.MALFORMED_INPUT,
                    message=exc.diagnostics(),
                )
            )
            continue
        claimed = _statement_type(bundle)
        if claimed not in (None, media.COSIGN_SIGN_PREDICATE):
            site = replace(site, kind="attestation")

        def run(
            policy: Policy, bundle: Bundle = bundle, kind: str = site.kind
        ) -> VerificationResult:
            result = verify_bundle(
                bundle,
                artifact=digest,
                trust=ctx.trust,
                policy=policy,
                now=ctx.now,
                insecure_ignore_tlog=ctx.insecure_ignore_tlog,
            )
            # cosign v3 writes -a into the statement's subject (formats.md
            # §3.1); a message signature carries none and so satisfies no
            # demand.
            if kind == "signature" or ctx.attestation_annotations:
                verify_annotations(
                    result.subject_annotations,
                    demanded=ctx.annotations,
                    where="bundle statement",
                )
            return result

        found.append(
            _judge(
                site,
                run,
                ctx.signers,
                certificate=bundle.certificate is not None,
                claimed=claimed,
            )
        )
    return found


# What travels with an image is followed this deep: an attestation's
# signature, a signature's countersignature... (the exporter's depth).
_MAX_ATTACHED_DEPTH = 4


def _attached(ctx: _Context, roots: Sequence[str]) -> list[Evidence]:
    """Signatures about the manifests in ``roots``, and about what those verify, judged.

    An attestation's own signature, an SBOM's signature: each is about a
    manifest that travels with the image, not about the image. They are
    judged by the rule's signers (``-a`` annotations are demanded of the
    image's signatures only, as cosign does).
    """
    quiet = replace(ctx, annotations={}, attestation_annotations=False)
    found: list[Evidence] = []
    seen: set[str] = set()
    frontier = list(roots)
    for _ in range(_MAX_ATTACHED_DEPTH):
        following: list[str] = []
        for subject in frontier:
            if subject in seen:
                continue
            seen.add(subject)
            evidence = [
                *_legacy(quiet, subject, attestation=False),
                *_bundles(quiet, subject),
            ]
            found += evidence
            following += [e.site.manifest for e in evidence if e.verified]
        frontier = following
    return found


def _sboms(ctx: _Context, subject: str, attached: Sequence[Evidence]) -> list[Sbom]:
    found = []
    for manifest in ctx.about.get((Kind.SBOM, subject), ()):
        signed = any(
            e.verified and e.satisfies and e.site.kind == "signature"
            for e in attached
            if e.site.subject == manifest
        )
        for layer in _layers(ctx.contents, manifest):
            fmt, packages = sbom_summary(
                layer.media_type, ctx.contents.documents.get(layer.digest)
            )
            found.append(
                Sbom(
                    manifest=manifest,
                    blob=layer.digest,
                    media_type=layer.media_type,
                    format=fmt,
                    packages=packages,
                    signed=signed,
                )
            )
    return found


def sbom_summary(media_type: str, data: bytes | None) -> tuple[str, int | None]:
    """An SBOM's format and package count (SPDX or CycloneDX JSON; else its media type)."""
    if data is None:
        return media_type, None
    try:
        doc = _json.obj(_json.loads(data, what="SBOM"), "SBOM")
    except InputError:
        return media_type, None
    if "spdxVersion" in doc:
        packages = doc.get("packages")
        return f"SPDX {str(doc.get('spdxVersion'))[:20]}", len(packages) if isinstance(
            packages, list
        ) else None
    if doc.get("bomFormat") == "CycloneDX":
        components = doc.get("components")
        return f"CycloneDX {str(doc.get('specVersion'))[:20]}", len(
            components
        ) if isinstance(components, list) else None
    return media_type, None


# -- the image's demands ---------------------------------------------------------


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


def _threshold(evidence: Sequence[Evidence], *, need: int, what: str) -> None:
    met = distinct_signers(evidence)
    if met >= need:
        return
    # A check that failed says more than a signature the policy had no signer for.
    broken = next((e for e in evidence if e.error), None)
    if met:
        msg = f"{what}: {met} of the {need} required signers signed"
        if broken is None:
            raise _Failed(Reason.POLICY_UNSATISFIED, msg)
        raise _Failed(
            broken.error.reason if broken.error else Reason.POLICY_UNSATISFIED,
            f"{msg}; another: {broken.message}",
        )
    failed = broken or next((e for e in evidence if not e.verified), None)
    if failed is not None:
        raise _Failed(
            failed.reason or Reason.POLICY_UNSATISFIED, f"{what}: {failed.message}"
        )
    if evidence:
        msg = f"{what}: signed, but by no signer of the policy"
        raise _Failed(Reason.POLICY_UNSATISFIED, msg)
    raise _Failed(Reason.POLICY_UNSATISFIED, f"{what}: no signature")


def _summary_of(contents: Contents, evidence: Evidence) -> dict[str, Any]:
    """The predicate of a verified ``.att`` layer (its signature covered these bytes)."""
    try:
        envelope = _json.obj(
            _json.loads(
                contents.documents.get(evidence.site.blob, b""), what="envelope"
            ),
            "envelope",
        )
        payload = base64.b64decode(
            _json.string(envelope, "payload", "envelope"), validate=True
        )
        statement = _json.obj(_json.loads(payload, what="statement"), "statement")
        return _json.obj(statement.get("predicate"), "statement.predicate")
    except (InputError, ValueError):
        return {}


def _countersignature(ctx: _Context, digest: str, keys: Sequence[Signer]) -> Evidence:
    """The appliance's SLSA VSA about ``digest``: signed by one of ``keys``, PASSED, for this digest.

    In the gap there is no log: the countersignature is a key signature.
    """
    found = _legacy(
        replace(ctx, signers=tuple(keys), insecure_ignore_tlog=True),
        digest,
        attestation=True,
    )
    why = "no verification summary by the countersigning key"
    for evidence in found:
        if not (
            evidence.verified
            and evidence.satisfies
            and evidence.predicate_type == image_signing.VSA
        ):
            continue
        summary = _summary_of(ctx.contents, evidence)
        if summary.get("verificationResult") != "PASSED":
            why = f"the verification summary says {str(summary.get('verificationResult'))[:20]}"
        elif not str(summary.get("resourceUri", "")).endswith(f"@{digest}"):
            why = f"the verification summary is about {str(summary.get('resourceUri'))[:200]}"
        else:
            return evidence
    raise _Failed(Reason.POLICY_UNSATISFIED, f"countersignature: {why}")


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
            raise _Failed(Reason.POLICY_UNSATISFIED, msg)
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
            raise _Failed(Reason.POLICY_UNSATISFIED, msg)


def _demand(  # noqa: PLR0913 - every input named
    rule: Rule,
    *,
    claim: Claim,
    signatures: Sequence[Evidence],
    attestations: Sequence[Evidence],
    required: Sequence[str],
    platforms: Sequence[Platform],
    stale_for: timedelta | None,
) -> None:
    """Raise ``_Failed`` naming the first demand of ``rule`` the evidence misses."""
    if (
        rule.max_trust_age is not None
        and stale_for is not None
        and stale_for > rule.max_trust_age
    ):
        msg = (
            f"the trust root has been stale for {stale_for.days} days, "
            f"over the policy's max_trust_age of {rule.max_trust_age.days} days"
        )
        raise _Failed(Reason.TRUST_ROOT_EXPIRED, msg)
    _threshold(
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
                _threshold(
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
        raise _Failed(
            reason,
            f"no verified attestation of {predicate} by a signer of the policy{detail}",
        )


def _verify_image(  # noqa: PLR0913 - every input named
    claim: Claim,
    *,
    contents: Contents,
    about: dict[tuple[str, str], list[str]],
    rules: Sequence[ResolvedRule],
    trust: TrustMaterial,
    now: datetime,
    options: Options,
    stale_for: timedelta | None,
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
    ctx = _Context(
        contents=contents,
        about=about,
        trust=trust,
        now=now,
        signers=resolved.signers,
        insecure_ignore_tlog=rule.insecure_ignore_tlog or options.insecure_ignore_tlog,
        annotations={**rule.annotations, **options.annotations},
        attestation_annotations=rule.annotations_on_attestations,
        repository=repository,
    )
    # Every platform carried is judged (what verifies about it travels with
    # it), though only each_platform demands its signatures.
    subjects = [claim.digest, *(p.digest for p in claim.platforms if p.carried)]
    found = [
        e
        for s in subjects
        for e in (*_legacy(ctx, s, attestation=False), *_bundles(ctx, s))
    ]
    found += _legacy(ctx, claim.digest, attestation=True)
    signatures = tuple(e for e in found if e.site.kind == "signature")
    attestations = tuple(
        e
        for e in found
        if e.site.kind == "attestation" and e.site.subject == claim.digest
    )
    roots = [
        e.site.manifest for e in (*signatures, *attestations) if e.verified
    ] + list(ctx.about.get((Kind.SBOM, claim.digest), ()))
    attached = tuple(_attached(ctx, roots))
    verdict = replace(
        verdict,
        rule=rule.line,
        signatures=signatures,
        attestations=attestations,
        sboms=tuple(_sboms(ctx, claim.digest, attached)),
        attached=attached,
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
        )
        if options.countersigners:
            countersigned = _countersignature(ctx, claim.digest, options.countersigners)
            verdict = replace(
                verdict, attestations=(*verdict.attestations, countersigned)
            )
    except _Failed as failed:
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
    return replace(
        verdict, verified=True, reason=None, message=f"signed by {'; '.join(signers)}"
    )


def _selected(
    claims: Sequence[Claim], images: tuple[str, ...]
) -> tuple[list[Claim], list[str]]:
    """The images ``--image`` names (as asked, as claimed, by digest or repository)."""
    if not images:
        return list(claims), []
    chosen: list[Claim] = []
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
        chosen += [c for c in found if c not in chosen]
    return chosen, problems


def verify_archive(
    contents: Contents,
    *,
    rules: Sequence[ResolvedRule],
    trust: TrustMaterial,
    now: datetime,
    options: Options | None = None,
) -> ArchiveVerdict:
    """Verify the archive's images against ``rules`` under ``trust``.

    Args:
        contents: what the intake read (every blob already hashed).
        rules: the policy's rules, resolved (first match applies).
        trust: what the operator's side trusts (never the archive's).
        now: the appliance clock (trust staleness; recorded).
        options: selection, ``-a`` annotations, extra required attestations.

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
    foreign = _foreign_delta(ledger, options.inventories)
    stale_for = None if trust.stale_since is None else now - trust.stale_since
    about = _catalog(contents, ledger)
    verdicts = []
    for claim in chosen:
        verdict = _verify_image(
            claim,
            contents=contents,
            about=about,
            rules=rules,
            trust=trust,
            now=now,
            options=options,
            stale_for=stale_for,
        )
        if problems and verdict.verified:
            # Signed, but not what the export accounted for: refused all the same.
            msg = f"the archive is not what its ledger says: {problems[0]}"
            verdict = replace(
                verdict, verified=False, reason=Reason.DIGEST_MISMATCH, message=msg
            )
        elif foreign is not None and verdict.verified:
            verdict = replace(
                verdict,
                verified=False,
                reason=Reason.POLICY_UNSATISFIED,
                message=foreign,
            )
        verdicts.append(verdict)
    return ArchiveVerdict(
        images=tuple(verdicts),
        problems=tuple(problems if foreign is None else [*problems, foreign]),
        ledger=ledger,
    )


def _foreign_delta(ledger: Ledger, inventories: frozenset[str] | None) -> str | None:
    """Why a delta is not accepted here (None: a full archive, or an inventory we wrote).

    A delta leaves layers out because an inventory said the gap holds them.
    Taken against an inventory this appliance did not write, it would load
    images whose layers are wherever that inventory came from: the
    operator must say so (``--allow-foreign-inventory``).
    """
    delta = ledger.delta
    if delta is None or inventories is None or delta.inventory_sha256 in inventories:
        return None
    return (
        f"a delta against inventory {delta.inventory_sha256} (of {delta.appliance}), "
        "which this appliance did not write: pass --allow-foreign-inventory to accept it"
    )
