"""What the TUI shows, computed from the verdict the CLI computes: no verification here.

Pure functions over :class:`~appliance.core.archive.verify.ArchiveVerdict`
and its evidence: table rows, failures first; each check's outcome with a
hint at what would fix a failure; attestation summaries; every signer and
what it signed; a policy snippet for chosen signers. Marks are never colour
alone (``✔ ✖ !`` with words), and fall back to ASCII where the terminal
cannot show them.
"""

from __future__ import annotations

import base64
import json
import os
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.core.errors import Reason

if TYPE_CHECKING:
    from collections.abc import Sequence

    from appliance.core.archive.files import FileVerdict
    from appliance.core.archive.intake import Contents
    from appliance.core.archive.verdict import ArchiveVerdict, Evidence, ImageVerdict
    from appliance.core.report import VerificationResult


@dataclass(frozen=True, slots=True)
class Marks:
    """Verdict marks: glyphs where the terminal shows them, else ASCII."""

    ok: str
    bad: str
    warn: str


UNICODE = Marks(ok="✔", bad="✖", warn="!")
ASCII = Marks(ok="+", bad="x", warn="!")
_NO_UNICODE_TERMS = frozenset({"vt100", "vt102", "vt220", "dumb", "ansi"})


def marks(environ: dict[str, str] | None = None) -> Marks:
    """ASCII on terminals without Unicode (``TERM=vt100``) or a non-UTF-8 locale (``LANG=C``).

    Python coerces a C locale to C.UTF-8 for itself (PEP 538, through
    ``LC_CTYPE``); what matters is what the operator's terminal was set up
    for, so ``LC_ALL`` and ``LANG`` are read. No locale at all: Unicode.
    """
    env = dict(os.environ) if environ is None else environ
    if env.get("TERM", "") in _NO_UNICODE_TERMS:
        return ASCII
    locale = env.get("LC_ALL") or env.get("LANG") or ""
    if not locale:
        return UNICODE
    return UNICODE if "utf8" in locale.lower().replace("-", "") else ASCII


# What would fix a failure, by reason (the operator at 3 a.m.).
HINTS: dict[Reason, str] = {
    Reason.IDENTITY_MISMATCH: "signed by someone the policy does not name: check the identity, or add this signer to the policy",
    Reason.ISSUER_MISMATCH: "the signer's OIDC issuer differs from the policy's: check --certificate-oidc-issuer",
    Reason.SIGNATURE_INVALID: "the signature does not match the key or the bytes: wrong key, or the content changed",
    Reason.DIGEST_MISMATCH: "the signature is about other content (a copied signature, a moved tag, a changed blob)",
    Reason.CHAIN_UNTRUSTED: "the certificate does not chain to a trusted Fulcio CA: import the right trust (appliance trust import) or pass --trusted-root",
    Reason.TLOG_ENTRY_MISSING: "no transparency log entry: key signatures need --insecure-ignore-tlog (or the policy's insecure_ignore_tlog)",
    Reason.TRUST_ROOT_EXPIRED: "the trust is stale: import a fresh capsule, or accept it with --trust-max-age",
    Reason.POLICY_UNSATISFIED: "the policy asks for more than the archive carries: a signer, a threshold or an attestation is missing",
    Reason.NO_VERIFIED_TIME: "no verified signing time: the signature needs a log entry or an RFC 3161 stamp",
    Reason.OUTSIDE_VALIDITY: "signed outside the certificate's validity",
    Reason.SCT_INVALID: "the certificate's SCT does not verify under a trusted CT log",
    Reason.SET_INVALID: "the log's signed entry timestamp does not verify: wrong log key, or a changed entry",
    Reason.INCLUSION_PROOF_INVALID: "the inclusion proof does not lead to the checkpoint",
    Reason.CHECKPOINT_INVALID: "the checkpoint is not signed by the log",
    Reason.SPLIT_VIEW: "the log showed two different trees of one size: do not trust it until investigated",
    Reason.MALFORMED_INPUT: "a document in the archive does not parse: re-export it",
    Reason.DENIED_DIGEST: "a deny entry (the policy's or a revocation feed's) names this image: it is revoked, whatever signed it",
    Reason.DENIED_SIGNER: "a deny entry names this signer, key, log entry or certificate: its signatures no longer count",
    Reason.REVOCATIONS_STALE: "the newest revocation feed is older than max_revocation_age: import a fresh one (appliance revocations import)",
    Reason.FEED_UNTRUSTED: "the revocation feed is not signed by a key of the policy's revocation_keys",
    Reason.APPROVALS_MISSING: "two-person integrity: more approvers must sign (appliance policy approve)",
}


def hint(reason: str | None) -> str:
    """What would fix a failure of ``reason``."""
    try:
        return HINTS.get(Reason(reason), "") if reason else ""
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class Row:
    """One image in the table."""

    key: str  # the image's place in the verdict (row key: names may repeat)
    reference: str
    digest: str
    platforms: str
    verdict: str
    signer: str
    signed_at: str
    reason: str
    verified: bool


def _common_registry(verdict: ArchiveVerdict) -> str:
    """The registry every image comes from, if they share one (``host/``), else ``""``."""
    hosts = {i.reference.split("/", 1)[0] for i in verdict.images if "/" in i.reference}
    return (
        f"{hosts.pop()}/"
        if len(hosts) == 1 and all("/" in i.reference for i in verdict.images)
        else ""
    )


def registry_of(verdict: ArchiveVerdict) -> str:
    """The registry the table leaves out of references (all images share it), or ``""``."""
    return _common_registry(verdict).rstrip("/")


def rows(verdict: ArchiveVerdict, mark: Marks) -> list[Row]:
    """The table's rows, failures first, then by reference.

    The verdict comes first and the shared registry is left out, so that an
    80-column console shows what matters. The reference is the one that was
    judged (the policy rule matched it), not the ledger's free-text "asked".
    """
    common = _common_registry(verdict)
    found = []
    for number, image in enumerate(verdict.images):
        signed = next((s for s in image.signatures if s.verified and s.satisfies), None)
        when = signed.result.signing_time if signed and signed.result else None
        carried = [p for p, _, c in image.platforms if c]
        found.append(
            Row(
                key=str(number),
                reference=image.reference.removeprefix(common),
                digest=image.digest[7:19],
                platforms=f"{len(carried)}: "
                + ", ".join(p.split("/", 1)[-1] for p in carried)
                if carried
                else "single",
                verdict=f"{mark.ok} verified"
                if image.verified
                else f"{mark.bad} refused",
                signer=(signed.signer or "") if signed else "",
                signed_at=when.strftime("%Y-%m-%d %H:%M") if when else "",
                reason="" if image.verified else image.message,
                verified=image.verified,
            )
        )
    # Files beside images (export --set [[files]]), named as the rules match them.
    for number, judged in enumerate(verdict.files):
        signed = next(
            (s for s in judged.signatures if s.verified and s.satisfies), None
        )
        when = signed.result.signing_time if signed and signed.result else None
        found.append(
            Row(
                key=f"{FILE_KEY}{number}",
                reference=f"file:{judged.name}",
                digest=judged.blob[7:19],
                platforms="file",
                verdict=f"{mark.ok} verified"
                if judged.verified
                else f"{mark.bad} refused",
                signer=(signed.signer or "") if signed else "",
                signed_at=when.strftime("%Y-%m-%d %H:%M") if when else "",
                reason="" if judged.verified else judged.message,
                verified=judged.verified,
            )
        )
    return sorted(found, key=lambda r: (r.verified, r.reference))


FILE_KEY = "file-"  # row keys of files: images' are their numbers
_NAME_BOUND = {
    "checksums": "signed (the signed checksum file's line)",
    "statement": "signed (the verified statement's subject)",
    "claimed": "claimed, not signed (the signature covers the bytes alone)",
}


def file_detail(
    carried: FileVerdict, contents: Contents | None, mark: Marks
) -> list[Line]:
    """The detail screen of one file: its verdict and each signature judged."""
    lines = [
        Line(f"file:   {carried.name}"),
        Line(f"blob:   {carried.blob} ({carried.size:,} bytes)"),
        Line(f"artifact: {carried.digest}"),
        Line(
            f"{mark.ok} verified: {carried.message}"
            if carried.verified
            else f"{mark.bad} refused ({carried.reason}): {carried.message}",
            failed=not carried.verified,
        ),
        Line(f"name:   {_NAME_BOUND.get(carried.name_bound, carried.name_bound)}"),
    ]
    for evidence in carried.signatures:
        lines += _evidence_lines(evidence, contents, mark)
    return lines


def matches(row: Row, needle: str) -> bool:
    """Whether a row fits the ``/`` filter (any column, case-insensitive)."""
    text = f"{row.reference} {row.digest} {row.platforms} {row.verdict} {row.signer} {row.reason}".lower()
    return all(part in text for part in needle.lower().split())


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the detail screen."""

    text: str
    failed: bool = False


def _provenance_lines(result: VerificationResult) -> list[Line]:
    """The root it verified under (if not the default) and the certificate's source claims (#22)."""
    lines = []
    if result.trust_name != "public-good":
        lines.append(Line(f"  trust root: {result.trust_name}"))
    claims = result.identity.extensions if result.identity else {}
    if "12" in claims:  # Fulcio's source repository URI, ref, signer and runner
        lines.append(
            Line(
                f"  source: {claims['12']} {claims.get('14', '?')}, "
                f"workflow {claims.get('9', '?')}, runner {claims.get('11', '?')}"
            )
        )
    return lines


def _evidence_lines(
    evidence: Evidence, contents: Contents | None, mark: Marks
) -> list[Line]:
    site = evidence.site
    head = f"{mark.ok if evidence.verified else mark.bad} {site.kind} ({site.form}) {site.blob[7:19]}"
    lines = [Line(head, failed=not evidence.verified)]
    result = evidence.result
    if not evidence.verified:
        lines.append(
            Line(
                f"  FAILED [{evidence.reason.value if evidence.reason else '?'}]: {evidence.message}",
                failed=True,
            )
        )
        fix = hint(evidence.reason.value if evidence.reason else None)
        if fix:
            lines.append(Line(f"  fix: {fix}", failed=True))
    if result is not None:
        who = (
            f"key {result.key_id.hex()[:16]}"
            if result.key_id
            else f"{result.signer} ({result.issuer})"
        )
        lines.append(Line(f"  signer: {who}"))
        lines.extend(_provenance_lines(result))
        if result.signing_time:
            lines.append(
                Line(
                    f"  signed: {result.signing_time:%Y-%m-%d %H:%M:%S}Z ({result.time_source.value})"
                )
            )
        if result.log_index is not None:
            lines.append(Line(f"  log: {result.log_url} index {result.log_index}"))
        lines.extend(Line(f"  {mark.ok} {check}") for check in result.checks)
    if evidence.satisfies:
        lines.append(Line(f"  satisfies: {', '.join(evidence.satisfies)}"))
    if site.kind == "attestation":
        summary = attestation_summary(evidence, contents)
        if summary:
            lines.append(Line(f"  {summary}"))
    return lines


def detail(image: ImageVerdict, contents: Contents | None, mark: Marks) -> list[Line]:
    """Every signature and attestation with every check, the failed ones first."""
    lines = [
        Line(f"{image.reference}"),
        *(
            [Line(f"asked as {image.ref} (the exporter's word)")]
            if image.ref != image.reference
            else []
        ),
        Line(f"digest {image.digest}"),
        Line(
            f"{mark.ok} verified: {image.message}"
            if image.verified
            else f"{mark.bad} refused [{image.reason.value if image.reason else '?'}]: {image.message}",
            failed=not image.verified,
        ),
    ]
    fix = "" if image.verified else hint(image.reason.value if image.reason else None)
    if fix:
        lines.append(Line(f"fix: {fix}", failed=True))
    evidence = sorted(
        (*image.signatures, *image.attestations), key=lambda e: e.verified
    )
    for item in evidence:
        lines.append(Line(""))
        lines.extend(_evidence_lines(item, contents, mark))
    for sbom in image.sboms:
        packages = "?" if sbom.packages is None else str(sbom.packages)
        lines.append(Line(""))
        lines.append(
            Line(
                f"SBOM {sbom.format}, {packages} packages, {'signed' if sbom.signed else 'not signed (not counted)'}"
            )
        )
    return lines


def _predicate(evidence: Evidence, contents: Contents | None) -> dict[str, Any]:
    """The statement's predicate, from the envelope whose signature was checked."""
    if contents is None or not evidence.verified:
        return {}
    data = contents.documents.get(evidence.site.blob)
    if data is None:
        return {}
    try:
        doc = json.loads(data)
        envelope = doc.get("dsseEnvelope", doc)  # a bundle, or a bare .att envelope
        statement = json.loads(base64.b64decode(envelope["payload"]))
        predicate = statement.get("predicate")
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
    return predicate if isinstance(predicate, dict) else {}


def attestation_summary(evidence: Evidence, contents: Contents | None) -> str:
    """SLSA provenance: builder, source, commit; VSA: verifier and result; else the type."""
    predicate = _predicate(evidence, contents)
    kind = evidence.predicate_type or "?"
    if "slsa.dev/provenance" in kind:
        run = (
            predicate.get("runDetails", {})
            if isinstance(predicate.get("runDetails"), dict)
            else {}
        )
        builder = (
            (run.get("builder") or {}).get("id", "?")
            if isinstance(run.get("builder"), dict)
            else "?"
        )
        build = (
            predicate.get("buildDefinition", {})
            if isinstance(predicate.get("buildDefinition"), dict)
            else {}
        )
        deps = build.get("resolvedDependencies") or []
        source = deps[0] if deps and isinstance(deps[0], dict) else {}
        commit = (
            (source.get("digest") or {}).get("gitCommit", "?")
            if isinstance(source.get("digest"), dict)
            else "?"
        )
        return f"SLSA provenance: builder {builder}, source {source.get('uri', '?')}, commit {str(commit)[:12]}"
    if "verification_summary" in kind:
        verifier = (
            (predicate.get("verifier") or {}).get("id", "?")
            if isinstance(predicate.get("verifier"), dict)
            else "?"
        )
        return f"verification summary: {predicate.get('verificationResult', '?')} by {verifier} at {predicate.get('timeVerified', '?')}"
    if "spdx" in kind.lower() or "cyclonedx" in kind.lower():
        packages = predicate.get("packages") or predicate.get("components") or []
        return f"SBOM attestation: {len(packages) if isinstance(packages, list) else '?'} packages"
    return f"predicate {kind}"


@dataclass
class Identity:
    """A signer found in the archive, and what it signed."""

    kind: str  # keyless | key
    who: str  # SAN, or key id
    issuer: str | None
    images: list[str] = field(default_factory=list)
    verified: bool = False
    # From a verified certificate (#22): its source repository and signing
    # workflow (Fulcio .12, .9), and the named root it verified under.
    repo: str | None = None
    workflow: str | None = None
    root: str = "public-good"


def identities(verdict: ArchiveVerdict) -> list[Identity]:
    """Every signer identity, issuer and key seen, with the images each signed.

    A signer the policy does not name is listed too (its certificate chain,
    SCT and signature verified; only the policy said no): that is who an
    operator may want to add.
    """
    found: dict[tuple[str, str | None], Identity] = {}
    for image in verdict.images:
        for evidence in (*image.signatures, *image.attestations):
            result, error = evidence.result, evidence.error
            if result is not None:
                key = (
                    result.key_id.hex() if result.key_id else result.signer,
                    result.issuer,
                )
                kind = "key" if result.key_id else "keyless"
            elif error is not None and error.signed_by is not None:
                key, kind = error.signed_by, "keyless"
            else:
                continue
            entry = found.setdefault(
                key, Identity(kind=kind, who=key[0], issuer=key[1])
            )
            entry.verified = entry.verified or result is not None
            if result is not None and result.identity is not None:
                entry.repo = result.identity.extensions.get("12", entry.repo)
                entry.workflow = result.identity.extensions.get("9", entry.workflow)
                entry.root = result.trust_name
            if image.reference not in entry.images:
                entry.images.append(image.reference)
    return sorted(found.values(), key=lambda i: (-len(i.images), i.who))


# Controls, format/bidi characters, separators, surrogates (an escaped
# surrogate is not TOML: the snippet then fails to load, closed).
_NOT_IN_TOML = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string, every control and quote escaped.

    A SAN is the certificate's: a quote or a newline in it must not write a
    rule of its own into the snippet.
    """
    out = ['"']
    for char in text:
        point = ord(char)
        if char in {'"', "\\"}:
            out.append("\\" + char)
        elif unicodedata.category(char) in _NOT_IN_TOML:
            out.append(f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}")  # noqa: PLR2004 - TOML's two escape forms
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def policy_snippet(chosen: Sequence[Identity], match: str = "**") -> str:
    """A policy rule naming ``chosen`` (README's format), for the operator to edit."""
    lines = ["version = 1", "", "[[rules]]", f'match = ["{match}"]']
    roots = sorted({i.root for i in chosen})
    if roots != ["public-good"] and roots:
        lines.append(f"trust = [{', '.join(_toml_string(r) for r in roots)}]")
    lines.append("")
    for identity in chosen:
        lines.append("  [[rules.signers]]")
        if identity.kind == "key":
            lines.append(
                f'  key = "keys/{identity.who[:16]}.pub"  # the key with this id: put its PEM here'
            )
        else:
            lines.append(f"  identity = {_toml_string(identity.who)}")
            lines.append(f"  issuer = {_toml_string(str(identity.issuer))}")
            if identity.repo:
                lines.append(f"  repo = {_toml_string(identity.repo)}")
            if identity.workflow and "@" in identity.workflow:
                # Any ref of the workflow that signed (gh's --signer-workflow).
                workflow = identity.workflow.split("@", 1)[0]
                lines.append(f"  signer_workflow = {_toml_string(workflow)}")
        lines.append("")
    return "\n".join(lines)


def controls_lines(
    policy: str, approved_by: Sequence[str], revocations: dict[str, Any]
) -> list[str]:
    """Which policy is in force, who approved it, and the revocation feeds applied (the trust screen)."""
    lines = [f"policy: {policy}"]
    lines.append(
        f"approved by: {', '.join(k[:16] for k in approved_by)}"
        if approved_by
        else "approved by: nobody (two-person integrity is off)"
    )
    lines.append(f"deny entries in the policy: {revocations.get('policy_entries', 0)}")
    feeds = revocations.get("feeds", [])
    if not feeds:
        lines.append("revocation feeds: none applied")
    lines.extend(
        f"revocation feed: {f['publisher']} v{f['version']}, issued {f['issued']} "
        f"({f['age_days']} days old), {f['entries']} entries, key {str(f['key_id'])[:16]}"
        for f in feeds
    )
    lines.extend(f"  {note}" for note in revocations.get("notes", []))
    return lines
