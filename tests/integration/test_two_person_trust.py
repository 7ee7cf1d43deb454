"""Two-person integrity over trust: a new TUF root version and ``trust forget-split`` need the threshold's approvals.

Approvers here hold key files (the SoftHSM flow is tests/integration/test_two_person.py);
the chain is the real sigstore/root-signing snapshot (tests/assets/vectors).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main as appliance
from appliance.trust.controls import forget_split_digest
from tests.helpers.vectors import ROOT_SIGNING, serve_root_signing

if TYPE_CHECKING:
    from pathlib import Path

BOOTSTRAP_5 = ROOT_SIGNING / "metadata" / "root_history" / "5.root.json"


def _root_import_digest(name: str, root: bytes) -> str:
    """What approvers compute on the connected side (docs/revocation.md §4), written out by hand.

    RFC 8785 of a flat object of ASCII strings is its keys sorted, no
    whitespace: ``printf '{"kind":"trust-import",...}' | sha256sum``.
    """
    root_sha256 = hashlib.sha256(root).hexdigest()
    doc = f'{{"kind":"trust-import","name":"{name}","root_sha256":"{root_sha256}"}}'
    return hashlib.sha256(doc.encode()).hexdigest()


def _approve(
    capsys: pytest.CaptureFixture[str], digest: str, key: Path, approvals: Path
) -> None:
    code, _, err = _run(
        capsys,
        "trust",
        "approve",
        "--sha256",
        digest,
        "--key",
        key,
        "--approvals",
        approvals,
    )
    assert code == 0, err


def _approver(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.key", directory / f"{name}.pem"
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
    return code, out, err


@pytest.fixture
def approvers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[Path]:
    """Two approvers, 2 of 2, recorded; their private key files."""
    pairs = [_approver(tmp_path, n) for n in ("alice", "bob")]
    code, _, err = _run(
        capsys,
        "controls",
        "init",
        "--approvers",
        "2",
        *(a for _, pem in pairs for a in ("--key", pem)),
    )
    assert code == 0, err
    return [key for key, _ in pairs]


def test_a_new_root_version_needs_the_thresholds_approvals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], approvers: list[Path]
) -> None:
    served = serve_root_signing(tmp_path / "served")
    imp: list[str | Path] = [
        "trust",
        "import",
        served,
        "--bootstrap-root",
        BOOTSTRAP_5,
        "--trust-max-age",
        "3650d",
    ]
    code, _, err = _run(capsys, *imp)
    assert code == 2
    assert "TUF root v15" in err
    assert "approved by nobody: 2 more" in err
    digest = re.search(r"approve sha256 ([0-9a-f]{64})", err)
    assert digest is not None
    # What approvers check on the connected side: the new root.json's
    # SHA-256 under the name it is imported as.
    root = (served / "15.root.json").read_bytes()
    assert digest.group(1) == _root_import_digest("public-good", root)
    assert hashlib.sha256(root).hexdigest() in err
    assert "as trust root 'public-good'" in err
    approvals = tmp_path / "root.approvals.json"
    assert (
        _run(
            capsys,
            "trust",
            "approve",
            "--sha256",
            digest.group(1),
            "--key",
            approvers[0],
            "--approvals",
            approvals,
        )[0]
        == 0
    )
    code, _, err = _run(capsys, *imp, "--approvals", approvals)
    assert code == 2
    assert "1 more" in err
    # An approval of another digest does not count.
    assert (
        _run(
            capsys,
            "trust",
            "approve",
            "--sha256",
            "ab" * 32,
            "--key",
            approvers[1],
            "--approvals",
            approvals,
        )[0]
        == 0
    )
    assert _run(capsys, *imp, "--approvals", approvals)[0] == 2
    assert (
        _run(
            capsys,
            "trust",
            "approve",
            "--sha256",
            digest.group(1),
            "--key",
            approvers[1],
            "--approvals",
            approvals,
        )[0]
        == 0
    )
    code, out, err = _run(capsys, *imp, "--approvals", approvals, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["root_version"] == 15
    # The same root again (a refresh, no new root version) needs no approval.
    assert _run(capsys, *imp)[0] == 0
    code, out, _ = _run(capsys, "audit", "show", "-n", "50", "-o", "json")
    imported = [
        e
        for e in json.loads(out)
        if e["command"] == "trust-import" and e.get("exit_code") == 0
    ]
    assert any(e.get("approved_by") for e in imported)


def test_approvals_of_a_root_under_one_name_do_not_import_it_under_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], approvers: list[Path]
) -> None:
    """Attack: approvals given for ``public-good`` replayed by one operator for ``--name internal``.

    Policy rules pick roots by name (``trust = [...]``): the same root.json
    held under another name widens what a rule trusts, so the approval is
    of the root and the name together.
    """
    served = serve_root_signing(tmp_path / "served")
    root = (served / "15.root.json").read_bytes()
    imp: list[str | Path] = [
        "trust",
        "import",
        served,
        "--bootstrap-root",
        BOOTSTRAP_5,
        "--trust-max-age",
        "3650d",
    ]
    approvals = tmp_path / "public-good.approvals.json"
    for key in approvers:
        _approve(capsys, _root_import_digest("public-good", root), key, approvals)
    code, _, err = _run(capsys, *imp, "--name", "internal", "--approvals", approvals)
    assert code == 2
    assert "approvals-missing" in err or "approved by nobody: 2 more" in err
    assert "as trust root 'internal'" in err
    assert f"approve sha256 {_root_import_digest('internal', root)}" in err
    code, out, _ = _run(capsys, "trust", "show", "-o", "json")
    assert code == 0
    shown = json.loads(out)
    assert "internal" not in shown["roots"]
    assert "internal" not in shown["named_roots"]
    # The approvals still import it under the name they were given for.
    code, _, err = _run(capsys, *imp, "--approvals", approvals)
    assert code == 0, err
    # And a single approval of the other name does not reach the threshold.
    other = tmp_path / "internal.approvals.json"
    _approve(capsys, _root_import_digest("internal", root), approvers[0], other)
    code, _, err = _run(capsys, *imp, "--name", "internal", "--approvals", other)
    assert code == 2
    assert "1 more" in err


def test_forget_split_needs_the_thresholds_approvals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], approvers: list[Path]
) -> None:
    code, _, err = _run(capsys, "trust", "forget-split", "rekor.example")
    assert code == 2
    assert forget_split_digest("rekor.example") in err
    approvals = tmp_path / "forget.approvals.json"
    for key in approvers:
        assert (
            _run(
                capsys,
                "trust",
                "approve",
                "--sha256",
                forget_split_digest("rekor.example"),
                "--key",
                key,
                "--approvals",
                approvals,
            )[0]
            == 0
        )
    # Approved: it now runs, and says there was nothing to forget.
    code, _, err = _run(
        capsys, "trust", "forget-split", "rekor.example", "--approvals", approvals
    )
    assert code == 2
    assert "no split view is recorded" in err


def test_revocations_import_needs_an_approved_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], approvers: list[Path]
) -> None:
    from bundle_tools.cli import main as bundle_tools  # noqa: PLC0415

    security_key, security_pub = _approver(tmp_path, "security")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'revocation_keys = ["{security_pub.name}"]\n\n[[rules]]\nmatch = ["**"]\n\n'
        f'  [[rules.signers]]\n  key = "{security_pub.name}"\n'
    )
    source = tmp_path / "feed.toml"
    source.write_text(
        'publisher = "site-security"\nversion = 1\n\n'
        f'[[deny]]\ndigest = "sha256:{"ab" * 32}"\nreason = "recalled"\n'
    )
    feed = tmp_path / "feed.json"
    assert (
        bundle_tools(
            [
                "revocations",
                "sign",
                str(source),
                "--key",
                str(security_key),
                "-o",
                str(feed),
            ]
        )
        == 0
    )
    code, _, err = _run(capsys, "revocations", "import", feed, "--policy", policy)
    assert code == 2
    assert "approved by nobody: 2 more" in err
    for key in approvers:
        assert _run(capsys, "policy", "approve", policy, "--key", key)[0] == 0
    code, out, err = _run(
        capsys, "revocations", "import", feed, "--policy", policy, "-o", "json"
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["outcome"] == "applied"
    assert len(record["policy_approved_by"]) == 2
    # The policy's key file swapped after approval: the approvals no longer count.
    security_pub.write_bytes(_approver(tmp_path, "other")[1].read_bytes())
    assert _run(capsys, "revocations", "import", feed, "--policy", policy)[0] == 2
