"""Verification never touches the network: not a lookup, not a socket.

A fresh interpreter records every ``socket.*`` audit event (creation
included, not only connections) while ``appliance verify-blob`` verifies real
bundles, by file and by digest, passing and failing. The record must be empty.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.vectors import CONFORMANCE

ROOT = Path(__file__).parents[2]
BEACON = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
GITHUB = "https://token.actions.githubusercontent.com"
CASES = CONFORMANCE / "bundle-verify"

_PROBE = """
import json, sys
events = []
sys.addaudithook(lambda e, a: events.append(e) if e.startswith("socket.") else None)
from appliance.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "socket_events": events}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("case", "artifact", "expected_code"),
    [
        ("happy-path-v0.3", str(CASES / "a.txt"), 0),
        (
            "rekor2-happy-path",
            "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
            0,
        ),
        ("happy-path-intoto-in-dsse-v3", str(CASES / "a.txt"), 0),
        ("checkpoint-bad-keyhint_fail", str(CASES / "a.txt"), 1),
    ],
)
def test_verifying_opens_no_socket(
    case: str, artifact: str, expected_code: int
) -> None:
    folder = CASES / case
    argv = [
        "verify-blob",
        artifact,
        "--bundle",
        str(folder / "bundle.sigstore.json"),
        "--certificate-identity",
        BEACON,
        "--certificate-oidc-issuer",
        GITHUB,
    ]
    if (folder / "trusted_root.json").exists():
        argv += ["--trusted-root", str(folder / "trusted_root.json")]
    if (folder / "identity").exists():
        argv[argv.index(BEACON)] = (folder / "identity").read_text().strip()
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    record = json.loads(done.stderr.strip().splitlines()[-1])
    assert record == {"code": expected_code, "socket_events": []}, done.stderr
