"""The trust travels with the images: ``load`` and ``extract`` write the verified trusted roots.

Read back with skopeo (an independent client) from the in-gap docker-registry
and from the extracted layout: the layers are byte for byte the trusted roots
the appliance holds and verified, under the documented name
``[PREFIX/]airlock/trust:trusted-roots`` (docs/handoff.md §2).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from appliance.core import trust_artifact
from appliance.trust import held
from tests.helpers import registry as registry_mod
from tests.helpers.exported import KEYLESS, Exported, runner

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.helpers.exported import Outcome
    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry
TITLE = "org.opencontainers.image.title"


def _held() -> dict[str, bytes]:
    state = Path(os.environ["APPLIANCE_STATE_DIR"])
    return {
        r.target_name: r.data for r in held.held_roots(state, now=datetime.now(UTC))
    }


def _args(exported: Exported, *names: str) -> list[str]:
    images = [a for n in names for a in ("--image", exported.ref(n))]
    return ["--trusted-root", str(exported.root), *KEYLESS, *images]


def _files(layout: Path, tag: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The artifact's manifest and its layers by title, read from an OCI layout."""
    index = json.loads((layout / "index.json").read_text())
    (entry,) = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    blob = layout / "blobs" / "sha256"
    manifest = json.loads((blob / entry["digest"].removeprefix("sha256:")).read_bytes())
    files = {
        layer["annotations"][TITLE]: (
            blob / layer["digest"].removeprefix("sha256:")
        ).read_bytes()
        for layer in manifest["layers"]
    }
    return manifest, files


@pytest.fixture
def load(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    return runner(capsys, "load")


def test_load_writes_the_trusted_roots_beside_the_images(
    exported: Exported, gap: Registry, load: Callable[..., Outcome], tmp_path: Path
) -> None:
    out = load(
        exported.archive,
        "--to",
        f"{gap.address}/mirror",
        "--allow-http-registry",
        *_args(exported, "app"),
    )
    assert out.code == 0, out.err
    trust = out.report["load"]["pushed"]["trust"]
    assert trust["repository"] == "mirror/airlock/trust"
    assert trust["tag"] == "trusted-roots"
    copied = tmp_path / "copied"
    gap.pull_layout("mirror/airlock/trust:trusted-roots", copied, "x")
    manifest, files = _files(copied, "x")
    assert files == _held()  # byte for byte what the appliance holds and verified
    assert manifest["artifactType"] == trust_artifact.ARTIFACT_TYPE
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    }
    assert (
        trust["digest"]
        == gap.get_manifest("mirror/airlock/trust", "trusted-roots").digest
    )
    audit = Path(os.environ["APPLIANCE_STATE_DIR"]) / "audit.jsonl"
    line = json.loads(audit.read_text().splitlines()[-1])
    assert line["pushed"]["trust"]["digest"] == trust["digest"]


def test_a_second_load_writes_the_same_artifact(
    exported: Exported, gap: Registry, load: Callable[..., Outcome]
) -> None:
    args = ["--to", gap.address, "--allow-http-registry", *_args(exported, "app")]
    first = load(exported.archive, *args)
    second = load(exported.archive, *args)
    assert first.code == second.code == 0, second.err
    assert (
        first.report["load"]["pushed"]["trust"]["digest"]
        == second.report["load"]["pushed"]["trust"]["digest"]
    )
    assert second.report["load"]["pushed"]["trust"]["repository"] == "airlock/trust"


def test_nothing_verified_writes_no_trust_either(
    exported: Exported, gap: Registry, load: Callable[..., Outcome]
) -> None:
    out = load(
        exported.archive,
        "--to",
        gap.address,
        "--allow-http-registry",
        *_args(exported, "rogue"),
    )
    assert out.code == 1
    with pytest.raises(registry_mod.RegistryError):
        gap.get_manifest("airlock/trust", "trusted-roots")


def test_a_dry_run_writes_no_trust(
    exported: Exported, gap: Registry, load: Callable[..., Outcome]
) -> None:
    out = load(
        exported.archive,
        "--to",
        gap.address,
        "--allow-http-registry",
        "--dry-run",
        *_args(exported, "app"),
    )
    assert out.code == 0, out.err
    with pytest.raises(registry_mod.RegistryError):
        gap.get_manifest("airlock/trust", "trusted-roots")


def test_extract_keeps_the_trust_in_the_layout(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extract = runner(capsys, "extract")
    target = tmp_path / "verified"
    out = extract(exported.archive, "--to", str(target), *_args(exported, "app"))
    assert out.code == 0, out.err
    index = json.loads((target / "index.json").read_text())
    kinds = {
        m["annotations"].get("org.opencontainers.image.ref.name"): m["annotations"][
            "dev.airlock.kind"
        ]
        for m in index["manifests"]
    }
    assert kinds["airlock/trust:trusted-roots"] == "trust"
    # An independent reader copies it out by its name, byte for byte.
    copied = tmp_path / "copied"
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--preserve-digests",
         f"oci:{target}:airlock/trust:trusted-roots", f"oci:{copied}:x"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    _, files = _files(copied, "x")
    assert files == _held()


def test_extract_with_nothing_verified_writes_nothing(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extract = runner(capsys, "extract")
    target = tmp_path / "verified"
    out = extract(exported.archive, "--to", str(target), *_args(exported, "rogue"))
    assert out.code == 1
    assert not target.exists()


def _pem(path: Path) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _repository_files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def test_trust_publish_to_pushes_the_repository_byte_for_byte(
    gap: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli.main import main  # noqa: PLC0415

    repo = tmp_path / "tuf"
    code = main(["trust", "publish", "--out", str(repo), "--root-key", _pem(tmp_path / "r.pem"),
                 "--to", f"{gap.address}/mirror", "--allow-http-registry", "-o", "json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    pushed = json.loads(out)["pushed"]
    assert (pushed["repository"], pushed["tag"]) == (
        "mirror/airlock/trust",
        "tuf-repository",
    )
    copied = tmp_path / "copied"
    gap.pull_layout("mirror/airlock/trust:tuf-repository", copied, "x")
    manifest, files = _files(copied, "x")
    assert manifest["artifactType"] == trust_artifact.TUF_ARTIFACT_TYPE
    assert files == _repository_files(repo)
    assert set(files) >= {
        "root.json",
        "1.root.json",
        "timestamp.json",
        "1.snapshot.json",
        "1.targets.json",
    }


def test_trust_publish_to_a_bad_registry_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli.main import main  # noqa: PLC0415

    repo = tmp_path / "tuf"
    code = main(["trust", "publish", "--out", str(repo), "--root-key", _pem(tmp_path / "r.pem"),
                 "--to", "not a registry"])  # fmt: skip
    assert code == 2
    assert "--to" in capsys.readouterr().err
    assert not repo.exists()


def test_load_carries_the_published_repository_too(
    exported: Exported,
    gap: Registry,
    load: Callable[..., Outcome],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from appliance.cli.main import main  # noqa: PLC0415

    args = ["--to", gap.address, "--allow-http-registry", *_args(exported, "app")]
    before = load(exported.archive, *args)
    assert before.code == 0, before.err
    assert "tuf_repository" not in before.report["load"]["pushed"]["trust"]
    repo = tmp_path / "tuf"
    assert (
        main(
            [
                "trust",
                "publish",
                "--out",
                str(repo),
                "--root-key",
                _pem(tmp_path / "r.pem"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    after = load(exported.archive, *args)
    assert after.code == 0, after.err
    carried = after.report["load"]["pushed"]["trust"]["tuf_repository"]
    assert carried["repository"] == "airlock/trust"
    copied = tmp_path / "copied"
    gap.pull_layout("airlock/trust:tuf-repository", copied, "x")
    _, files = _files(copied, "x")
    assert files == _repository_files(repo)
