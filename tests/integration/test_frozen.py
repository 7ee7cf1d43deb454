"""The sealed PyInstaller build: it builds, runs, and ships nothing it must not."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PyInstaller.archive.readers import CArchiveReader

from appliance import __version__
from appliance.core.archive.reference import parse_reference
from tests.helpers import pki, token_server
from tests.helpers import registry as registry_mod
from tests.helpers.cosign_keys import encrypt_cosign_key
from tests.helpers.exported import KEYLESS

if TYPE_CHECKING:
    from tests.helpers.exported import Exported
    from tests.helpers.softhsm import SoftHsm

ROOT = Path(__file__).parents[2]
MUST_NOT_SHIP = ("bundle_tools", "sigstore", "httpx", "pytest", "hypothesis")

pytestmark = pytest.mark.slow


def _build(out: Path) -> Path:
    env = {
        **os.environ,
        "VENV": str(Path(sys.executable).parent.parent),
        "AIRLOCK_SEALED": str(out),
    }
    subprocess.run(
        ["bash", str(ROOT / "build" / "build.sh")],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    binary = out / "dist" / "appliance" / "appliance"
    assert binary.is_file()
    return binary


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("frozen"))


def test_frozen_version_names_the_commit_and_the_manifest(frozen: Path) -> None:
    done = subprocess.run(
        [str(frozen), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    manifest = hashlib.sha256(
        (frozen.parent.parent / "appliance.sha256").read_bytes()
    ).hexdigest()
    assert done.returncode == 0
    line = done.stdout.strip()
    assert line.startswith(f"appliance {__version__} (commit {commit or 'unknown'}")
    assert line.endswith(f"manifest sha256 {manifest})")


def test_two_builds_of_one_commit_are_byte_identical(
    frozen: Path, tmp_path: Path
) -> None:
    """The README names no exception: every file of the folder is the same."""
    again = _build(tmp_path / "again")
    first, second = frozen.parent.parent, again.parent.parent
    assert (first / "appliance.sha256").read_text() == (
        second / "appliance.sha256"
    ).read_text()
    assert (first / "appliance.cdx.json").read_bytes() == (
        second / "appliance.cdx.json"
    ).read_bytes()


def test_the_sbom_explains_every_byte_of_the_folder(frozen: Path) -> None:
    sbom = json.loads((frozen.parent.parent / "appliance.cdx.json").read_text())
    total = sum(p.stat().st_size for p in frozen.parent.rglob("*") if p.is_file())
    explained = sum(
        int(next(p["value"] for p in c["properties"] if p["name"] == "airlock:bytes"))
        for c in sbom["components"]
    )
    assert explained == total
    names = {c["name"] for c in sbom["components"]}
    assert {
        "cryptography",
        "zstandard",
        "tuf",
        "python-pkcs11",
        "cpython",
        "airlock-appliance",
        "libcrypto.so.3",
    } <= names
    assert not {"bundle-tools", "sigstore", "pytest"} & names
    listed = [
        line.split("  ", 1)[1]
        for line in (frozen.parent.parent / "appliance.sha256").read_text().splitlines()
    ]
    assert len(listed) == sum(1 for p in frozen.parent.rglob("*") if p.is_file())


def test_the_sealed_verify_needs_no_network_namespace(
    frozen: Path, tmp_path: Path
) -> None:
    """`unshare -n`: no network at all, and the archive verifies."""
    argv = [str(frozen), "verify", str(ROOT / "tests/assets/tui/transfer.tar.zst"),
            "--trusted-root", str(ROOT / "tests/assets/tui/trusted_root.json"),
            "--certificate-identity", "release@airlock.test", "--certificate-oidc-issuer", "https://oidc.airlock.test",
            "--image", "127.0.0.1:34639/tui/app:v1"]  # fmt: skip
    env = {**os.environ, "APPLIANCE_STATE_DIR": str(tmp_path / "state")}
    isolated = (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "-n", "true"], check=False).returncode == 0
    )
    done = subprocess.run(
        (["unshare", "-n"] if isolated else []) + argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "1 of 1 image(s) verified" in done.stderr


def test_the_sealed_tui_is_inside(frozen: Path) -> None:
    done = subprocess.run(
        [str(frozen), "tui", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "terminal UI" in done.stdout or "review" in done.stdout


def test_frozen_usage_error_is_exit_two_without_traceback(frozen: Path) -> None:
    done = subprocess.run(
        [str(frozen), "--no-such-flag"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


VECTORS = ROOT / "tests" / "assets" / "vectors"
WHEEL_BUNDLE = VECTORS / "bundles" / "public-good" / "bundle_v3_github.whl.sigstore"
WHEEL_DIGEST = "sha256:c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201"
WHEEL_SIGNER = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"


@pytest.mark.parametrize(
    ("signer", "code"),
    [(WHEEL_SIGNER, 0), ("someone@example.com", 1)],
    ids=["verified", "wrong-signer"],
)
def test_frozen_verify_blob_with_the_sealed_root(
    frozen: Path, signer: str, code: int
) -> None:
    """The sealed build verifies a real bundle against its embedded trust root."""
    argv = [
        str(frozen),
        "verify-blob",
        WHEEL_DIGEST,
        "--bundle",
        str(WHEEL_BUNDLE),
        "--certificate-identity",
        signer,
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == code, done.stderr
    assert "internal error" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.hsm
def test_frozen_signs_with_a_softhsm_token_and_verifies(
    frozen: Path, softhsm: SoftHsm, tmp_path: Path
) -> None:
    """python-pkcs11's extension and the seal work inside the sealed build."""
    softhsm.init_token("frozen", user_pin="5678")
    env = {
        **os.environ,
        "COSIGN_PKCS11_PIN": "5678",
        "APPLIANCE_STATE_DIR": str(tmp_path / "state"),
    }
    uri = f"pkcs11:token=frozen;object=k?module-path={softhsm.module_path}"
    (tmp_path / "a.txt").write_bytes(b"signed inside the gap\n")
    steps = [
        ["pkcs11", "keygen", "--key", uri],
        ["public-key", "--key", uri, "--output-file", str(tmp_path / "pub.pem")],
        [
            "sign-blob",
            str(tmp_path / "a.txt"),
            "--key",
            uri,
            "--bundle",
            str(tmp_path / "a.json"),
        ],
        [
            "verify-blob",
            str(tmp_path / "a.txt"),
            "--bundle",
            str(tmp_path / "a.json"),
            "--key",
            str(tmp_path / "pub.pem"),
            "--insecure-ignore-tlog",
        ],
    ]
    for argv in steps:
        done = subprocess.run(
            [str(frozen), *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert done.returncode == 0, (argv, done.stderr)


def test_frozen_opens_a_cosign_key_file(frozen: Path, tmp_path: Path) -> None:
    """PyNaCl (secretbox) is inside the sealed build."""
    (tmp_path / "cosign.key").write_bytes(
        encrypt_cosign_key(ec.generate_private_key(ec.SECP256R1()), "pw")
    )
    env = {**os.environ, "COSIGN_PASSWORD": "pw"}
    done = subprocess.run(
        [str(frozen), "public-key", "--key", str(tmp_path / "cosign.key")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-----BEGIN PUBLIC KEY-----")


def test_frozen_build_ships_the_seal_and_not_the_exporter(frozen: Path) -> None:
    archive = CArchiveReader(str(frozen))
    modules = set(archive.open_embedded_archive("PYZ.pyz").toc)
    assert {"appliance._seal", "appliance.__main__", "appliance.cli.main"} <= modules
    leaked = sorted(
        m
        for m in modules
        for bad in MUST_NOT_SHIP
        if m == bad or m.startswith(bad + ".")
    )
    assert leaked == []


@pytest.mark.registry
@pytest.mark.network
def test_frozen_loads_into_a_tls_token_registry_twice(
    frozen: Path, exported: Exported, tmp_path: Path, loopback: None
) -> None:
    """The sealed build: the OS trust store plus --registry-cacert, token auth, the realm admitted (#21)."""
    del loopback
    ca = pki.make_ca(tmp_path / "ca")
    tokens = token_server.start(ca, token_server.Policy(users={"op": "Frozen-pw-1"}))
    site = registry_mod.start(tmp_path / "site", ca=ca, token_server=tokens)
    try:
        argv = [
            str(frozen),
            "load",
            str(exported.archive),
            "--to",
            site.address,
            "--trusted-root",
            str(exported.root),
            *KEYLESS,
            "--image",
            exported.ref("app"),
            "--registry-cacert",
            str(ca.cert),
            "--registry-username",
            "op",
            "-o",
            "json",
        ]
        env = {
            "PATH": "/usr/bin:/bin",
            "APPLIANCE_STATE_DIR": str(tmp_path / "state"),
            "DOCKER_CONFIG": str(tmp_path / "none"),
        }
        reports = []
        for _ in range(2):
            done = subprocess.run(
                argv,
                input="Frozen-pw-1\n",
                capture_output=True,
                text=True,
                timeout=240,
                env=env,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert "Frozen-pw-1" not in done.stdout + done.stderr
            reports.append(json.loads(done.stdout)["load"]["pushed"])
        assert reports[0]["blobs_sent"] > 0
        assert reports[1]["blobs_sent"] == 0
        assert tokens.realm.split("/")[2] in reports[0]["hosts"]
        _frozen_sign_attest_inventory(
            frozen,
            site.address,
            exported.ref("app"),
            flags=["--registry-cacert", str(ca.cert), "--registry-username", "op"],
            env=env,
            tmp_path=tmp_path,
        )
        unknown = subprocess.run(
            [a for a in argv if a not in ("--registry-cacert", str(ca.cert))],
            input="Frozen-pw-1\n",
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            check=False,
        )
        assert unknown.returncode == 2
        assert "unknown CA" in unknown.stderr
    finally:
        site.stop()
        tokens.stop()


def _frozen_sign_attest_inventory(
    frozen: Path,
    address: str,
    exported_ref: str,
    *,
    flags: list[str],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """sign, attest and inventory --registry from the sealed build, through token auth and TLS (#21)."""
    repository, tag = (
        parse_reference(exported_ref).repository,
        exported_ref.rsplit(":", 1)[1],
    )
    loaded = f"{address}/{repository}:{tag}"
    key = tmp_path / "frozen-signer.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"builder": {"id": "https://airlock.test/frozen"}}))
    inventory = tmp_path / "inventory.json"
    for argv in (
        ["sign", loaded, "--key", str(key), "-o", "json"],
        [
            "attest",
            loaded,
            "--key",
            str(key),
            "--predicate",
            str(predicate),
            "--type",
            "https://slsa.dev/provenance/v1",
            "-o",
            "json",
        ],
        ["inventory", "-o", str(inventory), "--registry", address],
    ):
        done = subprocess.run(
            [str(frozen), *argv, *flags],
            input="Frozen-pw-1\n",
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            check=False,
        )
        assert done.returncode == 0, (argv[0], done.stderr)
        assert "Frozen-pw-1" not in done.stdout + done.stderr
    listed = json.loads(inventory.read_text())
    assert listed["source"] == f"registry {address}"
    assert listed["blobs"], "the inventory of the site lists what was loaded"
