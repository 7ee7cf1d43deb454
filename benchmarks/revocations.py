"""Revocation: verification with a large deny list beside sigstore-python's verification without any.

Sigstore has no revocation, so the peer verifies the same bundle with no deny
list at all: what a deny list costs is the difference. Ours verifies a real
public bundle (tests/assets/vectors) and then checks the verified result
against 10,000 deny entries of every kind, none of which names it (the worst
case: every entry is tried); and a revocation feed of 10,000 entries is
verified and parsed (signature over its RFC 8785 bytes) as every
verification of an archive carrying one does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core import keys
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.policy import IdentityPolicy
from appliance.core.revocations import (
    MEDIA_TYPE,
    canonical,
    sign_entry,
    verify_feed,
)
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from benchmarks.verify import CASES, _digest, _per_call_ms

if TYPE_CHECKING:
    from appliance.core.deny import Denial

ENTRIES = 10_000


def _entries() -> list[dict[str, str]]:
    """10,000 entries of every kind, none naming the benchmark's bundle."""
    found: list[dict[str, str]] = []
    for i in range(ENTRIES):
        kind = i % 5
        if kind == 0:
            found.append({"digest": f"sha256:{i:064x}", "reason": "r"})
        elif kind == 1:
            found.append(
                {
                    "identity": f"user{i}@example.com",
                    "issuer": "https://issuer.example",
                    "reason": "r",
                }
            )
        elif kind == 2:
            found.append({"key_id": f"{i:064x}", "reason": "r"})
        elif kind == 3:
            found.append({"log": f"{i:064x}:{i}", "reason": "r"})
        else:
            found.append(
                {
                    "certificate_serial": f"{i + 1:x}",
                    "since": "2026-01-01T00:00:00Z",
                    "reason": "r",
                }
            )
    return found


def _feed() -> tuple[dict[str, object], ec.EllipticCurvePublicKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    payload = {
        "type": "https://airlock.dev/revocations/v1",
        "publisher": "bench",
        "version": 1,
        "issued": "2026-12-01T00:00:00Z",
        "entries": _entries(),
    }
    signature = key.sign(canonical(payload), ec.ECDSA(hashes.SHA256()))
    doc: dict[str, object] = {
        "mediaType": MEDIA_TYPE,
        "payload": payload,
        "signatures": [sign_entry(keys.key_id(key.public_key()), signature)],
    }
    return doc, key.public_key()


def run(iterations: int = 100) -> list[tuple[str, float, float, str]]:
    """(label, ours ms, sigstore-python ms, goal)."""
    from benchmarks.verify import in_process  # noqa: PLC0415

    case = CASES[0]
    doc, public = _feed()
    deny = verify_feed(doc, trusted=[public], where="bench").deny
    assert len(deny.entries) == ENTRIES  # noqa: S101 - the benchmark's premise
    now = datetime.now(UTC)
    trust = TrustMaterial.from_bytes(
        case.trusted_root.read_bytes(), source="bench", tuf_backed=False
    )
    data = case.bundle.read_bytes()
    artifact = Artifact.from_digest("sha256", _digest(case))
    policy = IdentityPolicy(identity=case.identity, issuer=case.issuer)

    def verify_then_deny() -> None:
        result = verify_bundle(
            Bundle.from_bytes(data),
            artifact=artifact,
            trust=trust,
            policy=policy,
            now=now,
        )
        denial: Denial | None = deny.signature(result, subject=f"sha256:{case.digest}")
        assert denial is None  # noqa: S101 - none names it: every entry was tried

    def verify_alone() -> None:
        verify_bundle(
            Bundle.from_bytes(data),
            artifact=artifact,
            trust=trust,
            policy=policy,
            now=now,
        )

    peer = in_process(iterations=iterations)[0][2]
    alone = _per_call_ms(verify_alone, iterations=iterations)
    ours = _per_call_ms(verify_then_deny, iterations=iterations)
    feed_ms = _per_call_ms(
        lambda: verify_feed(doc, trusted=[public], where="bench"), iterations=5
    )
    return [
        (f"{case.label}: verify, no deny list", alone, peer, "(the baseline)"),
        (
            f"{case.label}: verify + {ENTRIES:,} deny entries",
            ours,
            peer,
            "<= 0.6x (as verify)",
        ),
        (
            f"verify and parse a {ENTRIES:,}-entry feed (once per verification)",
            feed_ms,
            peer,
            "< 1 s (no peer has feeds)",
        ),
    ]
