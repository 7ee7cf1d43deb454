"""The sigstore-conformance entrypoint: every case's exit status, as the suite sees it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appliance.cli.main import main
from conformance import entrypoint
from tests.helpers.vectors import CONFORMANCE, conformance_cases

ROOT = Path(__file__).parents[2]
BEACON = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
CASES = conformance_cases()


def suite_argv(case: dict[str, Any], mode: str) -> list[str]:
    """Arguments exactly as sigstore-conformance builds them (vectors/README.md)."""
    folder = CONFORMANCE / Path(case["bundle"]).parent
    argv = ["verify-bundle", "--bundle", str(CONFORMANCE / case["bundle"])]
    if (folder / "key.pub").exists():
        argv += ["--key", str(folder / "key.pub")]
    else:
        argv += [
            "--certificate-identity",
            case["identity"],
            "--certificate-oidc-issuer",
            case["issuer"],
        ]
    if (folder / "trusted_root.json").exists():
        argv += ["--trusted-root", str(folder / "trusted_root.json")]
    argv.append(
        str(CONFORMANCE / case["artifact"])
        if mode == "file"
        else case["artifact_digest"]
    )
    return argv


@pytest.mark.parametrize("mode", ["file", "digest"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_exit_status(
    case: dict[str, Any], mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    translated = entrypoint.translate(suite_argv(case, mode))
    assert translated is not None
    code = main(translated)  # in-process; the sealed run is below
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if case["expect"] == "pass":
        assert code == 0, err
    else:
        assert code in {1, 2}, err


def test_sealed_entrypoint_process() -> None:
    case = next(c for c in CASES if c["name"] == "happy-path-v0.2")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "conformance" / "entrypoint.py"),
            *suite_argv(case, "digest"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "argv", [["sign-bundle", "--identity-token", "t", "--bundle", "b", "f"], []]
)
def test_signing_and_unknown_calls_are_refused(argv: list[str]) -> None:
    assert entrypoint.translate(argv) is None


def test_staging_flag_uses_the_sealed_staging_root() -> None:
    translated = entrypoint.translate(
        [
            "verify-bundle",
            "--staging",
            "--bundle",
            "b",
            "--certificate-identity",
            "i",
            "--certificate-oidc-issuer",
            "o",
            "a.txt",
        ]
    )
    assert translated is not None
    assert translated[:2] == ["verify-blob", "a.txt"]
    root = Path(translated[translated.index("--trusted-root") + 1])
    assert root.parts[-2:] == ("staging", "trusted_root.json")
    assert root.exists()
