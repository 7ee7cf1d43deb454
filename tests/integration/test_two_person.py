"""Two-person integrity, end to end, with two SoftHSM tokens (one per approver) and the exported world's archive.

The whole flow the issue names: ``controls init``; a policy refused until
two distinct approvers sign it (one of two is refused, the same approver
twice counts once); verification with the approved policy; an edited policy
or a swapped key file refused; the threshold raised only with the old
threshold's approvals; all of it read back from the state by a fresh
process (a restart); every step an audit line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pkcs11
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main as appliance

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.exported import Exported
    from tests.helpers.softhsm import SoftHsm

pytestmark = [pytest.mark.hsm, pytest.mark.registry, pytest.mark.slow]
PINS = {"alice": "4127-Alice-Pin", "bob": "9350-Bob-Pin"}


@pytest.fixture(scope="module")
def approvers(
    softhsm: SoftHsm, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, Path]]:
    """Alice and Bob, each an approver key on a token of their own: (URI, public PEM file)."""
    out = tmp_path_factory.mktemp("approvers")
    found = {}
    for name, pin in PINS.items():
        softhsm.init_token(f"approver-{name}", user_pin=pin)
    pkcs11.lib(softhsm.module_path).reinitialize()
    for name, pin in PINS.items():
        uri = f"pkcs11:token=approver-{name};object={name}?module-path={softhsm.module_path}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COSIGN_PKCS11_PIN", pin)
            assert appliance(["pkcs11", "keygen", "--key", uri]) == 0
            pem = out / f"{name}.pem"
            assert (
                appliance(["public-key", "--key", uri, "--output-file", str(pem)]) == 0
            )
        found[name] = (uri, pem)
    return found


def _carol(directory: Path) -> tuple[Path, Path]:
    """A third approver on a key file."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / "carol.key", directory / "carol.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = appliance([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert all(pin not in out + err for pin in PINS.values())
    return code, out, err


def _as(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The approver ``name`` at the console: their token's PIN."""
    monkeypatch.setenv("COSIGN_PKCS11_PIN", PINS[name])


def _policy(directory: Path, exported: Exported) -> Path:
    shutil.copy(exported.key, directory / "release.pub")
    policy = directory / "policy.toml"
    policy.write_text(
        'version = 1\n\n[[rules]]\nmatch = ["**/verify/app"]\n\n'
        '  [[rules.signers]]\n  key = "release.pub"\n'
    )
    return policy


def _verify(
    capsys: pytest.CaptureFixture[str], exported: Exported, policy: Path, *extra: str
) -> tuple[int, dict[str, Any], str]:
    code, out, err = _run(
        capsys,
        "verify",
        exported.archive,
        "--trusted-root",
        exported.root,
        "--image",
        exported.ref("app"),
        "-o",
        "json",
        *(extra or ("--policy", str(policy))),
    )
    return code, json.loads(out) if out.strip() else {}, err


def _kid(pem: Path) -> str:
    from appliance.core import keys  # noqa: PLC0415

    return keys.key_id(keys.load_pem(pem.read_bytes(), where=str(pem))).hex()


def test_the_whole_flow(  # noqa: PLR0915 - one flow, each step asserted
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    approvers: dict[str, tuple[str, Path]],
    exported: Exported,
    tmp_path: Path,
) -> None:
    (alice, alice_pem), (bob, bob_pem) = approvers["alice"], approvers["bob"]
    policy = _policy(tmp_path, exported)
    approvals = tmp_path / "policy.toml.approvals.json"

    # Before the opt-in, a policy needs nobody's approval.
    assert _verify(capsys, exported, policy)[0] == 0
    # Nobody can approve before there are controls.
    _as(monkeypatch, "alice")
    assert _run(capsys, "policy", "approve", policy, "--key", alice)[0] == 2

    code, out, err = _run(
        capsys,
        "controls",
        "init",
        "--approvers",
        "2",
        "--key",
        alice_pem,
        "--key",
        bob_pem,
    )
    assert code == 0, err
    assert "2 of 2 approvers" in out

    # Unapproved: refused (exit 2), naming how many more are needed.
    code, _, err = _verify(capsys, exported, policy)
    assert code == 2
    assert "approved by nobody: 2 more of 2 of 2 approvers" in err
    # Command-line signer flags would bypass the approved policy.
    code, _, err = _verify(capsys, exported, policy, "--key", str(exported.key))
    assert code == 2
    assert "signer flags would bypass the approved policy" in err

    # One approval of two: refused, naming who approved.
    code, _, err = _run(capsys, "policy", "approve", policy, "--key", alice)
    assert code == 0, err
    code, _, err = _verify(capsys, exported, policy)
    assert code == 2
    assert f"approved by {_kid(alice_pem)[:16]}: 1 more" in err

    # The same approver twice: refused by the tool, and not counted if forged in.
    assert _run(capsys, "policy", "approve", policy, "--key", alice)[0] == 2
    doc = json.loads(approvals.read_bytes())
    doc["approvals"].append(dict(doc["approvals"][0]))
    approvals.write_text(json.dumps(doc))
    assert _verify(capsys, exported, policy)[0] == 2
    doc["approvals"].pop()
    approvals.write_text(json.dumps(doc))

    # Two distinct approvers: the policy is used.
    _as(monkeypatch, "bob")
    assert _run(capsys, "policy", "approve", policy, "--key", bob)[0] == 0
    code, report, err = _verify(capsys, exported, policy)
    assert code == 0, err
    assert sorted(report["policy_approved_by"]) == sorted(
        [_kid(alice_pem), _kid(bob_pem)]
    )

    # Survives a restart: a fresh process reads the controls and approvals from disk.
    fresh = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "verify",
            str(exported.archive),
            "--trusted-root",
            str(exported.root),
            "--image",
            exported.ref("app"),
            "--policy",
            str(policy),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COSIGN_PKCS11_PIN": ""},
        check=False,
        timeout=120,
    )
    assert fresh.returncode == 0, fresh.stderr

    # An edited policy has another digest: none of its approvals count.
    policy.write_text(policy.read_text() + "\n# edited after approval\n")
    code, _, err = _verify(capsys, exported, policy)
    assert code == 2
    assert "approved by nobody" in err
    policy.write_text(policy.read_text().replace("\n# edited after approval\n", ""))
    assert _verify(capsys, exported, policy)[0] == 0
    # So does a policy whose key file was swapped.
    shutil.copy(tmp_path / "release.pub", tmp_path / "release.pub.orig")
    (tmp_path / "release.pub").write_bytes(_carol(tmp_path)[1].read_bytes())
    assert _verify(capsys, exported, policy)[0] == 2
    shutil.copy(tmp_path / "release.pub.orig", tmp_path / "release.pub")

    # Raising the threshold: Carol joins, 3 of 3; the old threshold (2) must approve.
    carol_key, carol_pem = _carol(tmp_path / "..")
    change = tmp_path / "controls.approvals.json"
    raise_to: list[str | Path] = [
        "--approvers",
        "3",
        "--key",
        alice_pem,
        "--key",
        bob_pem,
        "--key",
        carol_pem,
    ]
    code, _, err = _run(capsys, "controls", "init", *raise_to)
    assert code == 2
    assert "approved by nobody: 2 more" in err
    # Carol is not an approver yet: her approval is refused.
    assert (
        _run(
            capsys,
            "controls",
            "approve",
            *raise_to,
            "--sign-with",
            carol_key,
            "--approvals",
            change,
        )[0]
        == 2
    )
    _as(monkeypatch, "alice")
    assert (
        _run(
            capsys,
            "controls",
            "approve",
            *raise_to,
            "--sign-with",
            alice,
            "--approvals",
            change,
        )[0]
        == 0
    )
    code, _, err = _run(capsys, "controls", "init", *raise_to, "--approvals", change)
    assert code == 2
    assert "1 more" in err
    # An approval of other controls (2 of 3) does not count for these.
    _as(monkeypatch, "bob")
    other: list[str | Path] = [
        "--approvers",
        "2",
        "--key",
        alice_pem,
        "--key",
        bob_pem,
        "--key",
        carol_pem,
    ]
    assert (
        _run(
            capsys,
            "controls",
            "approve",
            *other,
            "--sign-with",
            bob,
            "--approvals",
            change,
        )[0]
        == 0
    )
    assert _run(capsys, "controls", "init", *raise_to, "--approvals", change)[0] == 2
    assert (
        _run(
            capsys,
            "controls",
            "approve",
            *raise_to,
            "--sign-with",
            bob,
            "--approvals",
            change,
        )[0]
        == 0
    )
    code, out, err = _run(capsys, "controls", "init", *raise_to, "--approvals", change)
    assert code == 0, err
    assert "3 of 3 approvers" in out
    code, out, _ = _run(capsys, "trust", "show")
    assert "two-person integrity: 3 of 3 approvers" in out

    # Now the policy approved by two is under-approved; Carol's approval completes it.
    code, _, err = _verify(capsys, exported, policy)
    assert code == 2
    assert "1 more of 3 of 3 approvers" in err
    assert _run(capsys, "policy", "approve", policy, "--key", carol_key)[0] == 0
    assert _verify(capsys, exported, policy)[0] == 0

    # Every step is an audit line.
    code, out, _ = _run(capsys, "audit", "show", "-n", "200", "-o", "json")
    commands = [line["command"] for line in json.loads(out)]
    assert commands.count("controls init") == 5
    assert commands.count("policy approve") >= 5
    assert commands.count("controls approve") == 4
    assert "verify" in commands


def test_a_revocation_feed_is_signed_on_an_hsm(
    monkeypatch: pytest.MonkeyPatch,
    approvers: dict[str, tuple[str, Path]],
    tmp_path: Path,
) -> None:
    from appliance.core import keys  # noqa: PLC0415
    from appliance.core.revocations import document, verify_feed  # noqa: PLC0415
    from bundle_tools.cli import main as bundle_tools  # noqa: PLC0415

    uri, pem = approvers["alice"]
    source = tmp_path / "feed.toml"
    source.write_text(
        'publisher = "site-security"\nversion = 1\n\n'
        f'[[deny]]\ndigest = "sha256:{"ab" * 32}"\nreason = "malicious"\n'
    )
    _as(monkeypatch, "alice")
    out = tmp_path / "feed.json"
    code = bundle_tools(
        ["revocations", "sign", str(source), "--key", uri, "-o", str(out)]
    )
    assert code == 0
    public = keys.load_pem(pem.read_bytes(), where="alice")
    feed = verify_feed(
        document(out.read_bytes(), where="feed"), trusted=[public], where="feed"
    )
    assert feed.key_id == keys.key_id(public)
    # The wrong PIN signs nothing and writes nothing.
    monkeypatch.setenv("COSIGN_PKCS11_PIN", "0000-wrong")
    again = tmp_path / "again.json"
    code = bundle_tools(
        ["revocations", "sign", str(source), "--key", uri, "-o", str(again)]
    )
    assert code == 2
    assert not again.exists()
