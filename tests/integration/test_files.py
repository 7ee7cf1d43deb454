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
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main as appliance
from bundle_tools.cli import main as bundle_tools
from tests.helpers import https_files
from tests.helpers.archives import extract
from tests.helpers.layout_edit import Layout
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.https_files import FileServer
    from tests.helpers.registry import Registry

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


def _extract(
    site: dict[str, Any], archive: Path, capsys: pytest.CaptureFixture[str], to: Path
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = appliance(
        [
            "extract",
            str(archive),
            "--files",
            str(to),
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
    return code, json.loads(captured.out) if captured.out.startswith("{") else {}


def test_extract_writes_the_verified_files_under_their_names(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _export(site)
    out = site["dir"] / "verified-files"
    code, report = _extract(site, archive, capsys, out)
    assert code == 0, report
    assert sorted(p.name for p in out.iterdir()) == [
        "installer.sh",
        "kubectl",
        "tool-linux-amd64",
    ]
    assert (out / "tool-linux-amd64").read_bytes() == TOOL
    assert (out / "installer.sh").read_bytes() == INSTALLER
    assert (out / "kubectl").read_bytes() == KUBECTL
    assert report["extract"]["files"] == ["installer.sh", "kubectl", "tool-linux-amd64"]


def _refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str], name: str
) -> dict[str, Any]:
    """Export, verify (exit 1) and extract: ``name`` refused, and never written."""
    archive = _export(site)
    code, report = _verify(site, archive, capsys)
    assert code == 1
    files = {f["name"]: f for f in report["files"]}
    assert not files[name]["verified"]
    out = site["dir"] / "extracted"
    code, _ = _extract(site, archive, capsys, out)
    assert code == 1
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert name not in written
    assert written == sorted(n for n, f in files.items() if f["verified"])
    assert not [p for p in site["dir"].iterdir() if p.name.startswith(".extracted")]
    return dict(files[name])


def test_a_file_signed_by_another_identity_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (site["dist"] / "tool-linux-amd64.sigstore.json").write_bytes(
        site["stack"].sign_blob(TOOL, identity="mallory@airlock.test").bundle_bytes()
    )
    verdict = _refused(site, capsys, "tool-linux-amd64")
    assert verdict["reason"] == "identity-mismatch"


def test_a_bundle_naming_another_digest_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (site["dist"] / "tool-linux-amd64.sigstore.json").write_bytes(
        site["stack"].sign_blob(TOOL + b"\n", identity=IDENTITY).bundle_bytes()
    )
    verdict = _refused(site, capsys, "tool-linux-amd64")
    assert verdict["reason"] == "digest-mismatch"


def test_a_key_signature_over_other_bytes_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (site["dist"] / "installer.sh").write_bytes(INSTALLER + b"rm -rf /\n")
    verdict = _refused(site, capsys, "installer.sh")
    assert verdict["reason"] == "signature-invalid"


def test_a_signed_checksum_file_listing_another_digest_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (site["dist"] / "kubectl").write_bytes(KUBECTL + b"trojan")
    verdict = _refused(site, capsys, "kubectl")
    assert verdict["reason"] == "digest-mismatch"
    assert "checksum file lists kubectl" in verdict["message"]


def test_a_checksum_file_signed_by_another_identity_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sums = (site["dist"] / "SHA256SUMS").read_bytes()
    (site["dist"] / "SHA256SUMS.sigstore.json").write_bytes(
        site["stack"].sign_blob(sums, identity="mallory@airlock.test").bundle_bytes()
    )
    verdict = _refused(site, capsys, "kubectl")
    assert verdict["reason"] == "identity-mismatch"


def _statement_bundle(site: dict[str, Any], subject: str) -> None:
    """The tool's bundle: an in-toto statement naming ``subject`` with the tool's digest."""
    (site["dist"] / "tool-linux-amd64.sigstore.json").write_bytes(
        site["stack"]
        .attest({subject: hashlib.sha256(TOOL).hexdigest()}, identity=IDENTITY)
        .bundle_bytes()
    )


def test_a_file_renamed_from_what_its_signed_statement_names_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _statement_bundle(site, "tool-darwin-arm64")
    verdict = _refused(site, capsys, "tool-linux-amd64")
    assert verdict["reason"] == "policy-unsatisfied"
    assert "names this file 'tool-darwin-arm64'" in verdict["message"]


@pytest.mark.parametrize(
    "subject", ["tool-linux-amd64", "dist/tool-linux-amd64"], ids=["bare", "path"]
)
def test_a_signed_statement_naming_the_file_binds_its_name(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str], subject: str
) -> None:
    _statement_bundle(site, subject)
    code, report = _verify(site, _export(site), capsys)
    files = {f["name"]: f for f in report["files"]}
    assert code == 0, report
    assert files["tool-linux-amd64"]["name_bound"] == "statement"
    assert "claimed" not in files["tool-linux-amd64"]["message"]


def test_a_statement_naming_a_longer_name_ending_alike_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _statement_bundle(site, "evil-tool-linux-amd64")
    verdict = _refused(site, capsys, "tool-linux-amd64")
    assert verdict["reason"] == "policy-unsatisfied"


def test_a_signed_checksum_file_listing_the_file_under_another_name_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sums = f"{hashlib.sha256(KUBECTL).hexdigest()}  kubectl-1.31\n".encode()
    (site["dist"] / "SHA256SUMS").write_bytes(sums)
    (site["dist"] / "SHA256SUMS.sigstore.json").write_bytes(
        site["stack"].sign_blob(sums, identity=IDENTITY).bundle_bytes()
    )
    verdict = _refused(site, capsys, "kubectl")
    assert verdict["reason"] == "digest-mismatch"
    assert "does not list kubectl" in verdict["message"]


def test_a_name_no_signature_covers_is_reported_as_claimed(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _verify(site, _export(site), capsys)
    assert code == 0, report
    bound = {f["name"]: f["name_bound"] for f in report["files"]}
    assert bound == {
        "tool-linux-amd64": "claimed",
        "installer.sh": "claimed",
        "kubectl": "checksums",
    }
    messages = {f["name"]: f["message"] for f in report["files"]}
    assert messages["installer.sh"].endswith("its name is claimed, not signed")
    assert "claimed" not in messages["kubectl"]
    state = site["dir"] / "appliance-state" / "audit.jsonl"
    line = json.loads(state.read_text().splitlines()[-1])
    assert {f["name"]: f["name_bound"] for f in line["files"]} == bound


def _deny_facts(site: dict[str, Any]) -> dict[str, str]:
    """What deny entries can name about the files: digests, the tool's log entry and certificate."""
    bundle = json.loads((site["dist"] / "tool-linux-amd64.sigstore.json").read_bytes())
    material = bundle["verificationMaterial"]
    entry = material["tlogEntries"][0]
    log_id = base64.b64decode(entry["logId"]["keyId"]).hex()
    leaf = x509.load_der_x509_certificate(
        base64.b64decode(material["certificate"]["rawBytes"])
    )
    key = serialization.load_pem_public_key((site["dir"] / "release.pub").read_bytes())
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "tool": "sha256:" + hashlib.sha256(TOOL).hexdigest(),
        "sums": "sha256:"
        + hashlib.sha256((site["dist"] / "SHA256SUMS").read_bytes()).hexdigest(),
        "log": f"{log_id}:{entry['logIndex']}",
        "serial": f"{leaf.serial_number:x}",
        "key_id": hashlib.sha256(spki).hexdigest(),
    }


# (entry, {file: reason} refused; every other file verifies). The tool and
# kubectl are signed keylessly by IDENTITY, the installer with release.pub.
DENIALS = {
    "file digest": ('digest = "{tool}"', {"tool-linux-amd64": "denied-digest"}),
    "checksum file digest": ('digest = "{sums}"', {"kubectl": "denied-digest"}),
    "identity": (
        f'identity = "{IDENTITY}"\nissuer = "{DEFAULT_ISSUER}"',
        {"tool-linux-amd64": "denied-signer", "kubectl": "denied-signer"},
    ),
    "key file": ('key = "release.pub"', {"installer.sh": "denied-signer"}),
    "key id": ('key_id = "{key_id}"', {"installer.sh": "denied-signer"}),
    "log entry": ('log = "{log}"', {"tool-linux-amd64": "denied-signer"}),
    "certificate serial": (
        'certificate_serial = "{serial}"',
        {"tool-linux-amd64": "denied-signer"},
    ),
    "dated file digest": (
        'digest = "{tool}"\nsince = 2026-10-01T00:00:00Z',
        {"tool-linux-amd64": "denied-signer"},
    ),
    "digest dated after signing": (
        'digest = "{tool}"\nsince = 2027-01-01T00:00:00Z',
        {},
    ),
    "another digest": (f'digest = "sha256:{"0" * 64}"', {}),
    "another identity": (
        f'identity = "mallory@airlock.test"\nissuer = "{DEFAULT_ISSUER}"',
        {},
    ),
}


@pytest.mark.parametrize("case", list(DENIALS))
def test_deny_entries_apply_to_files_as_to_images(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    entry, refused = DENIALS[case]
    policy = site["policy"].read_text()
    deny_line = policy.count("\n") + 2
    site["policy"].write_text(
        policy
        + "\n[[deny]]\n"
        + entry.format(**_deny_facts(site))
        + '\nreason = "CVE-2026-4242: recalled"\n'
    )
    code, report = _verify(site, _export(site), capsys)
    files = {f["name"]: f for f in report["files"]}
    assert code == (1 if refused else 0), report
    assert {n: f["reason"] for n, f in files.items() if not f["verified"]} == refused
    for name in refused:
        text = json.dumps(files[name])
        assert f"policy.toml:{deny_line}" in text
        assert "CVE-2026-4242: recalled" in text


def test_an_imported_revocation_feed_applies_to_files(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    directory: Path = site["dir"]
    key = ec.generate_private_key(ec.SECP256R1())
    (directory / "security.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "security.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    site["policy"].write_text(
        site["policy"]
        .read_text()
        .replace(
            "version = 1\n", 'version = 1\nrevocation_keys = ["security.pub"]\n', 1
        )
    )
    archive = _export(site)
    assert _verify(site, archive, capsys)[0] == 0
    source = directory / "feed.toml"
    source.write_text(
        'publisher = "site-security"\nversion = 1\nissued = 2026-11-01T00:00:00Z\n\n'
        f'[[deny]]\ndigest = "sha256:{hashlib.sha256(INSTALLER).hexdigest()}"\n'
        'reason = "CVE-2026-4243: backdoored installer"\n'
    )
    feed = directory / "feed.json"
    assert (
        bundle_tools(
            [
                "revocations",
                "sign",
                str(source),
                "--key",
                str(directory / "security.key"),
                "-o",
                str(feed),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        appliance(["revocations", "import", str(feed), "--policy", str(site["policy"])])
        == 0
    )
    code, report = _verify(site, archive, capsys)
    files = {f["name"]: f for f in report["files"]}
    assert code == 1
    assert {n for n, f in files.items() if not f["verified"]} == {"installer.sh"}
    assert files["installer.sh"]["reason"] == "denied-digest"
    assert files["installer.sh"]["message"] == (
        "denied: deny entry feed site-security v1 entry 0 (digest): "
        "CVE-2026-4243: backdoored installer"
    )


def test_a_file_no_rule_names_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    site["policy"].write_text(
        site["policy"].read_text().replace('"file:installer.sh"', '"file:other.sh"')
    )
    verdict = _refused(site, capsys, "installer.sh")
    assert verdict["reason"] == "policy-unsatisfied"
    assert "no policy rule matches file:installer.sh" in verdict["message"]


def test_an_image_rule_never_judges_a_file(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    site["policy"].write_text(
        site["policy"].read_text().replace('"file:installer.sh"', '"**"')
    )
    verdict = _refused(site, capsys, "installer.sh")
    assert verdict["reason"] == "policy-unsatisfied"


def test_a_file_swapped_in_the_archive_is_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """An adversary swaps the tool and re-files every digest (nothing signs the layout)."""
    archive = _export(site)
    layout = Layout(extract(archive, site["dir"] / "layout"))
    index = layout.index
    entry = next(
        e
        for e in index["manifests"]
        if e["annotations"].get("org.opencontainers.image.title") == "tool-linux-amd64"
    )
    manifest = layout.read(entry["digest"])
    evil = TOOL.replace(b"tool", b"evil")
    manifest["layers"][0]["digest"] = layout.put(evil)
    body = json.dumps(manifest).encode()
    old, new = entry["digest"], layout.put(body)
    entry["digest"], entry["size"] = new, len(body)
    for other in index["manifests"]:
        if other["annotations"].get("dev.airlock.subject") == old:
            referrer = layout.read(other["digest"])
            referrer["subject"] = {
                **referrer["subject"],
                "digest": new,
                "size": len(body),
            }
            data = json.dumps(referrer).encode()
            other["digest"], other["size"] = layout.put(data), len(data)
            other["annotations"]["dev.airlock.subject"] = new
    layout.write_index(index)
    layout.sweep()

    def refile(ledger: dict[str, Any]) -> None:
        for item in ledger["files"]:
            if item["name"] == "tool-linux-amd64":
                item["digest"] = new
                item["blob"] = "sha256:" + hashlib.sha256(evil).hexdigest()
        ledger["contents"] = [
            {"digest": f"sha256:{p.name}", "size": p.stat().st_size, "role": "blob"}
            for p in (layout.root / "blobs" / "sha256").iterdir()
            if f"sha256:{p.name}" not in ledger_own
        ]

    ledger_entry = layout.entry("ledger")
    ledger_own = {
        ledger_entry["digest"],
        layout.read(ledger_entry["digest"])["layers"][0]["digest"],
    }
    layout.rewrite_ledger(refile)
    code, report = _verify(site, layout.root, capsys)
    assert code == 1
    assert report["problems"] == []  # consistent: only the signature can tell
    files = {f["name"]: f for f in report["files"]}
    assert files["tool-linux-amd64"]["reason"] == "digest-mismatch"
    assert files["installer.sh"]["verified"]


@pytest.fixture
def https(
    site: dict[str, Any], monkeypatch: pytest.MonkeyPatch, loopback: None
) -> Iterator[FileServer]:
    """The dist directory served over loopback HTTPS; no CA trusted from the environment."""
    del loopback
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    server = https_files.serve(site["dist"], site["dir"])
    site["set"].write_text(
        site["set"]
        .read_text()
        .replace('path = "dist/installer.sh"', f'url = "{server.url}/installer.sh"')
        .replace('signature = "dist/', f'signature = "{server.url}/')
    )
    try:
        yield server
    finally:
        server.stop()


def test_files_from_https_urls_need_the_ca_named(
    site: dict[str, Any], https: FileServer, capsys: pytest.CaptureFixture[str]
) -> None:
    out = site["dir"] / "from-urls.tar.zst"
    argv = [
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
    # The test CA is not the system's: TLS refuses, nothing is written.
    assert bundle_tools(argv) == 2
    err = capsys.readouterr().err
    assert "TLS failed" in err
    assert "--files-ca" in err
    assert not out.exists()
    assert bundle_tools([*argv, "--files-ca", str(https.ca)]) == 0
    code, report = _verify(site, out, capsys)
    assert code == 0, report
    files = {f["name"]: f for f in report["files"]}
    assert files["installer.sh"]["verified"]
    assert (
        files["installer.sh"]["blob"]
        == "sha256:" + hashlib.sha256(INSTALLER).hexdigest()
    )


def test_inspect_lists_the_files_carried(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _export(site)
    capsys.readouterr()
    assert bundle_tools(["inspect", str(archive), "-o", "json"]) == 0
    files = {f["name"]: f for f in json.loads(capsys.readouterr().out)["files"]}
    assert files["installer.sh"]["form"] == "key-signature"
    assert files["kubectl"]["form"] == "checksums"
    assert files["kubectl"]["checksums"]
    assert files["tool-linux-amd64"]["size"] == len(TOOL)
    assert bundle_tools(["inspect", str(archive)]) == 0
    assert "file kubectl:" in capsys.readouterr().out


async def test_the_tui_lists_files_beside_images_and_drills_into_one(
    site: dict[str, Any],
) -> None:
    from textual.widgets import DataTable  # noqa: PLC0415 - the TUI only here

    from appliance.cli.main import _parser  # noqa: PLC0415
    from appliance.cli.tui_cmd import session  # noqa: PLC0415
    from appliance.tui.app import AirlockApp  # noqa: PLC0415
    from appliance.tui.screens import TextScreen  # noqa: PLC0415

    (site["dist"] / "tool-linux-amd64.sigstore.json").write_bytes(
        site["stack"].sign_blob(TOOL, identity="mallory@airlock.test").bundle_bytes()
    )
    archive = _export(site)
    args = _parser().parse_args(
        [
            "tui",
            str(archive),
            "--policy",
            str(site["policy"]),
            "--trusted-root",
            str(site["root"]),
        ]
    )
    app = AirlockApp(session(args))
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.judged is not None or app.error is not None:
                break
        assert app.judged is not None, app.error
        table = app.query_one("#images", DataTable)
        assert table.row_count == 3
        await pilot.press("enter")  # the first row: the refusal comes first
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, TextScreen)
        texts = [line.text for line in screen.lines]
        assert texts[0] == "file:   tool-linux-amd64"
        assert "identity-mismatch" in texts[3]
        await pilot.press("escape")
        assert not isinstance(app.screen, TextScreen)


def test_two_exports_with_files_are_byte_identical_and_dry_run_reads_none(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _export(site, "one.tar.zst"), _export(site, "two.tar.zst")
    assert first.read_bytes() == second.read_bytes()
    capsys.readouterr()
    (site["dist"] / "kubectl").unlink()  # a dry run does not read the files
    assert (
        bundle_tools(["export", "--set", str(site["set"]), "--dry-run", "-o", "json"])
        == 0
    )
    listed = json.loads(capsys.readouterr().out)["files"]
    assert [f["name"] for f in listed] == [
        "tool-linux-amd64",
        "installer.sh",
        "kubectl",
    ]
    assert _export_code(site) == 2
    assert "cannot read file" in capsys.readouterr().err


def _export_code(site: dict[str, Any]) -> int:
    return bundle_tools(
        [
            "export",
            "--set",
            str(site["set"]),
            "--out",
            str(site["dir"] / "missing.tar.zst"),
            "--trusted-root",
            str(site["root"]),
        ]
    )


def test_verify_with_judges_files_before_anything_is_written(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out = site["dir"] / "checked.tar.zst"
    argv = [
        "export",
        "--set",
        str(site["set"]),
        "--out",
        str(out),
        "--trusted-root",
        str(site["root"]),
        "--verify-with",
        str(site["policy"]),
    ]
    assert bundle_tools(argv) == 0
    assert out.exists()
    out.unlink()
    (site["dist"] / "installer.sh.sig").write_bytes(
        base64.b64encode(
            ec.generate_private_key(ec.SECP256R1()).sign(
                INSTALLER, ec.ECDSA(hashes.SHA256())
            )
        )
    )
    capsys.readouterr()
    assert bundle_tools(argv) == 1
    err = capsys.readouterr().err
    assert "file installer.sh would not verify on the other side" in err
    assert "nothing was written" in err
    assert not out.exists()


def test_a_file_index_json_names_otherwise_refuses_every_file(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """index.json edited (nothing signs it): the archive is not what its ledger says."""
    archive = _export(site)
    layout = Layout(extract(archive, site["dir"] / "layout"))
    index = layout.index
    for entry in index["manifests"]:
        if entry["annotations"].get("org.opencontainers.image.title") == "installer.sh":
            entry["annotations"]["org.opencontainers.image.title"] = "setup.sh"
    layout.write_index(index)
    code, report = _verify(site, layout.root, capsys)
    assert code == 1, report
    assert report["problems"] == [
        f"file {_titled(layout, 'setup.sh')}: named installer.sh by the ledger, setup.sh by index.json"
    ]
    assert [f["name"] for f in report["files"]] == ["tool-linux-amd64", "kubectl"]
    assert all(f["reason"] == "digest-mismatch" for f in report["files"])
    assert not any(f["verified"] for f in report["files"])


def _titled(layout: Layout, title: str) -> str:
    return str(
        next(
            e["digest"]
            for e in layout.index["manifests"]
            if e["annotations"].get("org.opencontainers.image.title") == title
        )
    )


def _load(
    site: dict[str, Any],
    archive: Path,
    capsys: pytest.CaptureFixture[str],
    to: str,
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = appliance(
        [
            "load",
            str(archive),
            "--to",
            to,
            "--allow-http-registry",
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
    return code, json.loads(captured.out) if captured.out.startswith("{") else {}


def _skopeo_raw(gap: Registry, reference: str) -> bytes:
    return subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{gap.address}/{reference}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout


def _fallback(gap: Registry, repository: str, subject: str) -> list[str]:
    tag = "sha256-" + subject.removeprefix("sha256:")
    index = json.loads(_skopeo_raw(gap, f"{repository}:{tag}"))
    return [m["digest"] for m in index["manifests"]]


@pytest.mark.registry
def test_load_pushes_the_verified_files_as_the_artifacts_carried(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str], gap: Registry
) -> None:
    archive = _export(site)
    code, report = _load(site, archive, capsys, f"{gap.address}/site")
    assert code == 0, report
    planned = {f["name"]: f for f in report["load"]["plan"]["files"]}
    assert set(planned) == {"tool-linux-amd64", "installer.sh", "kubectl"}
    for name, content in (
        ("tool-linux-amd64", TOOL),
        ("installer.sh", INSTALLER),
        ("kubectl", KUBECTL),
    ):
        hexdigest = hashlib.sha256(content).hexdigest()
        entry = planned[name]
        repository = "site/files/" + name.replace(".", "-")
        assert (entry["repository"], entry["tag"]) == (repository, hexdigest[:16])
        raw = _skopeo_raw(gap, f"{repository}:{hexdigest[:16]}")
        # The artifact the archive carries, byte for byte, its title the exact name.
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == entry["digest"]
        manifest = json.loads(raw)
        assert (
            manifest["layers"][0]["annotations"]["org.opencontainers.image.title"]
            == name
        )
        assert gap.get_blob(repository, "sha256:" + hexdigest) == content
        # Its bundle as a referrer, listed through the tag fallback.
        (bundle,) = _fallback(gap, repository, entry["digest"])
        assert (
            json.loads(_skopeo_raw(gap, f"{repository}@{bundle}"))["subject"]["digest"]
            == entry["digest"]
        )
    assert sorted(report["load"]["pushed"]["files"]) == sorted(
        f"{f['repository']}:{f['tag']}@{f['digest']}" for f in planned.values()
    )
    state = site["dir"] / "appliance-state" / "audit.jsonl"
    line = json.loads(state.read_text().splitlines()[-1])
    assert sorted(line["pushed"]["files"]) == sorted(report["load"]["pushed"]["files"])
    again, second = _load(site, archive, capsys, f"{gap.address}/site")
    assert again == 0
    assert second["load"]["pushed"]["blobs_sent"] == 0
    assert second["load"]["pushed"]["bytes_sent"] == 0


@pytest.mark.registry
def test_load_pushes_nothing_of_a_refused_file(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str], gap: Registry
) -> None:
    other = site["stack"].sign_blob(TOOL, identity="mallory@evil.test")
    (site["dist"] / "tool-linux-amd64.sigstore.json").write_bytes(other.bundle_bytes())
    archive = _export(site)
    code, report = _load(site, archive, capsys, gap.address)
    assert code == 1
    plan = report["load"]["plan"]
    assert plan["refused_files"] == ["tool-linux-amd64"]
    assert sorted(f["name"] for f in plan["files"]) == ["installer.sh", "kubectl"]
    pushed_blobs = report["load"]["pushed"]["reached"]["blobs"]
    tool = "sha256:" + hashlib.sha256(TOOL).hexdigest()
    assert not [b for b in pushed_blobs if b.endswith(tool)]
    assert not _has_blob(gap, "files/tool-linux-amd64", tool)
    assert not [b for b in pushed_blobs if b.startswith("files/tool-linux-amd64@")]


def _has_blob(gap: Registry, repository: str, digest: str) -> bool:
    status, _, _ = gap.request("HEAD", f"/v2/{repository}/blobs/{digest}")
    return status == 200


@pytest.mark.registry
def test_two_names_mapping_to_one_repository_never_overwrite_each_other(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str], gap: Registry
) -> None:
    site["set"].write_text(
        site["set"].read_text()
        + """
[[files]]
name = "TOOL-linux-amd64"
path = "dist/tool-linux-amd64"
bundle = "dist/tool-linux-amd64.sigstore.json"
"""
    )
    site["policy"].write_text(
        site["policy"]
        .read_text()
        .replace('"file:tool-*"', '"file:tool-*", "file:TOOL-*"')
    )
    code, report = _load(site, _export(site), capsys, gap.address)
    assert code == 0, report
    planned = [
        f
        for f in report["load"]["plan"]["files"]
        if f["name"].lower().startswith("tool")
    ]
    assert {f["repository"] for f in planned} == {"files/tool-linux-amd64"}
    assert sorted(f["tag"] is None for f in planned) == [False, True]
    tagged = next(f for f in planned if f["tag"])
    other = next(f for f in planned if not f["tag"])
    assert tagged["digest"] != other["digest"]
    raw = _skopeo_raw(gap, f"files/tool-linux-amd64:{tagged['tag']}")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == tagged["digest"]
    raw = _skopeo_raw(gap, f"files/tool-linux-amd64@{other['digest']}")
    title = json.loads(raw)["layers"][0]["annotations"][
        "org.opencontainers.image.title"
    ]
    assert title == other["name"]


def test_load_dry_run_lists_the_files_it_would_push_and_those_refused(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (site["dist"] / "installer.sh").write_bytes(INSTALLER + b"rm -rf /\n")
    archive = _export(site)
    capsys.readouterr()
    code = appliance(
        [
            "load",
            str(archive),
            "--to",
            "registry.example:5000/site",
            "--dry-run",
            "--policy",
            str(site["policy"]),
            "--trusted-root",
            str(site["root"]),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "would push 0 image(s), 2 file(s)" in err
    assert "site/files/kubectl:" in err
    assert "not pushed (refused): file:installer.sh" in err
    assert "files/installer-sh" not in err
