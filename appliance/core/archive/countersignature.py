"""The appliance's own countersignature: a SLSA VSA by its key, PASSED, for the digest.

In the gap there is no log, so the countersignature is a key signature
(``load --countersign-key`` writes it; ``--require-countersignature``
demands it). Read from the verified ``.att`` layer only.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from appliance.core import _json
from appliance.core.archive import media
from appliance.core.archive.forms import legacy_evidence
from appliance.core.archive.verdict import Unmet
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Sequence

    from appliance.core.archive.forms import Context
    from appliance.core.archive.intake import Contents
    from appliance.core.archive.verdict import Evidence
    from appliance.core.policyfile import Signer


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


def countersignature(ctx: Context, digest: str, keys: Sequence[Signer]) -> Evidence:
    """The appliance's SLSA VSA about ``digest``: signed by one of ``keys``, PASSED, for this digest.

    In the gap there is no log: the countersignature is a key signature.
    """
    found = legacy_evidence(
        replace(ctx, signers=tuple(keys), insecure_ignore_tlog=True),
        digest,
        attestation=True,
    )
    why = "no verification summary by the countersigning key"
    for evidence in found:
        if not (
            evidence.verified
            and evidence.satisfies
            and evidence.predicate_type == media.VSA
        ):
            continue
        summary = _summary_of(ctx.contents, evidence)
        if summary.get("verificationResult") != "PASSED":
            why = f"the verification summary says {str(summary.get('verificationResult'))[:20]}"
        elif not str(summary.get("resourceUri", "")).endswith(f"@{digest}"):
            why = f"the verification summary is about {str(summary.get('resourceUri'))[:200]}"
        else:
            return evidence
    raise Unmet(Reason.POLICY_UNSATISFIED, f"countersignature: {why}")
