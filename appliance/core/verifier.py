"""Verify a Sigstore bundle: bytes, trust, policy and ``now`` in; a result out.

The only success path is the ``return`` at the end of :func:`verify_bundle`;
every check raises :class:`~appliance.core.errors.VerificationError` naming
itself. The order (docs/verification.md §1):

1. signer: the leaf's Fulcio profile, or the operator's key;
2. the signature over the artifact, or over the DSSE PAE and the statement's
   subject;
3. every log entry from a trusted log: inclusion proof and checkpoint (and
   the log memory: no split view), SET (its time counts only if it
   verified), and the body against the bundle;
4. every RFC 3161 timestamp, against the trusted TSAs;
5. every counted log entry's key valid at each verified time; an entry with
   no verified time at all does not count; at least one counted entry,
   unless the material is key-signed and the operator said
   ``insecure_ignore_tlog`` (cosign's ``--insecure-ignore-tlog``);
6. for certificates: at least one verified time, and at *each* time a path to
   a Fulcio CA valid then; an SCT from a trusted CT log; the identity policy.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.core import certs, dsse, keys, rekor_body, timestamp, tlog
from appliance.core.bundle import Bundle, DsseEnvelope, MessageSignature, TlogEntry
from appliance.core.errors import (
    InputError,
    Reason,
    TrustRootError,
    VerificationError,
)
from appliance.core.limits import DEFAULT_LIMITS, Limits
from appliance.core.policy import KeyPolicy, Policy
from appliance.core.report import TimeSource, VerificationResult

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime, timedelta

    from cryptography import x509

    from appliance.core.artifact import Artifact
    from appliance.core.trust import TrustMaterial


def _signer(
    bundle: Bundle, policy: Policy
) -> tuple[x509.Certificate | None, keys.PublicKey, certs.Extensions]:
    if bundle.certificate is not None:
        if isinstance(policy, KeyPolicy):
            msg = "bundle is signed with a certificate, but a key was given; verify it with an identity"
            raise VerificationError(
                msg, reason=Reason.POLICY_UNSATISFIED, where="bundle"
            )
        leaf, public = certs.load_leaf(bundle.certificate, where="bundle certificate")
        # This leaf's extensions by OID, for this verification's checks only.
        extensions = certs.extensions_of(leaf)
        certs.check_leaf_profile(leaf, extensions=extensions)
        try:
            key = keys.supported(public, "bundle certificate")
        except (ValueError, UnsupportedAlgorithm, InputError) as exc:
            # A damaged or exotic key in the leaf: nothing it signed can verify.
            msg = f"certificate key unusable: {exc}"
            raise VerificationError(
                msg, reason=Reason.CERTIFICATE_INVALID, where="certificate"
            ) from exc
        return leaf, key, extensions
    if not isinstance(policy, KeyPolicy):
        msg = "bundle is signed with a key, not a certificate; verify it with --key"
        raise VerificationError(msg, reason=Reason.POLICY_UNSATISFIED, where="bundle")
    return None, policy.key, {}


def _message(
    content: MessageSignature, key: keys.PublicKey, artifact: Artifact
) -> dict[str, bytes]:
    algorithm = content.digest_algorithm or "sha256"
    digest = artifact.digest(algorithm)
    if digest is None:
        msg = f"the artifact's {algorithm} digest is needed and was not given"
        raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="artifact")
    if content.digest is not None and content.digest != digest:
        msg = "the artifact's digest is not the one the bundle signed"
        raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="artifact")
    if isinstance(key, ed25519.Ed25519PublicKey):
        if artifact.data is None:
            msg = "an Ed25519 signature can only be checked over the artifact itself, not its digest"
            raise VerificationError(
                msg, reason=Reason.SIGNATURE_INVALID, where="artifact"
            )
        keys.verify(
            key, content.signature, artifact.data, what="artifact", where="artifact"
        )
    else:
        keys.verify_prehashed(
            key, content.signature, digest, algorithm, what="artifact", where="artifact"
        )
    return {algorithm: digest}


def _envelope(
    content: DsseEnvelope,
    key: keys.PublicKey,
    artifact: Artifact,
    limits: Limits,
    *,
    rekor_v2: bool,
) -> tuple[dict[str, bytes], dsse.Statement, dsse.Subject]:
    if content.payload_type != dsse.INTOTO_PAYLOAD_TYPE:
        msg = f"DSSE payload type {content.payload_type!r} is not an in-toto statement"
        raise VerificationError(
            msg, reason=Reason.UNSUPPORTED_FORMAT, where="dsse envelope"
        )
    signed = dsse.pae(content.payload_type, content.payload)
    keys.verify(
        key,
        content.signatures[0].sig,
        signed,
        what="DSSE envelope",
        where="dsse envelope",
    )
    statement = dsse.parse_statement(content.payload, limits=limits)
    subject = dsse.match_subject(statement, artifact.digests())
    # Rekor v2 logs a DSSE envelope as a hashedrekord over H(PAE); only a
    # hashedrekord 0.0.2 body (a Rekor v2 entry) is compared with these.
    pae_digests = (
        {
            name: hashlib.new(name, signed).digest()
            for name in ("sha256", "sha384", "sha512")
        }
        if rekor_v2
        else {}
    )
    return pae_digests, statement, subject


@dataclass
class _Progress:
    """What the verification has established so far (internal, mutable)."""

    checks: list[str] = field(default_factory=list)
    entries: list[tlog.VerifiedEntry] = field(default_factory=list)
    times: list[tuple[datetime, TimeSource]] = field(default_factory=list)
    identity: certs.Identity | None = None


def _entry_where(i: int, entry: TlogEntry) -> str:
    return f"tlog entry {i} (log index {entry.log_index})"


def _check_entries(
    bundle: Bundle,
    signer: rekor_body.Signer,
    signed: rekor_body.Signed,
    trust: TrustMaterial,
    progress: _Progress,
) -> None:
    for i, entry in enumerate(bundle.tlog_entries):
        where = _entry_where(i, entry)
        result = tlog.verify_entry(entry, trust=trust, where=where)
        if result is None:
            continue  # an untrusted log vouches for nothing; the threshold decides
        rekor_body.check_body(
            entry.canonicalized_body,
            kind=entry.kind,
            version=entry.version,
            signer=signer,
            signed=signed,
        )
        progress.entries.append(result)
        if result.integrated_time is not None:
            progress.times.append((result.integrated_time, TimeSource.TRANSPARENCY_LOG))


def _count_entries(
    bundle: Bundle,
    signer: rekor_body.Signer,
    progress: _Progress,
    *,
    trust: TrustMaterial,
    insecure_ignore_tlog: bool,
) -> None:
    """Keep the entries whose log key was valid at every verified time."""
    times = [when for when, _ in progress.times]
    if progress.entries and not times and signer.certificate is not None:
        # Said first: it is the root cause, and no entry could count anyway.
        msg = "no verified signing time: no SET and no trusted timestamp"
        raise VerificationError(msg, reason=Reason.NO_VERIFIED_TIME, where="bundle")
    counted: list[tlog.VerifiedEntry] = []
    for result in progress.entries:
        i = bundle.tlog_entries.index(result.entry)
        where = _entry_where(i, result.entry)
        if not times:
            # A proof alone signs no time: nothing says the log's key was
            # valid when it included the entry, so the entry cannot count.
            progress.checks.append(
                f"{where}: inclusion proof verifies, but with no verified time it does not count"
            )
            continue
        tlog.check_key_window(result, times, where=where)
        counted.append(result)
        evidence = [
            *(["inclusion proof and signed checkpoint"] if result.proven else []),
            *(["SET"] if result.integrated_time else []),
        ]
        index = (
            f"log index {result.log_index}"
            if result.log_index is not None
            else f"tree index {result.entry.inclusion_proof.log_index}"  # type: ignore[union-attr]
        )
        progress.checks.append(
            f"{index} on {result.log.base_url}: {', '.join(evidence)}; body matches the bundle; "
            f"log key valid at {len(times)} verified time(s)"
        )
    progress.entries = counted
    if counted:
        return
    if signer.certificate is None and insecure_ignore_tlog:
        # A key signature made offline (e.g. with an HSM) carries no log
        # entry; the operator accepted that explicitly, and the report says so.
        progress.checks.append(
            "no counted transparency log entry: accepted under --insecure-ignore-tlog, "
            "on the operator's key alone"
        )
        return
    if not trust.requires_tlog:
        _count_timestamps(trust, progress)
        return
    if signer.certificate is None:
        msg = "key-signed material has no verified transparency log entry (pass --insecure-ignore-tlog to accept it on the key alone)"
    else:
        msg = "no verified log entry from a trusted transparency log"
    raise VerificationError(msg, reason=Reason.TLOG_ENTRY_MISSING, where="bundle")


def _count_timestamps(trust: TrustMaterial, progress: _Progress) -> None:
    """A root without transparency logs: verified RFC 3161 timestamps stand for the entry.

    GitHub's instance signs with no log; its clients demand one verified
    timestamp from a TSA of that root (``gh attestation verify``,
    sigstore-go ``WithSignedTimestamps(1)``). Only a root that lists no log
    takes this path, so a TSA-only bundle under a root with logs still fails.
    """
    stamps = sum(
        1 for _, source in progress.times if source is TimeSource.TIMESTAMP_AUTHORITY
    )
    if stamps < trust.min_timestamps:
        msg = f"the trusted root ({trust.name}) has no transparency log, so its rule demands {trust.min_timestamps} verified RFC 3161 timestamp(s); the bundle has {stamps}"
        raise VerificationError(msg, reason=Reason.NO_VERIFIED_TIME, where="bundle")
    progress.checks.append(
        f"trusted root {trust.name} has no transparency log: by its rule, {stamps} verified RFC 3161 timestamp(s) stand for a log entry"
    )


def _check_timestamps(
    bundle: Bundle, trust: TrustMaterial, progress: _Progress
) -> None:
    # Stricter than sigstore-python, which skips stamps it cannot verify: a
    # bundle carrying a stamp no trusted TSA vouches for is refused outright.
    for i, stamp in enumerate(bundle.rfc3161_timestamps):
        when = timestamp.verify_timestamp(
            stamp, signature=bundle.timestamped, trust=trust, where=f"timestamp {i}"
        )
        progress.times.append((when, TimeSource.TIMESTAMP_AUTHORITY))
        progress.checks.append(
            f"RFC 3161 timestamp {i} verifies: {when:%Y-%m-%dT%H:%M:%SZ}"
        )


def _check_certificate(
    leaf: x509.Certificate,
    extensions: certs.Extensions,
    policy: Policy,
    trust: TrustMaterial,
    progress: _Progress,
) -> tuple[str, certs.Identity, tuple[int, ...]]:
    if not progress.times:
        msg = "no verified signing time: no SET and no trusted timestamp"
        raise VerificationError(msg, reason=Reason.NO_VERIFIED_TIME, where="bundle")
    issuer = certs.verify_chain(
        leaf, trust=trust, times=[when for when, _ in progress.times]
    )
    progress.checks.append(
        f"certificate chains to a trusted Fulcio CA at each of {len(progress.times)} verified time(s)"
    )
    if trust.requires_sct:
        certs.verify_sct(leaf, issuer, trust=trust, extensions=extensions)
        progress.checks.append("embedded SCT verifies under a trusted CT log")
    else:
        progress.checks.append(
            f"trusted root {trust.name} lists no CT log: by its rule, no SCT is demanded"
        )
    identity = certs.identity_of(leaf, extensions=extensions)
    if isinstance(policy, KeyPolicy):  # _signer() guarantees it; this narrows the type
        raise VerificationError("no identity policy", reason=Reason.POLICY_UNSATISFIED)
    try:
        signer = policy.verify(identity)
    except VerificationError as exc:
        exc.signed_by = (identity.sans[0] if identity.sans else "?", identity.issuer)
        raise
    progress.identity = identity
    progress.checks.append(
        f"identity {signer} from {identity.issuer} matches the policy"
    )
    return (
        signer,
        identity,
        (leaf.serial_number, *(c.serial_number for c in issuer.certificates)),
    )


@functools.lru_cache(maxsize=8)
def _clock_line(now: datetime, offset: timedelta | None) -> str:
    # One ``now`` stands for every bundle of an archive: formatted once
    # (strftime is 2-3 us, a bundle's largest check line). The offset is in
    # the key because equal instants in two zones are equal datetimes and
    # print differently.
    del offset
    return f"verified at {now:%Y-%m-%dT%H:%M:%SZ} (appliance clock)"


def verify_bundle(  # noqa: PLR0913 - every input is keyword-only and named (docs/development.md §3)
    bundle: Bundle,
    *,
    artifact: Artifact,
    trust: TrustMaterial,
    policy: Policy,
    now: datetime,
    insecure_ignore_tlog: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> VerificationResult:
    """Verify ``bundle`` for ``artifact`` under ``trust`` and ``policy``.

    Args:
        bundle: a parsed bundle.
        artifact: the artifact's bytes or digest (for DSSE, a subject).
        trust: the trusted root's material (and the log memory).
        policy: the identity or key the signer must have.
        now: the caller's clock, recorded in the checks; signing times come
            only from the log and timestamp authorities, never from ``now``.
        insecure_ignore_tlog: accept *key-signed* material without a counted
            log entry (cosign's ``--insecure-ignore-tlog``). Entries that are
            present are still verified; certificates always need one.
        limits: caps on untrusted input.

    Returns:
        What was verified; returned only if every check passed.

    Raises:
        VerificationError: any check failed (the reason names which).
    """
    progress = _Progress(checks=[f"bundle v{bundle.version} is well-formed"])
    leaf, key, extensions = _signer(bundle, policy)
    if leaf is not None:
        progress.checks.append(
            "signing certificate has the Fulcio code-signing profile"
        )

    statement: dsse.Statement | None = None
    subject: dsse.Subject | None = None
    if isinstance(bundle.content, MessageSignature):
        signed_digests = _message(bundle.content, key, artifact)
        progress.checks.append("signature over the artifact digest verifies")
    else:
        signed_digests, statement, subject = _envelope(
            bundle.content,
            key,
            artifact,
            limits,
            rekor_v2=any(tlog.is_rekor_v2(e) for e in bundle.tlog_entries),
        )
        progress.checks.extend(
            [
                "DSSE envelope signature verifies",
                f"statement subject {subject.name or '(unnamed)'} matches the artifact",
            ]
        )

    envelope = bundle.content if isinstance(bundle.content, DsseEnvelope) else None
    signed = rekor_body.Signed(
        digests=signed_digests, signature=bundle.signature, envelope=envelope
    )
    bundle_signer = rekor_body.Signer.of(leaf, key, der=bundle.certificate)
    _check_entries(bundle, bundle_signer, signed, trust, progress)
    _check_timestamps(bundle, trust, progress)
    _count_entries(
        bundle,
        bundle_signer,
        progress,
        trust=trust,
        insecure_ignore_tlog=insecure_ignore_tlog,
    )

    issuer: str | None = None
    serials: tuple[int, ...] = ()
    if leaf is not None:
        signer_name, identity, serials = _check_certificate(
            leaf, extensions, policy, trust, progress
        )
        issuer = identity.issuer
    else:
        signer_name = "key " + keys.key_id(key).hex()[:16]

    first = min(progress.times, key=lambda t: t[0]) if progress.times else None
    progress.checks.append(_clock_line(now, now.utcoffset()))
    best = progress.entries[0] if progress.entries else None
    return VerificationResult(
        signer=signer_name,
        issuer=issuer,
        signing_time=first[0] if first else None,
        time_source=first[1] if first else TimeSource.NONE,
        log_index=best.log_index if best else None,
        log_url=best.log.base_url if best else None,
        bundle_version=str(bundle.version),
        content="message-signature" if statement is None else "dsse",
        predicate_type=None if statement is None else statement.predicate_type,
        subject=None if subject is None else subject.name,
        subject_annotations=None if subject is None else subject.annotations,
        trust_source=trust.source,
        trust_name=trust.name,
        trust_sha256=trust.sha256,
        tuf_backed=trust.tuf_backed,
        trust_stale_since=trust.stale_since,
        checks=tuple(progress.checks),
        verified_times=tuple(when for when, _ in progress.times),
        identity=progress.identity,
        key_id=None if leaf is not None else keys.key_id(key),
        checkpoints=tuple(e.checkpoint for e in progress.entries if e.checkpoint),
        payload=None if envelope is None else envelope.payload,
        log_entries=tuple(
            (e.log.log_id, e.log_index)
            for e in progress.entries
            if e.log_index is not None
        ),
        certificate_serials=serials,
    )


_T = TypeVar("_T")

# Failures that only say "this is not the root that signed it": with several
# roots, the error shown is one that got further, under the root that did.
_WRONG_ROOT = frozenset(
    {
        Reason.CHAIN_UNTRUSTED,
        Reason.TLOG_ENTRY_MISSING,
        Reason.TIMESTAMP_INVALID,
        Reason.SCT_INVALID,
        Reason.NO_VERIFIED_TIME,
    }
)


def under_roots(
    roots: Sequence[TrustMaterial], verify: Callable[[TrustMaterial], _T]
) -> _T:
    """``verify`` under each root in turn; the first that verifies wins.

    Each root applies its own rules (a root without logs demands a
    timestamp, one with logs an entry: :attr:`TrustMaterial.requires_tlog`);
    nothing is combined across roots, so material never verifies by one
    root's CA and another's log. This is how ``gh attestation verify`` uses
    the roots of ``gh attestation trusted-root``.

    Raises:
        VerificationError: no root verifies it: the error of the root that
            got furthest (the first, if none did), naming that root.
        TrustRootError: no root was given.
    """
    if not roots:
        msg = "no trusted root is held for this rule"
        raise TrustRootError(msg, reason=Reason.TRUST_ROOT_INVALID, where="policy")
    failures: list[tuple[TrustMaterial, VerificationError]] = []
    for root in roots:
        try:
            return verify(root)
        except VerificationError as exc:
            failures.append((root, exc))
    if len(failures) == 1:
        raise failures[0][1]
    furthest, error = next(
        ((r, e) for r, e in failures if e.reason not in _WRONG_ROOT), failures[0]
    )
    names = ", ".join(r.name for r, _ in failures)
    error.message = (
        f"under no trusted root ({names}); under {furthest.name}: {error.message}"
    )
    raise error
