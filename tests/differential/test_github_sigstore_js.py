"""Our verdicts against sigstore-js's on real GitHub artifact attestations, each root by its own rule.

sigstore-js (@sigstore/verify, pinned in tests/oracle-js) runs
``verify-root.js``: every root of the file in turn, thresholds set as
``gh attestation verify`` sets sigstore-go's (a root with logs: one entry,
and one SCT if it lists CT logs; a root without: one RFC 3161 timestamp),
identity and extension demands as its policy (``oids``: exact DER values).
Airlock's core verifies the same bundle with the same roots and demands.
Verdicts must agree on every case sigstore-js can express: the positives,
the wrong root, identity, issuer, repository, source ref, subject, and the
tampered or missing timestamp and log entry. Negatives outnumber positives.
"""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, VerificationError
from appliance.core.extensions import NAMES, demands
from appliance.core.policy import IdentityPolicy
from appliance.core.trust import materials_from_bytes
from appliance.core.verifier import under_roots, verify_bundle
from tests.helpers.sigstore_js import ORACLE
from tests.helpers.vectors import VECTORS

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
GH = VECTORS / "github"
LINES = (GH / "trusted_root.jsonl").read_bytes().splitlines()
PUBLIC_LINE, GITHUB_LINE = LINES
TSA_ONLY = GH / "actions-attest-build-provenance-attestation-13531551.sigstore.json"
TSA_ONLY_DIGEST = (
    "sha256:b03d18ed0a16864ef2d2e559c660159a2170b9d086a1f42f570b1679326b90e6"
)
PUBLIC = GH / "actions-attest-build-provenance-attestation-13532655.sigstore.json"
PUBLIC_DIGEST = (
    "sha256:bb030cb9e028ff6d4051f2103b3b08f7e3928aa80a7d3626cef6e2553dc714b8"
)
PROBER = "https://github.com/actions/attest-build-provenance/.github/workflows/prober.yml@refs/heads/main"
ACTIONS = "https://token.actions.githubusercontent.com"
REPO_URI = "https://github.com/actions/attest-build-provenance"


def _mixed() -> bytes:
    # GitHub's CAs and TSAs with public-good's logs: the rule follows the logs.
    public, github = json.loads(PUBLIC_LINE), json.loads(GITHUB_LINE)
    return json.dumps(
        {**github, "tlogs": public["tlogs"], "ctlogs": public["ctlogs"]}
    ).encode()


def _no_stamp(doc: dict[str, Any]) -> None:
    del doc["verificationMaterial"]["timestampVerificationData"]


def _bad_stamp(doc: dict[str, Any]) -> None:
    stamps = doc["verificationMaterial"]["timestampVerificationData"][
        "rfc3161Timestamps"
    ]
    raw = bytearray(base64.b64decode(stamps[0]["signedTimestamp"]))
    raw[-40] ^= 0x01  # inside the TSA's signature
    stamps[0]["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()


def _no_entry(doc: dict[str, Any]) -> None:
    doc["verificationMaterial"]["tlogEntries"] = []


ALL = b"\n".join(LINES) + b"\n"
# name: (bundle, roots, subject, SAN, issuer, {oid suffix: value}, edit, expected)
CASES: dict[str, tuple[Path, bytes, str, str, str, dict[str, str], Any, bool]] = {
    "tsa-only under gh's roots": (TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER, ACTIONS, {}, None, True),
    "tsa-only under github's root, repo/ref/runner demanded": (
        TSA_ONLY, GITHUB_LINE, TSA_ONLY_DIGEST, PROBER, ACTIONS,
        {"12": REPO_URI, "14": "refs/heads/main", "11": "github-hosted"}, None, True,
    ),
    "public-good under gh's roots": (PUBLIC, ALL, PUBLIC_DIGEST, PROBER, ACTIONS, {}, None, True),
    "tsa-only under public-good alone": (TSA_ONLY, PUBLIC_LINE, TSA_ONLY_DIGEST, PROBER, ACTIONS, {}, None, False),
    "tsa-only under a root with logs": (TSA_ONLY, _mixed(), TSA_ONLY_DIGEST, PROBER, ACTIONS, {}, None, False),
    "tsa-only, another workflow": (
        TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER.replace("prober.yml", "release.yml"), ACTIONS, {}, None, False,
    ),
    "tsa-only, another issuer": (TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER, "https://accounts.google.com", {}, None, False),
    "tsa-only, another repository": (
        TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER, ACTIONS, {"12": REPO_URI + "-fork"}, None, False,
    ),
    "tsa-only, another source ref": (
        TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER, ACTIONS, {"14": "refs/tags/v1.0.0"}, None, False,
    ),
    "tsa-only, self-hosted demanded": (
        TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER, ACTIONS, {"11": "self-hosted"}, None, False,
    ),
    "tsa-only, another subject": (TSA_ONLY, ALL, PUBLIC_DIGEST, PROBER, ACTIONS, {}, None, False),
    "tsa-only, its timestamp removed": (TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER, ACTIONS, {}, _no_stamp, False),
    "tsa-only, its timestamp damaged": (TSA_ONLY, ALL, TSA_ONLY_DIGEST, PROBER, ACTIONS, {}, _bad_stamp, False),
    "public-good under github's root alone": (
        PUBLIC, GITHUB_LINE, PUBLIC_DIGEST, PROBER, ACTIONS, {}, None, False,
    ),
    "public-good, its log entry removed": (PUBLIC, ALL, PUBLIC_DIGEST, PROBER, ACTIONS, {}, _no_entry, False),
}  # fmt: skip


def _ours(
    bundle: bytes,
    roots: bytes,
    subject: str,
    san: str,
    issuer: str,
    oids: dict[str, str],
) -> bool:
    names = {suffix: name for name, suffix in NAMES.items()}
    policy = IdentityPolicy(
        identity=san,
        issuer=issuer,
        demands=tuple(
            d
            for suffix, value in oids.items()
            for d in demands(names[suffix], value, where="t")
        ),
    )
    try:
        trusts = materials_from_bytes(roots, source="case", tuf_backed=False)
        parsed = Bundle.from_bytes(bundle)
        artifact = Artifact.from_digest(
            "sha256", bytes.fromhex(subject.removeprefix("sha256:"))
        )
        under_roots(
            trusts,
            lambda trust: verify_bundle(
                parsed,
                artifact=artifact,
                trust=trust,
                policy=policy,
                now=NOW,
            ),
        )
    except (VerificationError, InputError):
        return False
    return True


def _theirs(
    tmp: Path,
    bundle: bytes,
    roots: bytes,
    subject: str,
    san: str,
    issuer: str,
    oids: dict[str, str],
) -> tuple[bool, str]:
    if not (ORACLE / "node_modules" / "@sigstore" / "verify").is_dir():
        pytest.fail(
            "sigstore-js is not installed: run `make js-oracle` (make test does)"
        )
    (tmp / "bundle.json").write_bytes(bundle)
    (tmp / "roots.jsonl").write_bytes(roots)
    argv = [
        "node", str(ORACLE / "verify-root.js"), str(tmp / "bundle.json"), str(tmp / "roots.jsonl"),
        "--subject", subject, "--san", san, "--issuer", issuer,
        *(a for suffix, value in oids.items() for a in ("--oid", f"{suffix}={value}")),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    said = (done.stdout + done.stderr).strip()
    return done.returncode == 0 and said.startswith("OK"), said


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdicts_agree_with_sigstore_js(name: str, tmp_path: Path) -> None:
    path, roots, subject, san, issuer, oids, edit, expected = CASES[name]
    doc = json.loads(path.read_text())
    if edit is not None:
        edit(doc)
    bundle = json.dumps(doc).encode()
    theirs, said = _theirs(tmp_path, bundle, roots, subject, san, issuer, oids)
    assert theirs is expected, said
    assert _ours(bundle, roots, subject, san, issuer, oids) is expected


def test_negatives_outnumber_positives() -> None:
    verdicts = [case[-1] for case in CASES.values()]
    assert verdicts.count(False) > verdicts.count(True)
