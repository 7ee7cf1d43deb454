"""What ``sign-blob`` and ``public-key`` write: never destroying, never leaking.

The review, as root: ``sign-blob --bundle /dev/null`` replaced the device node
with a regular file, ``public-key --output-file`` replaced a symlink instead
of writing through it, and public outputs came out 0600.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "key.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.parametrize("command", ["sign-blob", "public-key"])
def test_dev_null_is_never_replaced(
    key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    argv = (
        ["sign-blob", str(tmp_path / "a"), "--key", str(key), "--bundle", "/dev/null"]
        if command == "sign-blob"
        else ["public-key", "--key", str(key), "--output-file", "/dev/null"]
    )
    assert main(argv) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert Path("/dev/null").is_char_device()


def test_public_key_writes_through_a_symlink(key: Path, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    real = tmp_path / "keys" / "release.pub"
    real.write_bytes(b"old")
    link = tmp_path / "release.pub"
    link.symlink_to(real)
    assert main(["public-key", "--key", str(key), "--output-file", str(link)]) == 0
    assert link.is_symlink()
    assert real.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_public_outputs_are_world_readable_and_keep_a_chosen_mode(
    key: Path, tmp_path: Path
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    pub, bundle = tmp_path / "release.pub", tmp_path / "a.sigstore.json"
    assert main(["public-key", "--key", str(key), "--output-file", str(pub)]) == 0
    assert (
        main(
            [
                "sign-blob",
                str(tmp_path / "a"),
                "--key",
                str(key),
                "--bundle",
                str(bundle),
            ]
        )
        == 0
    )
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o644
    bundle.chmod(0o640)
    assert (
        main(
            [
                "sign-blob",
                str(tmp_path / "a"),
                "--key",
                str(key),
                "--bundle",
                str(bundle),
            ]
        )
        == 0
    )
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o640
