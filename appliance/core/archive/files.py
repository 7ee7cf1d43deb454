"""Files an archive carries (``export --set`` ``[[files]]``), each judged under the policy as an image is.

A file travels as an OCI artifact (docs/image-sets.md §7): a manifest of
``artifactType`` :data:`media.FILE_ARTIFACT` whose first layer is the file
(titled with its name) and, when the file is signed through a checksum
file, whose second layer is that file; its Sigstore bundle is a referrer of
the artifact. Here, for each file, in order:

1. the ledger and ``index.json`` must both list it, with the same artifact
   digest and name (neither is signed: a disagreement refuses the file), and
   the name must be one plain path component (it names what ``extract
   --files`` writes);
2. the artifact manifest's own bytes (hashed by the intake) must say the
   same: the artifact type, the layer's title and the blob the ledger names;
3. the first policy rule with a ``file:NAME-GLOB`` pattern matching the name
   applies (``match = ["file:kubectl-*"]``; patterns without the prefix
   judge images only); none: refused (fail closed);
4. ``max_trust_age`` as for images; annotations cannot be demanded of a
   file's signature (a message signature carries none): a rule that demands
   them refuses the file rather than pass it unchecked;
5. each bundle referring to the artifact is verified
   (:func:`~appliance.core.verifier.verify_bundle`) over the SHA-256 of the
   file, or of the checksum file, with each of the rule's signers; at least
   ``threshold`` distinct signers must have signed (:mod:`.signers`);
6. through a checksum file, the verified checksum file must list the file's
   name with the file's SHA-256 (``sha256sum`` format);
7. the name (docs/image-sets.md §7, "Whose word is the name"): the ledger and ``index.json`` only
   claim it. Where a signature covers a name it must be this one, or the
   file is refused: the signed checksum file's line (6), or the subject of a
   verified in-toto statement (a DSSE bundle; in-toto Statement v1
   ``subject[].name``, its last ``/`` component). A plain message signature
   covers the bytes alone: the verdict then says the name is claimed.

Deny entries (docs/revocation.md; the policy's ``[[deny]]`` and an applied
feed's) apply as to images: an undated ``digest`` entry naming the file's
SHA-256, its artifact manifest or its checksum file refuses the file
(``denied-digest``); a denied signer's bundles (identity, key, log entry,
certificate serial, or a dated digest entry) stop counting
(``denied-signer``), the report naming the entry and its reason.

A file passes only through the ``return`` at the end of :func:`_judge_file`.
Pure: contents, ledger, rules, trust and ``now`` in; verdicts out.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from appliance.core.archive import media
from appliance.core.archive.layout import Kind
from appliance.core.archive.manifest import ImageManifest
from appliance.core.archive.signers import judge, threshold
from appliance.core.archive.verdict import Evidence, Site, Unmet
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.deny import NOTHING_DENIED
from appliance.core.errors import InputError, Reason
from appliance.core.verifier import verify_bundle

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime, timedelta

    from appliance.core.archive.intake import Contents
    from appliance.core.archive.ledger import FileEntry, Ledger
    from appliance.core.deny import DenyList
    from appliance.core.policy import Policy
    from appliance.core.policyfile import ResolvedRule, Rule
    from appliance.core.report import VerificationResult
    from appliance.core.trust import TrustMaterial

FILE_PREFIX: Final = "file:"
NAME: Final = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,254}")
# sha256sum's output: the hex digest, a space, a space or "*" (binary mode), the name.
_CHECKSUM_LINE: Final = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class FileVerdict:
    """One file: verified or not, why, and every signature judged."""

    name: str
    digest: str  # the artifact manifest
    blob: str  # the file's bytes
    size: int
    verified: bool
    reason: Reason | None
    message: str
    rule: int | None  # the policy rule's line
    signatures: tuple[Evidence, ...] = ()
    # What binds the name: "checksums" (a signed checksum file's line),
    # "statement" (a verified in-toto statement's subject) or "claimed"
    # (only the unsigned ledger and index.json say it).
    name_bound: str = "claimed"

    def to_json(self) -> dict[str, Any]:
        """The stable JSON of one file."""
        return {
            "name": self.name,
            "digest": self.digest,
            "blob": self.blob,
            "size": self.size,
            "verified": self.verified,
            "reason": None if self.reason is None else self.reason.value,
            "message": self.message,
            "policy_rule_line": self.rule,
            "signatures": [s.to_json() for s in self.signatures],
            "name_bound": self.name_bound,
        }

    @property
    def results(self) -> tuple[VerificationResult, ...]:
        """Every verification that passed (for the appliance's memories)."""
        return tuple(e.result for e in self.signatures if e.result)


def rule_for_file(rules: Sequence[ResolvedRule], name: str) -> ResolvedRule | None:
    """The first rule with a ``file:GLOB`` pattern that fits ``name`` (``*``, ``?``, ``[...]``)."""
    return next(
        (
            r
            for r in rules
            if any(
                p.startswith(FILE_PREFIX)
                and fnmatch.fnmatchcase(name, p.removeprefix(FILE_PREFIX))
                for p in r.rule.match
            )
        ),
        None,
    )


def _listed(contents: Contents, ledger: Ledger) -> tuple[list[FileEntry], list[str]]:
    """The files both the ledger and ``index.json`` list alike, and each disagreement."""
    indexed = {
        e.digest: e.annotations.get(media.TITLE, "")
        for e in contents.index.manifests
        if e.annotations.get(media.KIND) == Kind.FILE
    }
    problems = []
    agreed = []
    times = Counter(f.name for f in ledger.files)
    problems += [
        f"file {n}: named twice in the ledger" for n in sorted(times) if times[n] > 1
    ]
    for entry in ledger.files:
        title = indexed.pop(entry.digest, None)
        if title is None:
            problems.append(f"file {entry.name}: in the ledger, not in index.json")
        elif title != entry.name:
            problems.append(
                f"file {entry.digest}: named {entry.name} by the ledger, {title} by index.json"
            )
        else:
            agreed.append(entry)
    problems += [f"file {d}: in index.json, not in the ledger" for d in sorted(indexed)]
    return agreed, problems


def _signed_blob(contents: Contents, entry: FileEntry) -> tuple[str, str | None]:
    """The file's blob, and the checksum file's if any, from the artifact's own bytes."""
    manifest = contents.manifests.get(entry.digest)
    if not isinstance(manifest, ImageManifest) or (
        manifest.artifact_type != media.FILE_ARTIFACT
    ):
        msg = "not a file artifact (artifactType)"
        raise Unmet(Reason.MALFORMED_INPUT, msg)
    layers = manifest.layers
    if not 1 <= len(layers) <= 2 or layers[0].media_type != media.FILE_CONTENT:  # noqa: PLR2004
        msg = "a file artifact holds the file, and at most its checksum file"
        raise Unmet(Reason.MALFORMED_INPUT, msg)
    first = layers[0]
    if first.annotations.get(media.TITLE) != entry.name or first.digest != entry.blob:
        msg = "the artifact's own layer is not the file the ledger names"
        raise Unmet(Reason.DIGEST_MISMATCH, msg)
    if len(layers) == 1:
        return first.digest, None
    if layers[1].media_type != media.CHECKSUMS:
        msg = "a file artifact's second layer must be its checksum file"
        raise Unmet(Reason.MALFORMED_INPUT, msg)
    return first.digest, layers[1].digest


def _referrers(contents: Contents) -> dict[str, list[str]]:
    """The referrer manifests ``index.json`` lists, by the subject its annotation names, in its order.

    Found once for every file (a scan of ``index.json`` per file was
    quadratic: 1,000 files beside 10,000 images, seconds).
    """
    found: dict[str, list[str]] = {}
    for entry in contents.index.manifests:
        subject = entry.annotations.get(media.SUBJECT)
        if entry.annotations.get(media.KIND) == Kind.REFERRER and subject is not None:
            found.setdefault(subject, []).append(entry.digest)
    return found


def _bundles(
    contents: Contents, artifact: str, referrers: Mapping[str, list[str]]
) -> list[tuple[str, str]]:
    """(referrer manifest, bundle blob) of each Sigstore bundle referring to ``artifact``.

    ``index.json`` only finds candidates (``referrers``, :func:`_referrers`);
    the referrer's own bytes must name the artifact as its subject.
    """
    found = []
    for digest in referrers.get(artifact, ()):
        manifest = contents.manifests.get(digest)
        if (
            not isinstance(manifest, ImageManifest)
            or manifest.subject is None
            or manifest.subject.digest != artifact
        ):
            continue
        layers = [
            layer
            for layer in manifest.layers
            if layer.media_type.startswith(media.BUNDLE_PREFIX)
        ]
        if len(layers) == 1:
            found.append((digest, layers[0].digest))
    return found


def _evidence(  # noqa: PLR0913 - every input named
    contents: Contents,
    *,
    artifact: str,
    signed: str,
    resolved: ResolvedRule,
    trust: TrustMaterial,
    now: datetime,
    insecure_ignore_tlog: bool,
    referrers: Mapping[str, list[str]],
) -> list[Evidence]:
    digest = Artifact.from_digest(
        "sha256", bytes.fromhex(signed.removeprefix("sha256:"))
    )
    found = []
    for manifest, blob in _bundles(contents, artifact, referrers):
        site = Site(
            kind="signature",
            form="sigstore-bundle",
            manifest=manifest,
            blob=blob,
            subject=artifact,
        )
        try:
            bundle = Bundle.from_bytes(contents.documents.get(blob, b""))
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

        def run(policy: Policy, bundle: Bundle = bundle) -> VerificationResult:
            return verify_bundle(
                bundle,
                artifact=digest,
                trust=trust,
                policy=policy,
                now=now,
                insecure_ignore_tlog=insecure_ignore_tlog,
            )

        found.append(
            judge(
                site, run, resolved.signers, certificate=bundle.certificate is not None
            )
        )
    return found


def _denied(evidence: Evidence, deny: DenyList, blob: str) -> Evidence:
    """``evidence``, no longer counted when a deny entry names its signer.

    A dated digest entry may name the artifact (the bundle's subject) or the
    file's own SHA-256 (what an advisory prints): both are asked.
    """
    if not evidence.verified or evidence.result is None:
        return evidence
    denial = deny.signature(
        evidence.result, subject=evidence.site.subject
    ) or deny.signature(evidence.result, subject=blob)
    if denial is None:
        return evidence
    return replace(
        evidence,
        verified=False,
        satisfies=(),
        reason=Reason.DENIED_SIGNER,
        message=f"signed by {evidence.signer}, but {denial.describe()}",
    )


def _not_denied(deny: DenyList, entry: FileEntry, checksums: str | None) -> None:
    """Raise ``Unmet`` if an undated digest entry names the file, its artifact or checksum file."""
    denial = deny.image([entry.blob, entry.digest, *([checksums] if checksums else [])])
    if denial is not None:
        raise Unmet(Reason.DENIED_DIGEST, f"denied: {denial.describe()}")


def _check_listed(contents: Contents, checksums: str, entry: FileEntry) -> None:
    """The verified checksum file lists ``entry``'s name with its SHA-256."""
    text = contents.documents.get(checksums, b"").decode("utf-8", "replace")
    want = entry.blob.removeprefix("sha256:")
    listed = [
        match.group(1).lower()
        for line in text.splitlines()
        if (match := _CHECKSUM_LINE.fullmatch(line.rstrip("\r")))
        and match.group(2) == entry.name
    ]
    if not listed:
        msg = f"the signed checksum file does not list {entry.name}"
        raise Unmet(Reason.DIGEST_MISMATCH, msg)
    if any(h != want for h in listed):
        msg = (
            f"the signed checksum file lists {entry.name} as sha256:{listed[0]}, "
            f"but the file carried is {entry.blob}"
        )
        raise Unmet(Reason.DIGEST_MISMATCH, msg)


def _statement_names(evidence: Sequence[Evidence], name: str) -> bool:
    """Whether a verified statement names the file; raise ``Unmet`` if one names another.

    in-toto Statement v1: ``subject[].name`` is the artifact's name; the
    archive keeps one path component, so a subject's last ``/`` component
    is compared (``dist/tool`` names ``tool``).
    """
    named = sorted(
        {
            e.result.subject
            for e in evidence
            if e.verified and e.result is not None and e.result.subject
        }
    )
    for subject in named:
        if subject.rsplit("/", 1)[-1] != name:
            msg = (
                f"the signed statement names this file {subject!r}, "
                f"the archive calls it {name!r}: refused"
            )
            raise Unmet(Reason.POLICY_UNSATISFIED, msg)
    return bool(named)


def _demands(
    rule: Rule, *, stale_for: timedelta | None, annotations: dict[str, str]
) -> None:
    """Raise ``Unmet`` if the trust is too stale for ``rule``, or it demands annotations."""
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
    if annotations or rule.annotations:
        msg = "the rule demands annotations, which a file's signature cannot carry"
        raise Unmet(Reason.POLICY_UNSATISFIED, msg)


def _judge_file(  # noqa: PLR0913 - every input named
    entry: FileEntry,
    *,
    contents: Contents,
    rules: Sequence[ResolvedRule],
    trust: TrustMaterial,
    now: datetime,
    insecure_ignore_tlog: bool,
    annotations: dict[str, str],
    stale_for: timedelta | None,
    deny: DenyList,
    referrers: Mapping[str, list[str]],
) -> FileVerdict:
    verdict = FileVerdict(
        name=entry.name,
        digest=entry.digest,
        blob=entry.blob,
        size=entry.size,
        verified=False,
        reason=Reason.POLICY_UNSATISFIED,
        message="",
        rule=None,
    )
    if not NAME.fullmatch(entry.name):
        msg = "the file name is not one plain path component: refused"
        return replace(verdict, reason=Reason.MALFORMED_INPUT, message=msg)
    resolved = rule_for_file(rules, entry.name)
    if resolved is None:
        msg = f"no policy rule matches {FILE_PREFIX}{entry.name}: refused (fail closed)"
        return replace(verdict, message=msg)
    rule = resolved.rule
    verdict = replace(verdict, rule=rule.line)
    evidence: list[Evidence] = []
    try:
        blob, checksums = _signed_blob(contents, entry)
        _demands(rule, stale_for=stale_for, annotations=annotations)
        evidence = _evidence(
            contents,
            artifact=entry.digest,
            signed=checksums or blob,
            resolved=resolved,
            trust=trust,
            now=now,
            insecure_ignore_tlog=insecure_ignore_tlog or rule.insecure_ignore_tlog,
            referrers=referrers,
        )
        evidence = [_denied(e, deny, entry.blob) for e in evidence]
        _not_denied(deny, entry, checksums)
        threshold(evidence, need=rule.threshold, what=f"file {entry.name}")
        if checksums is not None:
            _check_listed(contents, checksums, entry)
            bound = "checksums"
        else:
            bound = "statement" if _statement_names(evidence, entry.name) else "claimed"
    except Unmet as unmet:
        return replace(
            verdict,
            reason=unmet.reason,
            message=unmet.message,
            signatures=tuple(evidence),
        )
    signers = sorted({s for e in evidence if e.verified for s in e.satisfies})
    how = " through its signed checksum file" if checksums is not None else ""
    claimed = "; its name is claimed, not signed" if bound == "claimed" else ""
    return replace(
        verdict,
        verified=True,
        reason=None,
        message=f"signed{how} by {', '.join(signers)}{claimed}",
        signatures=tuple(evidence),
        name_bound=bound,
    )


def verify_files(  # noqa: PLR0913 - every input named
    contents: Contents,
    ledger: Ledger,
    *,
    rules: Sequence[ResolvedRule],
    trust: TrustMaterial,
    now: datetime,
    insecure_ignore_tlog: bool = False,
    annotations: dict[str, str] | None = None,
    stale_for: timedelta | None = None,
    deny: DenyList = NOTHING_DENIED,
) -> tuple[tuple[FileVerdict, ...], list[str]]:
    """Each file the archive carries, judged; and the ledger's and index.json's disagreements.

    A file only one of the two unsigned documents lists is not judged (it
    is a problem of the archive, which then passes nothing).
    """
    agreed, problems = _listed(contents, ledger)
    referrers = _referrers(contents) if agreed else {}
    verdicts = tuple(
        _judge_file(
            entry,
            contents=contents,
            rules=rules,
            trust=trust,
            now=now,
            insecure_ignore_tlog=insecure_ignore_tlog,
            annotations=annotations or {},
            stale_for=stale_for,
            deny=deny,
            referrers=referrers,
        )
        for entry in agreed
    )
    return verdicts, problems
