"""``appliance trust import|show`` and ``bundle-tools trust update``, end to end.

The online refresh talks only to the loopback TUF fixture; the offline import
reads what it wrote. A root rotation is published between the two runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from appliance.cli.main import main as appliance
from appliance.trust.state import StateStore
from bundle_tools.cli import main as bundle_tools
from tests.helpers.vectors import CONFORMANCE, ROOT_SIGNING, serve_root_signing

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.sigstore_stack import SigstoreStack
    from tests.helpers.tuf_repo import TufRepo

BOOTSTRAP_5 = ROOT_SIGNING / "metadata" / "root_history" / "5.root.json"


def _served_root_signing(tmp_path: Path) -> Path:
    return serve_root_signing(tmp_path / "served")


def test_real_snapshot_is_refused_without_an_allowance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = appliance(
        [
            "trust",
            "import",
            str(_served_root_signing(tmp_path)),
            "--bootstrap-root",
            str(BOOTSTRAP_5),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "timestamp expired 2026-08-28T19:25:56Z" in err
    assert "--trust-max-age" in err


def test_real_snapshot_imports_with_an_allowance_and_becomes_current(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = appliance(
        [
            "trust",
            "import",
            str(_served_root_signing(tmp_path)),
            "--bootstrap-root",
            str(BOOTSTRAP_5),
            "--trust-max-age",
            "3650d",
            "-o",
            "json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["root_version"] == 15
    assert report["roles"]["timestamp"] == {
        "version": 762,
        "expires": "2026-08-28T19:25:56Z",
    }
    assert (
        report["trusted_root_sha256"]
        == "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"
    )
    assert report["expiry_allowance_used"] is True
    assert {a["role"] for a in report["expiry_allowances"]} >= {"timestamp"}

    assert appliance(["trust", "show", "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["imported"] is True
    assert shown["stale_since"] == "2026-08-28T19:25:56Z"

    # verify-blob now verifies against the imported root, and says so.
    happy = CONFORMANCE / "bundle-verify" / "happy-path-v0.3"
    beacon = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
    code = appliance(
        [
            "verify-blob",
            str(CONFORMANCE / "bundle-verify" / "a.txt"),
            "--bundle",
            str(happy / "bundle.sigstore.json"),
            "--certificate-identity",
            beacon,
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
            "-o",
            "json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["trust_root"]["source"].startswith("TUF root v15, imported")
    assert result["trust_root"]["stale_since"] == "2026-08-28T19:25:56Z"


def test_refusal_as_json_names_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = appliance(
        [
            "trust",
            "import",
            str(_served_root_signing(tmp_path)),
            "--bootstrap-root",
            str(BOOTSTRAP_5),
            "-o",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (doc["ok"], doc["reason"]) == (False, "trust-root-expired")
    assert "--trust-max-age" in doc["error"]


def test_show_before_any_import(capsys: pytest.CaptureFixture[str]) -> None:
    assert appliance(["trust", "show"]) == 0
    assert "embedded public-good" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["trust", "import", "/nonexistent"], "not a directory"),
        (["trust", "import", ".", "--trust-max-age", "forever"], "expected a duration"),
        (
            ["trust", "import", ".", "--bootstrap-root", "/nonexistent/root.json"],
            "cannot read bootstrap root",
        ),
        (["trust"], "usage"),
    ],
)
def test_trust_usage_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert appliance(argv) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.network
def test_online_refresh_then_offline_import_with_a_rotation_mid_way(
    tuf_repo: TufRepo,
    sigstore_stack: SigstoreStack,
    tmp_path: Path,
    loopback: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del loopback
    root_file = tmp_path / "root.json"
    root_file.write_bytes(tuf_repo.initial_root())
    with tuf_repo.serve() as url:
        assert (
            bundle_tools(
                [
                    "trust",
                    "update",
                    "--tuf-url",
                    url,
                    "--root",
                    str(root_file),
                    "--out",
                    str(tmp_path / "capsule1"),
                ]
            )
            == 0
        )
        tuf_repo.rotate_root(keys=3, threshold=2, rotate_roles=("timestamp",))
        tuf_repo.publish()
        assert (
            bundle_tools(
                [
                    "trust",
                    "update",
                    "--tuf-url",
                    url,
                    "--root",
                    str(root_file),
                    "--out",
                    str(tmp_path / "capsule2"),
                ]
            )
            == 0
        )
    out = capsys.readouterr().out
    assert "roots v1-v2" in out
    capsule = tmp_path / "capsule2"
    assert sorted(p.name for p in capsule.iterdir()) == [
        "1.root.json",
        "1.targets.json",
        "2.root.json",
        "2.snapshot.json",
        "targets",
        "timestamp.json",
    ]

    assert (
        appliance(
            [
                "trust",
                "import",
                str(tmp_path / "capsule1"),
                "--bootstrap-root",
                str(root_file),
                "-o",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["root_version"] == 1
    assert (
        appliance(["trust", "import", str(capsule), "-o", "json"]) == 0
    )  # continues from the stored root
    report = json.loads(capsys.readouterr().out)
    assert report["root_version"] == 2
    assert report["bootstrap"] == "stored root v1"
    assert (
        report["trusted_root_sha256"]
        == hashlib.sha256(sigstore_stack.trusted_root_json()).hexdigest()
    )
    # The older capsule's timestamp is signed by the key root v2 rotated out.
    assert appliance(["trust", "import", str(tmp_path / "capsule1")]) == 1
    assert "not signed by 1 of the timestamp keys" in capsys.readouterr().err


@pytest.mark.network
def test_online_refresh_refuses_a_tampered_repository(
    tuf_repo: TufRepo,
    tmp_path: Path,
    loopback: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del loopback
    root_file = tmp_path / "root.json"
    root_file.write_bytes(tuf_repo.initial_root())
    tuf_repo.corrupt_target("trusted_root.json")
    with tuf_repo.serve() as url:
        code = bundle_tools(
            [
                "trust",
                "update",
                "--tuf-url",
                url,
                "--root",
                str(root_file),
                "--out",
                str(tmp_path / "capsule"),
            ]
        )
    assert code == 1
    assert not (tmp_path / "capsule").exists()
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["trust", "update", "--tuf-url", "http://127.0.0.1:9", "--out", "x"],
            "--tuf-url needs --root",
        ),
        (
            [
                "trust",
                "update",
                "--root",
                "/nonexistent",
                "--tuf-url",
                "http://127.0.0.1:9",
                "--out",
                "x",
            ],
            "cannot read root",
        ),
        (["trust", "update", "--out", "."], "already exists"),
        (
            ["trust", "update", "--out", "/nonexistent/dir/capsule"],
            "its directory does not exist",
        ),
        (["trust", "update"], "--out"),
    ],
)
def test_update_usage_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bundle_tools(argv) == 2
    assert needle in capsys.readouterr().err


# -- trust held is never replaced by a flag (hardening) -------------------------


def test_a_bootstrap_root_that_does_not_chain_from_the_state_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sigstore_stack: SigstoreStack
) -> None:
    """The review: with public-good v15 held, an unrelated self-signed
    repository's root as --bootstrap-root replaced the trust."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from tests.helpers.tuf_repo import TufRepo  # noqa: PLC0415

    served = _served_root_signing(tmp_path)
    held = ["trust", "import", str(served), "--trust-max-age", "3650d"]
    assert appliance([*held, "--bootstrap-root", str(BOOTSTRAP_5)]) == 0
    before = json.loads(
        (tmp_path / "appliance-state" / "trust" / "state.json").read_text()
    )
    capsys.readouterr()

    other = TufRepo(now=datetime.now(UTC))
    other.add_target("trusted_root.json", sigstore_stack.trusted_root_json())
    for _ in range(19):  # the review used a repository at root v20
        other.rotate_root(keys=1, threshold=1)
    other.publish()
    other_dir = other.write_to(tmp_path / "other")
    for bootstrap in ("1.root.json", "20.root.json"):
        code = appliance(
            [
                "trust",
                "import",
                str(other_dir),
                "--bootstrap-root",
                str(other_dir / bootstrap),
                "-o",
                "json",
            ]
        )
        out, err = capsys.readouterr()
        assert code == 1, err
        assert "does not chain from the stored trust (root v15)" in err
        assert json.loads(out)["reason"] in {"trust-root-invalid", "threshold-not-met"}
    after = json.loads(
        (tmp_path / "appliance-state" / "trust" / "state.json").read_text()
    )
    assert after == before

    # A root on the held chain (older or current) is accepted as a bootstrap.
    for version in (5, 15):
        root = ROOT_SIGNING / "metadata" / "root_history" / f"{version}.root.json"
        assert appliance([*held, "--bootstrap-root", str(root)]) == 0, (
            capsys.readouterr().err
        )


@pytest.mark.parametrize(
    "value", ["99999999999999999999d", "3651d", "1000000w", "-1d", "1.5d", "30", "d"]
)
def test_an_absurd_allowance_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code = appliance(
        ["trust", "import", str(tmp_path), "--trust-max-age", value, "-o", "json"]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert json.loads(out)["reason"] == "usage"
    assert "internal error" not in err


# Widens the race: each import replays its source, then waits before it
# commits, the newest the shortest, so that without the state lock around
# read-replay-commit the oldest would commit last (a rollback of the state).
_SLOW_REPLAY = """
import sys, time
from appliance import _seal
_seal.install()
from appliance.trust import replay
real = replay.replay
def slow(*args, **kwargs):
    result = real(*args, **kwargs)
    time.sleep(float(sys.argv[1]))
    return result
replay.replay = slow
from appliance.cli.main import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_concurrent_imports_are_serialised_by_the_state_lock(
    tuf_repo: TufRepo, tmp_path: Path
) -> None:
    """Six imports at once: the newest wins, the state re-hashes, nothing is orphaned."""
    versions = [1, 2, 3, 4, 5, 5]  # timestamp versions; the newest twice
    sources = {1: tuf_repo.write_to(tmp_path / "v1")}
    for version in range(2, 6):
        tuf_repo.publish()
        sources[version] = tuf_repo.write_to(tmp_path / f"v{version}")
    bootstrap = tmp_path / "1.root.json"
    bootstrap.write_bytes(tuf_repo.initial_root())

    def start(version: int) -> subprocess.Popen[str]:
        argv = ["trust", "import", str(sources[version]), "--bootstrap-root", str(bootstrap), "-o", "json"]  # fmt: skip
        return subprocess.Popen(
            [sys.executable, "-c", _SLOW_REPLAY, str(0.3 * (5 - version)), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )

    runs = [start(version) for version in versions]
    outcomes = []
    for version, run in zip(versions, runs, strict=True):
        out, err = run.communicate(timeout=120)
        assert "Traceback" not in err
        report = json.loads(out)
        outcomes.append((version, run.returncode))
        if run.returncode == 0:
            assert report["roles"]["timestamp"]["version"] == version
        else:  # refused cleanly: an older source than what another committed
            assert (run.returncode, report["reason"]) == (1, "rollback"), err
            assert len(err.strip().splitlines()) == 1
    assert (5, 0) in outcomes
    state = StateStore(tmp_path / "appliance-state").load()
    assert state is not None
    assert state.roles["timestamp"].version == 5
    for name in state.files:
        state.read(name)  # re-hashed against state.json, or refused
    trust = tmp_path / "appliance-state" / "trust"
    assert sorted(p.name for p in trust.iterdir()) == sorted(
        [".lock", "state.json", state.directory.name]
    )
    assert appliance(["audit", "verify"]) == 0
