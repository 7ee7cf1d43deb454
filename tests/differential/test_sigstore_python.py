"""Our verdicts against sigstore-python's on the same inputs.

sigstore-python (a test-only oracle) and Airlock's core verify bundles minted
by the local Sigstore stack, untouched and then tampered: every named
tampering, and seeded random bit flips inside every base64 field. The two
must agree, except where we are knowingly stricter; each such place is listed
in ``STRICTER`` with its reason and pinned by a test of its own.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle as SpBundle
from sigstore.models import TrustedRoot as SpTrustedRoot
from sigstore.verify import Verifier, policy

from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.policy import IdentityPolicy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.sigstore_stack import DEFAULT_ISSUER, GitHubClaims, SigstoreStack
from tests.helpers.tamper import TAMPERINGS, random_flips

if TYPE_CHECKING:
    from pathlib import Path

ARTIFACT = b"differential artifact\n"
IDENTITY = "dev@airlock.test"
# Where we knowingly refuse what sigstore-python 4.5.1 accepts.
STRICTER = {
    "ca-window": "the Fulcio CA's validFor must contain the signing time (sigstore-go does this; sigstore-python uses expired CAs too)",
    "tlog-key-window": "the Rekor key's validFor must contain the integrated time (sigstore-go; sigstore-python allows expired keys)",
}


class Pair:
    """The two verifiers, set up on one stack's trusted root."""

    def __init__(
        self, stack: SigstoreStack, tmp_path: Path, **root_kwargs: Any
    ) -> None:
        root = stack.trusted_root_json(**root_kwargs)
        path = tmp_path / "trusted_root.json"
        path.write_bytes(root)
        self.theirs = Verifier(trusted_root=SpTrustedRoot.from_file(str(path)))
        self.ours = TrustMaterial.from_bytes(root, source="stack", tuf_backed=False)
        self.now = stack.now

    def sigstore_python(
        self, bundle: dict[str, Any], artifact: bytes, dsse: bool
    ) -> bool:
        pol = policy.Identity(identity=IDENTITY, issuer=DEFAULT_ISSUER)
        try:
            parsed = SpBundle.from_json(json.dumps(bundle))
            if dsse:
                self.theirs.verify_dsse(parsed, pol)
            else:
                self.theirs.verify_artifact(artifact, parsed, pol)
        except (SigstoreError, ValueError):
            return False
        return True

    def airlock(self, bundle: dict[str, Any], artifact: bytes) -> bool:
        try:
            parsed = Bundle.from_bytes(json.dumps(bundle).encode())
            verify_bundle(
                parsed,
                artifact=Artifact(artifact),
                trust=self.ours,
                policy=IdentityPolicy(identity=IDENTITY, issuer=DEFAULT_ISSUER),
                now=self.now,
            )
        except (InputError, VerificationError):
            return False
        return True


def _cases(stack: SigstoreStack) -> dict[str, tuple[dict[str, Any], bool]]:
    digest = ARTIFACT
    import hashlib  # noqa: PLC0415

    subject = {"artifact": hashlib.sha256(digest).hexdigest()}
    github = GitHubClaims()
    return {
        "v0.1": (
            stack.sign_blob(ARTIFACT, identity=IDENTITY).bundle(version="0.1"),
            False,
        ),
        "v0.2": (
            stack.sign_blob(ARTIFACT, identity=IDENTITY).bundle(version="0.2"),
            False,
        ),
        "v0.3": (
            stack.sign_blob(ARTIFACT, identity=IDENTITY).bundle(version="0.3"),
            False,
        ),
        "v0.3-github": (
            stack.sign_blob(ARTIFACT, identity=IDENTITY, github=github).bundle(),
            False,
        ),
        "dsse": (stack.attest(subject, identity=IDENTITY).bundle(), True),
    }


@pytest.mark.parametrize("kind", ["v0.1", "v0.2", "v0.3", "v0.3-github", "dsse"])
def test_untouched_bundles_agree(
    sigstore_stack: SigstoreStack, tmp_path: Path, kind: str
) -> None:
    pair = Pair(sigstore_stack, tmp_path)
    bundle, dsse = _cases(sigstore_stack)[kind]
    assert pair.sigstore_python(bundle, ARTIFACT, dsse) is True
    assert pair.airlock(bundle, ARTIFACT) is True


@pytest.mark.parametrize("where", sorted(TAMPERINGS))
def test_named_tamperings_agree(
    sigstore_stack: SigstoreStack, tmp_path: Path, where: str
) -> None:
    pair = Pair(sigstore_stack, tmp_path)
    bundle = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY).bundle()
    TAMPERINGS[where](bundle)
    assert pair.sigstore_python(bundle, ARTIFACT, dsse=False) is False
    assert pair.airlock(bundle, ARTIFACT) is False


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["v0.1", "v0.3", "dsse"])
def test_random_bit_flips_agree(
    sigstore_stack: SigstoreStack, tmp_path: Path, kind: str, seed: int
) -> None:
    """Seeded random flips in every base64 field; both must agree every time."""
    pair = Pair(sigstore_stack, tmp_path)
    bundle, dsse = _cases(sigstore_stack)[kind]
    disagreements = []
    for label, mutated in random_flips(bundle, random.Random(f"{kind}-{seed}"), 40):
        theirs, ours = (
            pair.sigstore_python(mutated, ARTIFACT, dsse),
            pair.airlock(mutated, ARTIFACT),
        )
        if theirs != ours:
            disagreements.append(f"{label}: sigstore-python={theirs} airlock={ours}")
        assert ours is False or theirs is True, (
            label
        )  # we never accept what the oracle refuses
    assert disagreements == []


def test_changed_artifact_agrees(sigstore_stack: SigstoreStack, tmp_path: Path) -> None:
    pair = Pair(sigstore_stack, tmp_path)
    bundle = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY).bundle()
    assert pair.sigstore_python(bundle, ARTIFACT + b"x", dsse=False) is False
    assert pair.airlock(bundle, ARTIFACT + b"x") is False


def test_expired_at_integration_agrees(
    sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    pair = Pair(sigstore_stack, tmp_path)
    bundle = sigstore_stack.sign_blob(
        ARTIFACT, identity=IDENTITY, integrated_after=timedelta(minutes=11)
    ).bundle()
    assert pair.sigstore_python(bundle, ARTIFACT, dsse=False) is False
    assert pair.airlock(bundle, ARTIFACT) is False


@pytest.mark.parametrize(
    ("window", "reason"),
    [("ca_end", Reason.CHAIN_UNTRUSTED), ("tlog_end", Reason.OUTSIDE_VALIDITY)],
    ids=["ca-window", "tlog-key-window"],
)
def test_stricter_validity_windows(
    sigstore_stack: SigstoreStack, tmp_path: Path, window: str, reason: Reason
) -> None:
    """STRICTER: a Fulcio CA (or Rekor key) whose window closed a day before the signing."""
    bundle = sigstore_stack.sign_blob(ARTIFACT, identity=IDENTITY).bundle()
    pair = Pair(
        sigstore_stack, tmp_path, **{window: sigstore_stack.now - timedelta(days=1)}
    )
    assert pair.sigstore_python(bundle, ARTIFACT, dsse=False) is True
    with pytest.raises(VerificationError) as caught:
        verify_bundle(
            Bundle.from_bytes(json.dumps(bundle).encode()),
            artifact=Artifact(ARTIFACT),
            trust=pair.ours,
            policy=IdentityPolicy(identity=IDENTITY, issuer=DEFAULT_ISSUER),
            now=pair.now,
        )
    assert caught.value.reason is reason
