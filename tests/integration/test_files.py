"""Files with their signatures: ``[[files]]`` exported, verified offline under the policy, extracted.

Three files, each signed the way sites receive them: a binary with a
keyless Sigstore bundle (the test Sigstore stack: certificate, SCT, log
entry), an installer with a cosign key signature (``cosign sign-blob
--key``: base64 of an ECDSA P-256 signature over the file), and a tool
whose ``SHA256SUMS`` is signed keylessly. Refusals carry the image verdicts'
reason codes: another identity, a bundle for another digest, a checksum file
that lists another digest, a file no rule names; the archive edited
consistently (a file swapped, its manifest, index.json and ledger rewritten)
fails its signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main as appliance
from bundle_tools.cli import main as bundle_tools
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER

if TYPE_CHECKING:
    from pathlib import Path

EPOCH = "1790000000"
IDENTITY = "release@airlock.test"
TOOL = b"\x7fELF" + b"tool " * 4000
INSTALLER = b"#!/bin/sh\necho installing\n"
KUBECTL = b"\x7fELF" + b"kubectl " * 3000


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The files, their signatures, the set file, the policy and the trust, on disk."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "tool-linux-amd64").write_bytes(TOOL)
    (dist / "tool-linux-amd64.sigstore.json").write_bytes(
        stack.sign_blob(TOOL, identity=IDENTITY).bundle_bytes()
    )
    key = ec.generate_private_key(ec.SECP256R1())
    (dist / "installer.sh").write_bytes(INSTALLER)
    (dist / "installer.sh.sig").write_bytes(
        base64.b64encode(key.sign(INSTALLER, ec.ECDSA(hashes.SHA256()))) + b"\n"
    )
    (tmp_path / "release.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (dist / "kubectl").write_bytes(KUBECTL)
    sums = (
        f"{hashlib.sha256(KUBECTL).hexdigest()}  kubectl\n"
        f"{hashlib.sha256(b'other').hexdigest()}  kubectl.exe\n"
    ).encode()
    (dist / "SHA256SUMS").write_bytes(sums)
    (dist / "SHA256SUMS.sigstore.json").write_bytes(
        stack.sign_blob(sums, identity=IDENTITY).bundle_bytes()
    )
    set_file = tmp_path / "set.toml"
    set_file.write_text(
        """version = 1

[[files]]
path = "dist/tool-linux-amd64"
bundle = "dist/tool-linux-amd64.sigstore.json"

[[files]]
path = "dist/installer.sh"
signature = "dist/installer.sh.sig"

[[files]]
path = "dist/kubectl"
checksums = "dist/SHA256SUMS"
checksums_bundle = "dist/SHA256SUMS.sigstore.json"
"""
    )
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f"""version = 1

[[rules]]
match = ["file:tool-*", "file:kubectl"]
  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

[[rules]]
match = ["file:installer.sh"]
insecure_ignore_tlog = true
  [[rules.signers]]
  key = "release.pub"
"""
    )
    root = tmp_path / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    return {
        "stack": stack,
        "dir": tmp_path,
        "dist": dist,
        "set": set_file,
        "policy": policy,
        "root": root,
    }


def _export(site: dict[str, Any], name: str = "files.tar.zst") -> Path:
    out: Path = site["dir"] / name
    code = bundle_tools(
        [
            "export",
            "--set",
            str(site["set"]),
            "--out",
            str(out),
            "--trusted-root",
            str(site["root"]),
            "--cache",
            str(site["dir"] / "cache"),
        ]
    )
    assert code == 0
    return out


def _verify(
    site: dict[str, Any], archive: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = appliance(
        [
            "verify",
            str(archive),
            "--policy",
            str(site["policy"]),
            "--trusted-root",
            str(site["root"]),
            "-o",
            "json",
        ]
    )
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, json.loads(captured.out)


def test_three_files_verify_offline_under_the_policy(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _export(site)
    code, report = _verify(site, archive, capsys)
    files = {f["name"]: f for f in report["files"]}
    assert code == 0, report
    assert set(files) == {"tool-linux-amd64", "installer.sh", "kubectl"}
    assert all(f["verified"] for f in files.values())
    assert files["kubectl"]["blob"] == "sha256:" + hashlib.sha256(KUBECTL).hexdigest()
    assert "checksum file" in files["kubectl"]["message"]
    assert files["installer.sh"]["signatures"][0]["key_id"]
