"""``appliance verify-blob``: exit codes, output formats, one-line diagnostics."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from appliance.cli.main import main
from tests.helpers.vectors import CONFORMANCE, VECTORS

if TYPE_CHECKING:
    from pathlib import Path

BEACON = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
GITHUB = "https://token.actions.githubusercontent.com"
ARTIFACT = CONFORMANCE / "bundle-verify" / "a.txt"
DIGEST = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
HAPPY = CONFORMANCE / "bundle-verify" / "happy-path-v0.3" / "bundle.sigstore.json"
IDENTITY = ["--certificate-identity", BEACON, "--certificate-oidc-issuer", GITHUB]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_verified_file_prints_the_signer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify-blob", ARTIFACT, "--bundle", HAPPY, *IDENTITY)
    assert code == 0
    assert out.startswith("Verified OK:")
    assert BEACON in out
    assert "2024-03-19T17:26:26Z (transparency-log)" in out
    assert "embedded public-good" in out
    assert err == ""


def test_verified_digest_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "verify-blob", DIGEST, "--bundle", HAPPY, *IDENTITY, "-o", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["verified"] is True
    assert doc["signer"] == BEACON
    assert doc["issuer"] == GITHUB
    assert doc["signing_time"] == "2024-03-19T17:26:26Z"
    assert doc["signing_time_source"] == "transparency-log"
    assert doc["log_index"] == 79571823
    assert doc["artifact"] == DIGEST
    assert doc["trust_root"]["tuf_backed"] is True
    assert any("inclusion proof" in c for c in doc["checks"])


def test_identity_regexp_and_issuer_regexp(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, "verify-blob", ARTIFACT, "--bundle", HAPPY,
        "--certificate-identity-regexp", r"^https://github\.com/sigstore-conformance/",
        "--certificate-oidc-issuer-regexp", r"githubusercontent",
    )  # fmt: skip
    assert code == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            [
                "--certificate-identity",
                "someone@example.com",
                "--certificate-oidc-issuer",
                GITHUB,
            ],
            "does not match someone@example.com",
        ),
        (
            [
                "--certificate-identity",
                BEACON,
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            "OIDC issuer",
        ),
        (
            [
                "--certificate-identity-regexp",
                "^https://gitlab",
                "--certificate-oidc-issuer",
                GITHUB,
            ],
            "does not match",
        ),
        (
            [
                "--certificate-identity",
                BEACON,
                "--certificate-oidc-issuer",
                GITHUB,
                "--certificate-github-workflow-repository",
                "other/repo",
            ],
            "57264.1.5",
        ),
    ],
    ids=["identity", "issuer", "identity-regexp", "github-claim"],
)
def test_wrong_signer_is_exit_one_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = run(capsys, "verify-blob", ARTIFACT, "--bundle", HAPPY, *argv)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert needle in err


def test_wrong_artifact_is_exit_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other.txt"
    other.write_bytes(b"not the artifact\n")
    code, _, err = run(capsys, "verify-blob", other, "--bundle", HAPPY, *IDENTITY)
    assert code == 1
    assert "artifact: the artifact's digest is not the one the bundle signed" in err


def test_failure_as_json_names_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "verify-blob",
        DIGEST,
        "--bundle",
        HAPPY,
        "--certificate-identity",
        "x@y",
        "--certificate-oidc-issuer",
        GITHUB,
        "-o",
        "json",
    )
    assert code == 1
    doc = json.loads(out)
    assert doc == {
        "ok": False,
        "verified": False,
        "reason": "identity-mismatch",
        "error": doc["error"],
        "exit_code": 1,
    }
    assert "x@y" in doc["error"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            [
                "verify-blob",
                str(ARTIFACT),
                "--bundle",
                "/nonexistent/b.json",
                *IDENTITY,
            ],
            "/nonexistent/b.json: cannot read bundle",
        ),
        (
            ["verify-blob", "/nonexistent/a.txt", "--bundle", str(HAPPY), *IDENTITY],
            "/nonexistent/a.txt: cannot read artifact",
        ),
        (
            ["verify-blob", "sha256:abc", "--bundle", str(HAPPY), *IDENTITY],
            "a digest must be sha256:<64 hex>",
        ),
        (["verify-blob", str(ARTIFACT), "--bundle", str(HAPPY)], "name the signer"),
        (
            [
                "verify-blob",
                str(ARTIFACT),
                "--bundle",
                str(HAPPY),
                "--certificate-identity",
                BEACON,
            ],
            "--certificate-oidc-issuer",
        ),
        (
            [
                "verify-blob",
                str(ARTIFACT),
                "--bundle",
                str(HAPPY),
                "--certificate-identity-regexp",
                "(",
                "--certificate-oidc-issuer",
                GITHUB,
            ],
            "--certificate-identity-regexp: invalid regular expression",
        ),
        (
            [
                "verify-blob",
                str(ARTIFACT),
                "--bundle",
                str(HAPPY),
                *IDENTITY,
                "--key",
                str(HAPPY),
            ],
            "either --key or",
        ),
        (
            ["verify-blob", str(ARTIFACT), "--bundle", str(HAPPY), "--key", str(HAPPY)],
            "not a PEM public key",
        ),
        (
            ["verify-blob", str(ARTIFACT), "--bundle", str(ARTIFACT), *IDENTITY],
            "not valid JSON",
        ),
        (
            [
                "verify-blob",
                str(ARTIFACT),
                "--bundle",
                str(HAPPY),
                *IDENTITY,
                "--trusted-root",
                "/nonexistent/tr.json",
            ],
            "cannot read trusted root",
        ),
        (["verify-blob", str(ARTIFACT), *IDENTITY], "--bundle"),
        (
            [
                "verify-blob",
                str(ARTIFACT),
                "--bundle",
                str(HAPPY),
                *IDENTITY,
                "-o",
                "xml",
            ],
            "invalid choice",
        ),
    ],
    ids=[
        "bundle-missing",
        "artifact-missing",
        "short-digest",
        "no-signer",
        "no-issuer",
        "bad-regexp",
        "key-and-identity",
        "key-not-pem",
        "bundle-not-json",
        "root-missing",
        "no-bundle-flag",
        "bad-output",
    ],
)
def test_usage_and_input_errors_are_exit_two(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err


def test_malformed_trusted_root_is_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "trusted_root.json"
    root.write_text(
        '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [{}]}'
    )
    code, _, err = run(
        capsys,
        "verify-blob",
        ARTIFACT,
        "--bundle",
        HAPPY,
        *IDENTITY,
        "--trusted-root",
        root,
    )
    assert code == 2
    assert "trusted_root.json: tlogs[0].publicKey" in err


def test_a_file_named_like_a_digest_is_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / DIGEST).write_bytes(ARTIFACT.read_bytes())
    code, out, _ = run(
        capsys, "verify-blob", DIGEST, "--bundle", HAPPY, *IDENTITY, "-o", "json"
    )
    assert code == 0
    assert (
        json.loads(out)["artifact"] == DIGEST
    )  # read as a file: the same bytes, so it verifies


def test_key_signed_bundle_with_key(capsys: pytest.CaptureFixture[str]) -> None:
    case = CONFORMANCE / "bundle-verify" / "managed-key-happy-path"
    code, out, _ = run(
        capsys,
        "verify-blob",
        ARTIFACT,
        "--bundle",
        case / "bundle.sigstore.json",
        "--key",
        case / "key.pub",
        "-o",
        "json",
    )
    assert code == 0
    assert json.loads(out)["signer"].startswith("key ")


# -- hardening: empty values, flags that cannot apply, JSON errors, encodings ---

KEY_PUB = CONFORMANCE / "bundle-verify" / "managed-key-happy-path" / "key.pub"
KEY_BUNDLE = (
    CONFORMANCE / "bundle-verify" / "managed-key-happy-path" / "bundle.sigstore.json"
)


@pytest.mark.parametrize(
    "flags",
    [
        ["--certificate-identity", "", "--certificate-oidc-issuer", GITHUB],
        ["--certificate-identity-regexp", "", "--certificate-oidc-issuer", GITHUB],
        ["--certificate-identity", BEACON, "--certificate-oidc-issuer", ""],
        ["--certificate-identity", BEACON, "--certificate-oidc-issuer-regexp", ""],
        [
            "--certificate-identity-regexp",
            "",
            "--certificate-oidc-issuer-regexp",
            "",
        ],
    ],
    ids=["identity", "identity-regexp", "issuer", "issuer-regexp", "both-regexps"],
)
def test_an_empty_value_is_not_given_never_anyone(
    capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """An unset shell variable (--certificate-identity "$ID") must not match all."""
    code, out, err = run(
        capsys, "verify-blob", ARTIFACT, "--bundle", HAPPY, *flags, "-o", "json"
    )
    assert code == 2
    assert "counts as not given" in err
    assert json.loads(out)["reason"] == "usage"


@pytest.mark.parametrize(
    "claim",
    [
        "--certificate-github-workflow-trigger",
        "--certificate-github-workflow-sha",
        "--certificate-github-workflow-name",
        "--certificate-github-workflow-repository",
        "--certificate-github-workflow-ref",
    ],
)
def test_certificate_claims_cannot_constrain_a_key(
    capsys: pytest.CaptureFixture[str], claim: str
) -> None:
    code, _, err = run(
        capsys,
        "verify-blob",
        ARTIFACT,
        "--bundle",
        KEY_BUNDLE,
        "--key",
        KEY_PUB,
        claim,
        "x",
    )
    assert code == 2
    assert "GitHub claims are certificate extensions" in err


def test_an_empty_claim_next_to_a_key_is_not_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, _ = run(
        capsys,
        "verify-blob",
        ARTIFACT,
        "--bundle",
        KEY_BUNDLE,
        "--key",
        KEY_PUB,
        "--certificate-github-workflow-ref",
        "",
    )
    assert code == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["verify-blob", "-o", "json"],
        ["verify-blob", "a", "--bundle", "b", "--no-such", "-o", "json"],
        ["verify-blob", "a", "--bundle", "b", "--output=json", "--trust-max-age"],
        ["trust", "import", "-ojson"],
    ],
)
def test_usage_errors_are_json_when_json_was_asked_for(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    doc = json.loads(out)
    assert doc["reason"] == "usage"
    assert doc["exit_code"] == 2
    assert err.splitlines()[-1].startswith("appliance: ")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--bundle", "/nonexistent"], "input-unreadable"),
        (["--bundle", str(ARTIFACT)], "malformed-input"),
        (
            ["--bundle", str(HAPPY), "--trusted-root", "/nonexistent"],
            "input-unreadable",
        ),
    ],
)
def test_input_errors_are_json_too(
    capsys: pytest.CaptureFixture[str], extra: list[str], reason: str
) -> None:
    code, out, _ = run(capsys, "verify-blob", ARTIFACT, *extra, *IDENTITY, "-o", "json")
    assert code == 2
    assert json.loads(out)["reason"] == reason


def test_non_ascii_output_on_an_ascii_console(tmp_path: Path) -> None:
    """A SAN or file name the console cannot show is escaped, never a crash."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    artifact = tmp_path / "réf-ü.txt"
    artifact.write_bytes(ARTIFACT.read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "verify-blob",
            str(artifact),
            "--bundle",
            str(HAPPY),
            *IDENTITY,
        ],
        capture_output=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"r\\xe9f-\\xfc.txt" in done.stdout
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "verify-blob",
            str(tmp_path / "ñ"),
            "--bundle",
            str(HAPPY),
            *IDENTITY,
        ],
        capture_output=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert b"internal error" not in done.stderr


def test_a_bundle_over_the_cap_is_refused_before_reading(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    huge = tmp_path / "huge.sigstore.json"
    with huge.open("wb") as handle:
        handle.truncate(3 * 1024**3)
    code, _, err = run(capsys, "verify-blob", ARTIFACT, "--bundle", huge, *IDENTITY)
    assert code == 2
    assert "3221225472 bytes, over the 16777216-byte limit" in err


def test_sealed_root_is_reported_stale(capsys: pytest.CaptureFixture[str]) -> None:
    """Its TUF root v15 expired on 2026-11-20: the report says so."""
    code, out, _ = run(
        capsys, "verify-blob", DIGEST, "--bundle", HAPPY, *IDENTITY, "-o", "json"
    )
    assert code == 0
    trust = json.loads(out)["trust_root"]
    assert trust["stale_since"] == "2026-11-20T13:58:18Z"
    assert "TUF root v15" in trust["source"]


GH = VECTORS / "github"
GH_ROOTS = GH / "trusted_root.jsonl"
GH_TSA_ONLY = GH / "actions-attest-build-provenance-attestation-13531551.sigstore.json"
GH_DIGEST = "sha256:b03d18ed0a16864ef2d2e559c660159a2170b9d086a1f42f570b1679326b90e6"
GH_IDENTITY = [
    "--certificate-identity",
    "https://github.com/actions/attest-build-provenance/.github/workflows/prober.yml@refs/heads/main",
    "--certificate-oidc-issuer",
    GITHUB,
]


def test_github_tsa_only_bundle_under_gh_trusted_root_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "verify-blob", GH_DIGEST, "--bundle", GH_TSA_ONLY,
        "--trusted-root", GH_ROOTS, *GH_IDENTITY,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "(timestamp-authority)" in out
    assert "line 2 (github)" in out
    assert "the trusted root has no log" in out


def test_github_tsa_only_bundle_fails_under_public_good_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    public = tmp_path / "public-good.json"
    public.write_bytes(GH_ROOTS.read_bytes().splitlines()[0])
    code, out, err = run(
        capsys, "verify-blob", GH_DIGEST, "--bundle", GH_TSA_ONLY,
        "--trusted-root", public, *GH_IDENTITY,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "timestamp 0" in err


def test_github_bundle_with_another_workflow_names_the_github_root(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        capsys, "verify-blob", GH_DIGEST, "--bundle", GH_TSA_ONLY,
        "--trusted-root", GH_ROOTS,
        "--certificate-identity", "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
        "--certificate-oidc-issuer", GITHUB,
    )  # fmt: skip
    assert code == 1
    assert "under github:" in err
    assert "does not match" in err


def test_broken_json_lines_are_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = tmp_path / "roots.jsonl"
    lines.write_bytes(GH_ROOTS.read_bytes() + b"{not json}\n")
    code, _, err = run(
        capsys, "verify-blob", GH_DIGEST, "--bundle", GH_TSA_ONLY,
        "--trusted-root", lines, *GH_IDENTITY,
    )  # fmt: skip
    assert code == 2
    assert "line 3" in err


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        (["--repo", "actions/other"], 1),
        (["--owner", "someone"], 1),
        (["--signer-workflow", "actions/attest-build-provenance/.github/workflows/release.yml"], 1),
        (["--signer-repo", "actions/other"], 1),
        (["--source-ref", "refs/tags/v1"], 1),
        (["--source-digest", "0" * 40], 1),
        (["--certificate-extension", "build_trigger=push"], 1),
        (["--certificate-extension", "no_such_extension=1"], 2),
        (["--certificate-extension", "build_trigger"], 2),
        (
            [
                "--repo", "actions/attest-build-provenance",
                "--owner", "actions",
                "--signer-workflow", "actions/attest-build-provenance/.github/workflows/prober.yml",
                "--signer-repo", "actions/attest-build-provenance",
                "--source-ref", "refs/heads/main",
                "--deny-self-hosted-runners",
                "--certificate-extension", "build_trigger=schedule",
            ],
            0,
        ),
    ],
)  # fmt: skip
def test_gh_attestation_verify_flags(
    capsys: pytest.CaptureFixture[str], flags: list[str], code: int
) -> None:
    got, _, err = run(
        capsys, "verify-blob", GH_DIGEST, "--bundle", GH_TSA_ONLY,
        "--trusted-root", GH_ROOTS, *GH_IDENTITY, *flags,
    )  # fmt: skip
    assert got == code, err
    assert err.count("\n") == (0 if code == 0 else 1)
