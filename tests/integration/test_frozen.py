"""The sealed PyInstaller build: it builds, runs, and ships nothing it must not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from PyInstaller.archive.readers import CArchiveReader

from appliance import __version__
from tests.helpers.cosign_keys import encrypt_cosign_key

if TYPE_CHECKING:
    from tests.helpers.softhsm import SoftHsm

ROOT = Path(__file__).parents[2]
MUST_NOT_SHIP = ("bundle_tools", "sigstore", "httpx", "pytest", "hypothesis")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("frozen")
    env = {
        **os.environ,
        "VENV": str(Path(sys.executable).parent.parent),
        "DIST": str(out / "dist"),
        "WORK": str(out / "work"),
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


def test_frozen_version(frozen: Path) -> None:
    done = subprocess.run(
        [str(frozen), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"appliance {__version__}")


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
