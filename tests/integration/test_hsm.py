"""Signing with a real SoftHSM token through the CLI, and every way it can fail.

The PIN used here is distinctive, so that its absence from every output can
be asserted: it must never appear in stdout, stderr or the bundle.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import pkcs11
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from appliance.cli.main import main
from appliance.core.errors import SignerError
from appliance.signer import pkcs11 as hsm
from tests.helpers.cosign_keys import encrypt_cosign_key

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.softhsm import SoftHsm

pytestmark = pytest.mark.hsm
PIN = "7041-HsmPin-9Zq"


@pytest.fixture(scope="module")
def token(softhsm: SoftHsm) -> SoftHsm:
    """A token of its own for this module, with the distinctive PIN."""
    softhsm.init_token("signing", user_pin=PIN)
    # SoftHSM reads its token directory at C_Initialize: a module another test
    # already loaded must re-read it to see the token just created.
    pkcs11.lib(softhsm.module_path).reinitialize()
    return softhsm


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert PIN not in out
    assert PIN not in err
    assert "Traceback" not in err
    return code, out, err


def _uri(hsm_: SoftHsm, label: str = "release", token: str = "signing") -> str:
    return f"pkcs11:token={token};object={label}?module-path={hsm_.module_path}"


@pytest.fixture
def pin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PKCS11_PIN", PIN)


@pytest.fixture(scope="module")
def release_key(token: SoftHsm) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSIGN_PKCS11_PIN", PIN)
        assert main(["pkcs11", "keygen", "--key", _uri(token)]) == 0
    return _uri(token)


def test_tokens_are_listed_by_label(
    token: SoftHsm, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "pkcs11", "tokens", "--module-path", token.module_path)
    assert code == 0
    assert "pkcs11:token=signing" in out


def test_keygen_makes_a_sign_only_non_extractable_key(
    token: SoftHsm, release_key: str, pin_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "pkcs11",
        "keys",
        "--key",
        f"pkcs11:token=signing?module-path={token.module_path}",
    )
    assert code == 0
    assert "object=release;id=%" in out
    lib_token = pkcs11.lib(token.module_path).get_token(token_label="signing")
    with lib_token.open(user_pin=PIN) as session:
        (key,) = session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: "release"}
        )
        assert key[Attribute.SENSITIVE]
        assert key[Attribute.NEVER_EXTRACTABLE]
        assert not key[Attribute.EXTRACTABLE]
        assert key[Attribute.SIGN]
        assert not key[Attribute.DERIVE]


def test_keygen_refuses_a_duplicate_label(
    release_key: str, pin_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "pkcs11", "keygen", "--key", release_key)
    assert code == 2
    assert "already exists" in err


def test_sign_blob_then_verify(
    release_key: str, pin_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "release.tar"
    artifact.write_bytes(b"approved bytes\n" * 1000)
    code, _, _ = run(
        capsys,
        "public-key",
        "--key",
        release_key,
        "--output-file",
        tmp_path / "pub.pem",
    )
    assert code == 0
    code, out, _ = run(
        capsys,
        "sign-blob",
        artifact,
        "--key",
        release_key,
        "--bundle",
        tmp_path / "release.sigstore.json",
        "-o",
        "json",
    )
    assert code == 0
    report = json.loads(out)
    bundle = json.loads((tmp_path / "release.sigstore.json").read_bytes())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"] == {
        "publicKey": {"hint": report["key_hint"]},
        "tlogEntries": [],
    }
    assert PIN not in (tmp_path / "release.sigstore.json").read_text()

    # Independently of our verifier: cryptography and the exported key.
    public = load_pem_public_key((tmp_path / "pub.pem").read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    import base64  # noqa: PLC0415

    public.verify(
        base64.b64decode(bundle["messageSignature"]["signature"]),
        artifact.read_bytes(),
        ec.ECDSA(hashes.SHA256()),
    )

    verify = (
        "verify-blob",
        artifact,
        "--bundle",
        tmp_path / "release.sigstore.json",
        "--key",
        tmp_path / "pub.pem",
    )
    # No log entry offline: as cosign, accepted only where the operator says so.
    code, _, err = run(capsys, *verify)
    assert code == 1
    assert "--insecure-ignore-tlog" in err
    code, out, err = run(capsys, *verify, "--insecure-ignore-tlog")
    assert code == 0
    assert "Verified OK" in out
    assert "WARNING: --insecure-ignore-tlog" in err
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    code, _, err = run(capsys, *verify, "--insecure-ignore-tlog")
    assert code == 1
    assert "digest" in err


def test_one_session_signs_many(
    token: SoftHsm, release_key: str, pin_env: None
) -> None:
    from appliance.signer.opener import open_signer  # noqa: PLC0415

    with open_signer(release_key) as signer:
        public = signer.public_key
        assert isinstance(public, ec.EllipticCurvePublicKey)
        for i in range(200):
            digest = hashlib.sha256(str(i).encode()).digest()
            signature = signer.sign_digest(digest)
            public.verify(signature, str(i).encode(), ec.ECDSA(hashes.SHA256()))


def test_wrong_pin(
    release_key: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "0000-Wrong-4242"
    monkeypatch.setenv("COSIGN_PKCS11_PIN", wrong)
    (tmp_path / "a").write_bytes(b"a")
    code, out, err = run(
        capsys,
        "sign-blob",
        tmp_path / "a",
        "--key",
        release_key,
        "--bundle",
        tmp_path / "b.json",
    )
    assert (code, err.strip()) == (2, "appliance: PIN incorrect")
    assert wrong not in out + err
    assert not (tmp_path / "b.json").exists()


def test_pin_from_pin_value_and_pin_source(
    token: SoftHsm,
    release_key: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    (tmp_path / "pin").write_text(PIN + "\n")
    (tmp_path / "a").write_bytes(b"a")
    source_uri = f"pkcs11:token=signing;object=release?module-path={token.module_path}&pin-source=file:{tmp_path / 'pin'}"
    assert (
        run(
            capsys,
            "sign-blob",
            tmp_path / "a",
            "--key",
            source_uri,
            "--bundle",
            tmp_path / "b1.json",
        )[0]
        == 0
    )
    value_uri = f"pkcs11:token=signing;object=release?module-path={token.module_path}&pin-value={PIN}"
    code, _out, _err = run(
        capsys,
        "sign-blob",
        tmp_path / "a",
        "--key",
        value_uri,
        "--bundle",
        tmp_path / "b2.json",
    )
    assert code == 0


def test_no_pin_and_no_terminal(
    release_key: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    (tmp_path / "a").write_bytes(b"a")
    code, _, err = run(
        capsys,
        "sign-blob",
        tmp_path / "a",
        "--key",
        release_key,
        "--bundle",
        tmp_path / "b.json",
    )
    assert code == 2
    assert "no terminal" in err


@pytest.mark.parametrize(
    ("key", "needles"),
    [
        (
            "pkcs11:token=absent;object=release?module-path={module}",
            ["token 'absent' not found; tokens present:", "'signing'"],
        ),
        (
            "pkcs11:token=signing;object=absent?module-path={module}",
            ["no EC private key 'absent'"],
        ),
        (
            "pkcs11:token=signing;object=release?module-path=/nonexistent/libpkcs11.so",
            ["PKCS#11 module not found: /nonexistent/libpkcs11.so"],
        ),
        (
            "pkcs11:token=signing;object=release?module-path=relative/lib.so",
            ["PKCS#11 module not found: relative/lib.so"],
        ),
        ("pkcs11:object=release?module-path={module}", ["names no token"]),
        ("pkcs11:token=signing?module-path={module}", ["names no key"]),
    ],
    ids=[
        "missing-token",
        "missing-key",
        "missing-module",
        "relative-module",
        "no-token",
        "no-key",
    ],
)
def test_sign_blob_refusals_name_what_is_missing(
    token: SoftHsm,
    pin_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    needles: list[str],
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    code, _, err = run(
        capsys,
        "sign-blob",
        tmp_path / "a",
        "--key",
        key.format(module=token.module_path),
        "--bundle",
        tmp_path / "b.json",
    )
    assert code == 2
    for needle in needles:
        assert needle in err
    assert not (tmp_path / "b.json").exists()


def test_bundle_destination_is_checked_before_signing(
    release_key: str, pin_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    code, _, err = run(
        capsys,
        "sign-blob",
        tmp_path / "a",
        "--key",
        release_key,
        "--bundle",
        tmp_path / "absent" / "b.json",
    )
    assert (code, err.strip()) == (
        2,
        f"appliance: {tmp_path / 'absent' / 'b.json'}: cannot write there: its directory does not exist",
    )


def test_token_selected_by_serial(
    token: SoftHsm, release_key: str, pin_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    serial = next(
        t.serial
        for t in hsm.list_tokens(pkcs11.lib(token.module_path))
        if t.label == "signing"
    )
    code, out, _ = run(
        capsys,
        "public-key",
        "--key",
        f"pkcs11:token=signing;serial={serial};object=release?module-path={token.module_path}",
    )
    assert code == 0
    assert out.startswith("-----BEGIN PUBLIC KEY-----")
    code, _, err = run(
        capsys,
        "public-key",
        "--key",
        f"pkcs11:token=signing;serial=0000;object=release?module-path={token.module_path}",
    )
    assert code == 2
    assert "not found; tokens present" in err


def test_module_from_the_environment(
    token: SoftHsm,
    release_key: str,
    pin_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COSIGN_PKCS11_MODULE_PATH", token.module_path)
    code, out, _ = run(
        capsys, "public-key", "--key", "pkcs11:token=signing;object=release"
    )
    assert code == 0
    assert out.startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (p11.PinIncorrect(), "PIN incorrect"),
        (p11.PinLocked(), "PIN locked"),
        (p11.PinExpired(), "PIN expired"),
        (p11.PinLenRange(), "wrong length"),
    ],
)
def test_login_failures_are_named(error: p11.PKCS11Error, message: str) -> None:
    """SoftHSM never locks a PIN, so the token cannot show these; our mapping
    of python-pkcs11's real exception classes is what is pinned here."""

    class Token:
        label = "t"

        def open(self, **_: object) -> None:
            raise error

    with pytest.raises(SignerError, match=message) as caught:
        hsm.TokenSession(Token(), pin=PIN)
    assert PIN not in caught.value.diagnostics()
    assert caught.value.__cause__ is None


def test_file_key_signing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "cosign.key").write_bytes(encrypt_cosign_key(key, "pa55"))
    (tmp_path / "a").write_bytes(b"artifact")
    monkeypatch.setenv("COSIGN_PASSWORD", "pa55")
    assert (
        run(
            capsys,
            "sign-blob",
            tmp_path / "a",
            "--key",
            tmp_path / "cosign.key",
            "--bundle",
            tmp_path / "a.json",
        )[0]
        == 0
    )
    assert (
        run(
            capsys,
            "public-key",
            "--key",
            tmp_path / "cosign.key",
            "--output-file",
            tmp_path / "pub.pem",
        )[0]
        == 0
    )
    assert (
        run(
            capsys,
            "verify-blob",
            tmp_path / "a",
            "--bundle",
            tmp_path / "a.json",
            "--key",
            tmp_path / "pub.pem",
            "--insecure-ignore-tlog",
        )[0]
        == 0
    )
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong")
    code, _, err = run(
        capsys,
        "sign-blob",
        tmp_path / "a",
        "--key",
        tmp_path / "cosign.key",
        "--bundle",
        tmp_path / "b.json",
    )
    assert code == 2
    assert "wrong password" in err


# -- secrets that are not text (hardening) ------------------------------------


@pytest.mark.parametrize("where", ["env", "pin-file", "password"])
def test_a_secret_that_is_not_utf8_is_a_clean_refusal(
    token: SoftHsm, release_key: str, tmp_path: Path, where: str
) -> None:
    """A non-UTF-8 PIN or password (a legacy-encoded shell) is one clear line."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    (tmp_path / "a").write_bytes(b"a")
    env = {k.encode(): v.encode() for k, v in os.environ.items()}
    key = release_key
    needle = "COSIGN_PKCS11_PIN is not UTF-8 text"
    if where == "env":
        env[b"COSIGN_PKCS11_PIN"] = b"pin-\xff\xfe"
    elif where == "pin-file":
        (tmp_path / "pin").write_bytes(b"pin-\xff\xfe\n")
        key = release_key + f"&pin-source=file:{tmp_path / 'pin'}"
        needle = "the pin-source file is not UTF-8 text"
    else:
        key = str(tmp_path / "cosign.key")
        (tmp_path / "cosign.key").write_bytes(
            encrypt_cosign_key(ec.generate_private_key(ec.SECP256R1()), "x")
        )
        env[b"COSIGN_PASSWORD"] = b"pw-\xff"
        needle = "the key password is not UTF-8 text"
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "sign-blob", str(tmp_path / "a"),
         "--key", key, "--bundle", str(tmp_path / "b.json")],
        capture_output=True,
        env=env,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert needle.encode() in done.stderr
    assert b"internal error" not in done.stderr
    assert not (tmp_path / "b.json").exists()
