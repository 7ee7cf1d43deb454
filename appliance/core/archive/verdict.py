"""The archive verdict's values: what was judged, how, and with what result.

Data only (rendered by the edges): the options an operator adds to the policy,
where each piece of evidence sits in the archive, each signature's or
attestation's judgement, SBOM summaries, one image's verdict and the whole
archive's. :class:`Unmet` is the verifier's internal signal that a demand was
not met; it never leaves :mod:`.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from appliance.core.archive.files import FileVerdict
    from appliance.core.archive.ledger import Ledger
    from appliance.core.archive.manifest import Platform
    from appliance.core.errors import Reason, VerificationError
    from appliance.core.policyfile import Signer
    from appliance.core.report import VerificationResult


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

    def compact(self) -> Evidence:
        """The evidence with its result compacted (:meth:`VerificationResult.compact`)."""
        if self.result is None:
            return self
        return replace(self, result=self.result.compact())

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
            "trust_root": None if result is None else result.trust_name,
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
    # The image's report entry (:meth:`to_json`), rendered where it was
    # judged and compressed, when the edge asked for compact verdicts
    # (:meth:`compact`); None: render it from this value.
    rendered: bytes | None = None

    def compact(self, rendered: bytes) -> ImageVerdict:
        """The verdict with its report entry already ``rendered`` and its evidence compacted.

        What stays is what the table, the gate (what may leave the archive),
        the audit line and the appliance's memories read; the report entry
        carries the rest. An archive of 100,000 signatures kept every
        check's wording and every certificate identity until the report was
        written: most of ``appliance verify``'s memory.
        """
        return replace(
            self,
            signatures=tuple(e.compact() for e in self.signatures),
            attestations=tuple(e.compact() for e in self.attestations),
            attached=tuple(e.compact() for e in self.attached),
            rendered=rendered,
        )

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
    files: tuple[FileVerdict, ...] = ()  # export --set [[files]] (none with --image)

    @property
    def verified(self) -> bool:
        """True only if the archive is whole and every selected image and file passed."""
        return (
            not self.problems
            and bool(self.images or self.files)
            and all(i.verified for i in self.images)
            and all(f.verified for f in self.files)
        )


class Unmet(Exception):  # noqa: N818 - internal control flow, never escapes
    """A demand of the rule the evidence does not meet (the reason and the message)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
