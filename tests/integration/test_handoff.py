"""``appliance handoff`` end to end: the files, the audit line, and podman's own parser.

Debian's podman is built without sigstore verification, so podman cannot
check a signature here; what it can do is parse the policy with
containers/image's strict parser (unknown keys refused) and then apply it: a
local image is rejected by the policy's ``default: reject``, which proves the
file parsed, where a broken file fails as "invalid policy".
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main
from appliance.core import keys

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture
def pub(tmp_path: Path) -> Path:
    path = tmp_path / "release.pub"
    path.write_bytes(
        keys.spki_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    return path


def _audit() -> list[dict[str, object]]:
    path = Path(os.environ["APPLIANCE_STATE_DIR"]) / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_format_is_written_and_audited(
    tmp_path: Path, pub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("policy-controller", "kyverno", "containers-policy"):
        out = tmp_path / f"{fmt}.out"
        code = main(["handoff", "--countersign-key", str(pub), "--registry",
                     "registry.gap:5000/mirror", "--format", fmt, "-o", str(out)])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        assert out.stat().st_size > 0
    assert (tmp_path / "containers-policy.registries.d.yaml").is_file()
    said = capsys.readouterr().out
    assert "under registry.gap:5000/mirror" in said
    lines = _audit()
    assert [(x["command"], x["format"], x["exit_code"]) for x in lines] == [
        ("handoff", "policy-controller", 0),
        ("handoff", "kyverno", 0),
        ("handoff", "containers-policy", 0),
    ]


def test_policy_controller_with_the_published_repository(
    tmp_path: Path, pub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root.json"
    root.write_text('{"signed": {}}')
    out = tmp_path / "cip.yaml"
    assert main(["handoff", "--countersign-key", str(pub), "--registry", "registry.gap:5000",
                 "--format", "policy-controller", "-o", str(out), "--tuf-mirror",
                 "http://tuf.gap:8080", "--tuf-root", str(root)]) == 0  # fmt: skip
    kinds = [d["kind"] for d in yaml.safe_load_all(out.read_text())]
    assert kinds == ["ClusterImagePolicy", "TrustRoot"]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--registry", "no-host"], "name the registry host"),
        (["--registry", "r.gap:5000", "--tuf-mirror", "http://x"], "give both --tuf-mirror and --tuf-root"),
        (["--registry", "r.gap:5000", "--tuf-mirror", "ftp://x", "--tuf-root", "{root}"], "http:// or https://"),
        (["--registry", "r.gap:5000", "--format", "kyverno", "--tuf-mirror", "http://x", "--tuf-root", "{root}"],
         "only the policy-controller format"),
    ],
)  # fmt: skip
def test_bad_flags_are_one_line_and_exit_2(
    tmp_path: Path,
    pub: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    said: str,
) -> None:
    root = tmp_path / "root.json"
    root.write_text("{}")
    argv = ["handoff", "--countersign-key", str(pub), "-o", str(tmp_path / "x")]
    if "--format" not in args:
        argv += ["--format", "policy-controller"]
    argv += [a.replace("{root}", str(root)) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    assert _audit()[-1]["exit_code"] == 2


def test_a_private_key_is_not_a_countersign_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    private = tmp_path / "private.pem"
    private.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code = main(["handoff", "--countersign-key", str(private), "--registry", "r.gap:5000",
                 "--format", "kyverno", "-o", str(tmp_path / "x")])  # fmt: skip
    assert code == 2
    assert "x" not in {p.name for p in tmp_path.iterdir()}
    capsys.readouterr()


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    if shutil.which("podman") is None or shutil.which("umoci") is None:
        pytest.skip("podman (Debian `podman`) and umoci are needed")
    # podman refuses a run root longer than 50 characters: pytest's are longer.
    short = Path(tempfile.mkdtemp(prefix="pm-", dir="/tmp"))
    layout = tmp_path / "local"
    subprocess.run(["umoci", "init", "--layout", str(layout)], check=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:x"], check=True)
    env = {**os.environ, "HOME": str(tmp_path / "home")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", "--root", str(short / "store"), "--runroot", str(short / "run"),
             "--storage-driver", "vfs", *args],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip

    run.layout = layout  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        shutil.rmtree(short, ignore_errors=True)


def test_podman_parses_the_containers_policy_and_applies_it(
    tmp_path: Path,
    pub: Path,
    podman: Callable[..., subprocess.CompletedProcess[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = tmp_path / "policy.json"
    assert main(["handoff", "--countersign-key", str(pub), "--registry", "registry.gap:5000/mirror",
                 "--format", "containers-policy", "-o", str(policy)]) == 0  # fmt: skip
    capsys.readouterr()
    layout = podman.layout  # type: ignore[attr-defined]
    pulled = podman("pull", "--signature-policy", str(policy), f"oci:{layout}:x")
    assert pulled.returncode != 0
    assert "rejected by policy" in pulled.stderr  # parsed, then applied: default reject
    assert "invalid policy" not in pulled.stderr
    registries = tmp_path / "registries.d"
    registries.mkdir()
    shutil.copy(tmp_path / "policy.registries.d.yaml", registries)
    shown = podman("image", "trust", "show", "--json", "--policypath", str(policy),
                   "--registrypath", str(registries))  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    listed = {(e["name"], e["type"]) for e in json.loads(shown.stdout)}
    assert ("registry.gap:5000/mirror", "sigstoreSigned") in listed
    assert ("* (default)", "reject") in listed


def test_podman_refuses_a_broken_policy_file(
    tmp_path: Path,
    pub: Path,
    podman: Callable[..., subprocess.CompletedProcess[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The parser the test relies on is strict: the same file with one misspelt key is refused."""
    policy = tmp_path / "policy.json"
    assert main(["handoff", "--countersign-key", str(pub), "--registry", "registry.gap:5000/mirror",
                 "--format", "containers-policy", "-o", str(policy)]) == 0  # fmt: skip
    capsys.readouterr()
    doc = json.loads(policy.read_text())
    (requirement,) = doc["transports"]["docker"]["registry.gap:5000/mirror"]
    requirement["keyDatta"] = requirement.pop("keyData")
    policy.write_text(json.dumps(doc))
    pulled = podman("pull", "--signature-policy", str(policy), f"oci:{podman.layout}:x")  # type: ignore[attr-defined]
    assert pulled.returncode != 0
    assert "invalid policy" in pulled.stderr
    assert base64.b64decode(requirement["keyDatta"]) == pub.read_bytes()
