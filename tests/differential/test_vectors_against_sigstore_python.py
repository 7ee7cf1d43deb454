"""Our verdicts against sigstore-python's on every real vector it can express.

sigstore-python 4.5.1 (test-only oracle) runs each sigstore-conformance case
and each real bundle/attestation from extra-cases.json, by digest, with the
same trusted root and identity. Verdicts must agree, except in ``ORACLE_WRONG``
(documented in tests/assets/vectors/README.md, "Baseline run", and by the
suite's own self-test) and ``ORACLE_CANNOT`` (inputs it refuses to load).
Key-signed cases are left out: its API has no key-only verification.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle as SpBundle
from sigstore.models import TrustedRoot as SpTrustedRoot
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

from tests.helpers.vectors import (
    CONFORMANCE,
    VECTORS,
    conformance_cases,
    extra_cases,
    trusted_root_path,
)
from tests.vectors import test_conformance, test_extra_cases

# sigstore-python is wrong here; we are right (vectors/README.md).
ORACLE_WRONG = {
    "intoto-with-custom-trust-root": "cannot check legacy intoto/0.0.2 entries",
    "trust-root-tsa-validity-end-inclusive": "treats the end of a TSA validity window as exclusive",
}
# Real bundles sigstore-python cannot verify: v0.1 bundles without an inclusion
# proof (it refuses to load them; the format allows it, sigstore-go and
# sigstore-js accept them) and legacy intoto/0.0.2 log entries (unsupported).
ORACLE_CANNOT = {
    "cpython-3.12.5-tarball", "sigstore-js-bundleV01-dsse-no-proof", "sigstore-js-bundleV01-intoto-no-proof",
    "sigstore-js-bundleV01-full-cert-chain", "sigstore-go-dsse", "sigstore-go-bundle-provenance",
    "sigstore-js-bundleV01-intoto-with-proof", "sigstore-js-bundleV02-intoto", "sigstore-js-bundleV03-intoto",
    "sigstore-go-sigstore-js-2.0.0",
}  # fmt: skip


def sigstore_python(
    bundle_path: Any, root_path: Any, digest: str, identity: str, issuer: str
) -> bool:
    algorithm, hex_digest = digest.split(":")
    try:
        verifier = Verifier(trusted_root=SpTrustedRoot.from_file(str(root_path)))
        bundle = SpBundle.from_json(bundle_path.read_bytes())
        pol = policy.Identity(identity=identity, issuer=issuer)
        if bundle._dsse_envelope is not None:
            _, payload = verifier.verify_dsse(bundle, pol)
            subjects = json.loads(payload).get("subject", [])
            return any(
                s.get("digest", {}).get(algorithm) == hex_digest for s in subjects
            )
        if algorithm != "sha256":
            return False
        verifier.verify_artifact(
            Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(hex_digest)),
            bundle,
            pol,
        )
    except (SigstoreError, ValueError, KeyError, TypeError):
        return False
    return True


CONFORMANCE_CASES = [c for c in conformance_cases() if not c.get("key")]


@pytest.mark.parametrize(
    "case", CONFORMANCE_CASES, ids=[c["name"] for c in CONFORMANCE_CASES]
)
def test_conformance_case_agrees(case: dict[str, Any]) -> None:
    ours = test_conformance.verdict(case, "digest") == "pass"
    theirs = sigstore_python(
        CONFORMANCE / case["bundle"],
        trusted_root_path(case, CONFORMANCE),
        case["artifact_digest"],
        case["identity"],
        case["issuer"],
    )
    if case["name"] in ORACLE_WRONG:
        assert ours is (case["expect"] == "pass")
        assert theirs is not ours, (
            "the documented oracle error is gone: drop it from ORACLE_WRONG"
        )
    else:
        assert ours is theirs, f"airlock={ours} sigstore-python={theirs}"


EXTRA = [c for c in extra_cases("bundle", "attestation") if not c.get("key")]


@pytest.mark.parametrize("case", EXTRA, ids=[c["name"] for c in EXTRA])
def test_real_bundle_agrees(case: dict[str, Any]) -> None:
    theirs = sigstore_python(
        VECTORS / case["bundle"],
        trusted_root_path(case, VECTORS),
        case["artifact_digest"],
        case["identity"],
        case["issuer"],
    )
    ours = test_extra_cases.verdict(case) == "pass"
    if case["name"] in ORACLE_CANNOT:
        assert (theirs, ours) == (False, case["expect"] == "pass")
    else:
        assert ours is theirs, f"airlock={ours} sigstore-python={theirs}"


def test_the_digest_helper_is_honest() -> None:
    assert (
        hashlib.sha256(
            (CONFORMANCE / "bundle-verify" / "a.txt").read_bytes()
        ).hexdigest()
        == "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
    )
