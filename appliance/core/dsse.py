"""DSSE envelopes and in-toto statements (docs/attestations.md §1, §2).

The signature is over the PAE encoding of the *decoded* payload; the
statement is parsed from those same verified bytes, never re-fetched. Only
the authenticated ``predicateType`` is trusted, never the envelope's
``payloadType`` suffix or ``keyid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core import _json
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.limits import Limits

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = frozenset(
    {"https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"}
)


def pae(payload_type: str, payload: bytes) -> bytes:
    """``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`` (DSSE protocol)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """One subject of a statement (in-toto v1 ``ResourceDescriptor``)."""

    name: str
    digests: dict[str, str]  # {algorithm: lowercase hex}
    # ResourceDescriptor.annotations (in-toto v1); cosign v3 puts ``-a``
    # annotations here (docs/cosign.md §9). Values are any JSON.
    annotations: dict[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """An in-toto statement's authenticated parts."""

    statement_type: str
    predicate_type: str
    subjects: tuple[Subject, ...]


def parse_statement(payload: bytes, *, limits: Limits) -> Statement:
    """Parse the verified payload as an in-toto statement.

    Raises:
        VerificationError: not a statement we understand (reason
            ``malformed-input``), or over the subject limits.
    """
    try:
        doc = _json.obj(
            _json.loads(payload, what="in-toto statement"), "in-toto statement"
        )
        statement_type = _json.string(doc, "_type", "statement")
        predicate_type = _json.string(doc, "predicateType", "statement")
        raw_subjects = _json.member_list(doc, "subject", "statement")
    except InputError as exc:
        raise VerificationError(
            exc.diagnostics(), reason=Reason.MALFORMED_INPUT, where="statement"
        ) from exc
    if statement_type not in STATEMENT_TYPES:
        raise VerificationError(
            f"unknown statement type {statement_type!r}",
            reason=Reason.UNSUPPORTED_FORMAT,
            where="statement",
        )
    if not raw_subjects or len(raw_subjects) > limits.max_statement_subjects:
        raise VerificationError(
            f"statement has {len(raw_subjects)} subjects",
            reason=Reason.LIMIT_EXCEEDED,
            where="statement",
        )
    subjects = []
    for i, item in enumerate(raw_subjects):
        if not isinstance(item, dict) or not isinstance(item.get("digest"), dict):
            raise VerificationError(
                f"subject {i} has no digest",
                reason=Reason.MALFORMED_INPUT,
                where="statement",
            )
        digests = item["digest"]
        if len(digests) > limits.max_subject_digests:
            raise VerificationError(
                f"subject {i} has too many digests",
                reason=Reason.LIMIT_EXCEEDED,
                where="statement",
            )
        if not all(isinstance(v, str) for v in digests.values()):
            # A DigestSet maps names to strings (in-toto digest_set.md); Go's
            # decoder refuses anything else, and so do we.
            raise VerificationError(
                f"subject {i} has a digest that is not a string",
                reason=Reason.MALFORMED_INPUT,
                where="statement",
            )
        name = item.get("name")
        # null is no annotations (Go's decoder leaves the map nil).
        annotations = item.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise VerificationError(
                f"subject {i} has annotations that are not an object",
                reason=Reason.MALFORMED_INPUT,
                where="statement",
            )
        # Names and values are compared exactly, as cosign and sigstore-go
        # compare them: the spec's names are lowercase ("sha256"), and
        # "SHA256" is another algorithm name, not a spelling of it.
        subjects.append(
            Subject(
                name=name if isinstance(name, str) else "",
                digests=dict(digests),
                annotations=dict(annotations),
            )
        )
    return Statement(
        statement_type=statement_type,
        predicate_type=predicate_type,
        subjects=tuple(subjects),
    )


def match_subject(statement: Statement, digests: dict[str, bytes]) -> Subject:
    """Return the first subject whose digest set contains one of ``digests``.

    Raises:
        VerificationError: no subject matches (reason ``digest-mismatch``).
    """
    for subject in statement.subjects:
        for algorithm, value in digests.items():
            if subject.digests.get(algorithm) == value.hex():
                return subject
    wanted = ", ".join(f"{a}:{v.hex()[:16]}…" for a, v in digests.items())
    msg = f"no statement subject has the artifact's digest ({wanted})"
    raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="statement")
