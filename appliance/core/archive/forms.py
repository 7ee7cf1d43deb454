"""Evidence by signature form: cosign legacy layers, Sigstore bundle referrers, what travels along.

Candidates are found by (kind, subject) from the ledger and ``index.json``'s
annotations alike: they only *find* candidates, never decide. What a
signature is about is decided by its verified payload or statement: a
``.sig`` payload must name the digest (and the repository), a ``.att`` or
bundle statement must have it as a subject, a bundle referrer's manifest
must have it as its ``subject``. Annotations a rule demands are checked on
every form (:mod:`appliance.core.annotations`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from appliance.core import _json, dsse
from appliance.core.annotations import verify_annotations
from appliance.core.archive import media
from appliance.core.archive.layout import Kind
from appliance.core.archive.manifest import ImageManifest
from appliance.core.archive.signers import judge
from appliance.core.archive.verdict import Evidence, Sbom, Site
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
from appliance.core.verifier import under_roots, verify_bundle

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from appliance.core.archive.intake import Contents
    from appliance.core.archive.ledger import Ledger
    from appliance.core.archive.manifest import Descriptor
    from appliance.core.policy import Policy
    from appliance.core.policyfile import Signer
    from appliance.core.report import VerificationResult
    from appliance.core.trust import TrustMaterial


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What judging one image's evidence needs: the archive, the rule's signers, the trust."""

    contents: Contents
    about: dict[tuple[str, str], list[str]]  # (kind, subject) -> manifest digests
    # (kind, subject, manifest) filed alike by the ledger and index.json: only
    # evidence found this way counts (see :func:`catalog`).
    agreed: frozenset[tuple[str, str, str]]
    # The roots this image's rule names (``trust = [...]``): evidence
    # verifies under one of them by that root's own rules, never another's.
    trusts: tuple[TrustMaterial, ...]
    now: datetime
    signers: tuple[Signer, ...]
    insecure_ignore_tlog: bool
    annotations: dict[str, str]  # demanded of every signature
    attestation_annotations: bool  # ... and of every attestation
    repository: str


def catalog(
    contents: Contents, ledger: Ledger
) -> tuple[dict[tuple[str, str], list[str]], frozenset[tuple[str, str, str]]]:
    """Candidates by (kind, subject), and which of them both unsigned documents file there.

    Neither the ledger nor ``index.json`` is signed, so where they file a
    manifest only *finds* it. Every candidate either names is judged (a
    signature copied from another image is reported as such), but a
    verified one counts only when both file it under that subject: one
    document edited alone can then only take evidence away, never bring a
    genuine signature of something else to bear here.
    """
    about: dict[tuple[str, str], list[str]] = defaultdict(list)
    ledgered = {(r.kind, r.subject, r.digest) for i in ledger.images for r in i.related}
    indexed = {
        (
            e.annotations.get(media.KIND, ""),
            e.annotations.get(media.SUBJECT, ""),
            e.digest,
        )
        for e in contents.index.manifests
    }
    pairs = [(r.kind, r.subject, r.digest) for i in ledger.images for r in i.related]
    pairs += [
        (
            e.annotations.get(media.KIND, ""),
            e.annotations.get(media.SUBJECT, ""),
            e.digest,
        )
        for e in contents.index.manifests
    ]
    # The triples already filed, to test: a subject's list grows with every
    # manifest about it, and both documents name each one again.
    filed: set[tuple[str, str, str]] = set()
    for kind, subject, digest in pairs:
        if kind and subject and (kind, subject, digest) not in filed:
            filed.add((kind, subject, digest))
            about[kind, subject].append(digest)
    return about, frozenset(ledgered & indexed)


def _counted(ctx: Context, kind: str, evidence: Evidence) -> Evidence:
    """``evidence``, refused if only one unsigned document files it under its subject."""
    if not evidence.verified or (
        (kind, evidence.site.subject, evidence.site.manifest) in ctx.agreed
    ):
        return evidence
    msg = (
        f"filed under {evidence.site.subject} by only one of the ledger and index.json: "
        "verified, but not counted for it"
    )
    return replace(
        evidence,
        verified=False,
        satisfies=(),
        reason=Reason.POLICY_UNSATISFIED,
        message=msg,
        result=None,
    )


def layers_of(contents: Contents, digest: str) -> tuple[Descriptor, ...]:
    """The layers of the image manifest ``digest`` (none for an index or a stranger)."""
    manifest = contents.manifests.get(digest)
    return manifest.layers if isinstance(manifest, ImageManifest) else ()


def legacy_evidence(ctx: Context, subject: str, *, attestation: bool) -> list[Evidence]:
    """The cosign ``.sig`` (or ``.att``) layers filed under ``subject``, each judged."""
    kind, wanted = (
        (Kind.ATTESTATION, media.DSSE_ENVELOPE)
        if attestation
        else (Kind.SIGNATURE, media.SIMPLESIGNING)
    )
    found = []
    for manifest in ctx.about.get((kind, subject), ()):
        for layer in layers_of(ctx.contents, manifest):
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
                    result = under_roots(
                        ctx.trusts,
                        lambda trust: verify_legacy_attestation(
                            signature,
                            image_digest=subject,
                            trust=trust,
                            policy=policy,
                            now=ctx.now,
                            insecure_ignore_tlog=ctx.insecure_ignore_tlog,
                        ),
                    )
                    if ctx.attestation_annotations:
                        verify_annotations(
                            result.subject_annotations,
                            demanded=ctx.annotations,
                            where="attestation statement",
                        )
                    return result
                return under_roots(
                    ctx.trusts,
                    lambda trust: verify_legacy(
                        signature,
                        image_digest=subject,
                        trust=trust,
                        policy=policy,
                        now=ctx.now,
                        insecure_ignore_tlog=ctx.insecure_ignore_tlog,
                        annotations=ctx.annotations,
                        reference=ctx.repository,
                    ),
                )

            found.append(
                _counted(
                    ctx,
                    kind,
                    judge(
                        site,
                        run,
                        ctx.signers,
                        certificate=bool(layer.annotations.get(CERTIFICATE)),
                        claimed=layer.annotations.get(PREDICATE_TYPE)
                        if attestation
                        else None,
                    ),
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


def bundle_evidence(ctx: Context, subject: str) -> list[Evidence]:
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
            continue  # not a Sigstore bundle referrer (docs/cosign.md §9)
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
            result = under_roots(
                ctx.trusts,
                lambda trust: verify_bundle(
                    bundle,
                    artifact=digest,
                    trust=trust,
                    policy=policy,
                    now=ctx.now,
                    insecure_ignore_tlog=ctx.insecure_ignore_tlog,
                ),
            )
            # cosign v3 writes -a into the statement's subject; a message
            # signature carries none and so satisfies no demand
            # (docs/cosign.md §10).
            if kind == "signature" or ctx.attestation_annotations:
                verify_annotations(
                    result.subject_annotations,
                    demanded=ctx.annotations,
                    where="bundle statement",
                )
            return result

        found.append(
            _counted(
                ctx,
                Kind.REFERRER,
                judge(
                    site,
                    run,
                    ctx.signers,
                    certificate=bundle.certificate is not None,
                    claimed=claimed,
                ),
            )
        )
    return found


# What travels with an image is followed this deep: an attestation's
# signature, a signature's countersignature... (the exporter's depth).
_MAX_ATTACHED_DEPTH = 4


def attached_evidence(ctx: Context, roots: Sequence[str]) -> list[Evidence]:
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
                *legacy_evidence(quiet, subject, attestation=False),
                *bundle_evidence(quiet, subject),
            ]
            found += evidence
            following += [e.site.manifest for e in evidence if e.verified]
        frontier = following
    return found


def sboms(ctx: Context, subject: str, attached: Sequence[Evidence]) -> list[Sbom]:
    """The SBOMs filed about ``subject``, signed when ``attached`` holds a verified signature of one."""
    found = []
    for manifest in ctx.about.get((Kind.SBOM, subject), ()):
        signed = any(
            e.verified and e.satisfies and e.site.kind == "signature"
            for e in attached
            if e.site.subject == manifest
        )
        for layer in layers_of(ctx.contents, manifest):
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
