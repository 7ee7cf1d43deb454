"""``bundle-tools export`` refusing bad input: one line, exit 2, nothing under the output name.

Unknown image or tag, wrong or missing credentials (a registry behind
htpasswd), a registry that is down, one that serves a blob whose bytes are not
its digest (corrupted on the registry's disk), a manifest over the cap, a full
disk, and interruptions (SIGTERM, SIGKILL) from which the next run resumes.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from airlock_registry import client as oci_client
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard, publish
from tests.helpers import registry as registry_mod
from tests.helpers.listings import record_listings
from tests.helpers.small_fs import small_fs

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry
USER, PASSWORD = "alice", "s3cret-Registry"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(oci_client, "RetryPolicy", _Quick)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


class _Quick(oci_client.RetryPolicy):
    def __init__(self) -> None:
        super().__init__(attempts=3, backoff_seconds=(0.01,), max_wait_seconds=0.05)


def _run(capsys: pytest.CaptureFixture[str], out: Path, *argv: str) -> tuple[int, str]:
    code = bundle_tools(
        [
            "export",
            *argv,
            "--out",
            str(out),
            "--no-trust",
            "--cache",
            str(out.parent / "cache"),
            "-o",
            "json",
        ]
    )
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "internal error" not in captured.err
    return code, captured.err.strip().splitlines()[-1] if captured.err.strip() else ""


def _nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.parametrize("what", ["repository", "tag"])
def test_unknown_image_or_tag(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    known = publish.image(registry, "failures/known", "v1")
    ref = (
        f"{registry.address}/failures/absent:v1"
        if what == "repository"
        else f"{known.name}:nope"
    )
    out = tmp_path / "t.tar.zst"
    code, line = _run(capsys, out, ref, "--allow-http-registry", registry.address)
    assert code == 2
    assert line == f"bundle-tools: {ref}: no such image or tag in the registry"
    _nothing_written(out)


@pytest.fixture(scope="module")
def locked_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = registry_mod.start(
        tmp_path_factory.mktemp("locked"), credentials=(USER, PASSWORD)
    )
    try:
        with netguard.loopback():
            publish.image(server, "private/app", "v1")
        yield server
    finally:
        server.stop()


def _docker_config(tmp_path: Path, host: str, password: str) -> None:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir(exist_ok=True)
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    config.write_text(json.dumps({"auths": {host: {"auth": token}}}))


@pytest.mark.parametrize("password", [None, "wrong"], ids=["none", "wrong"])
def test_wrong_or_missing_credentials(
    locked_registry: Registry,
    loopback: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    password: str | None,
) -> None:
    if password is not None:
        _docker_config(tmp_path, locked_registry.address, password)
    out = tmp_path / "t.tar.zst"
    code, line = _run(
        capsys,
        out,
        f"{locked_registry.address}/private/app:v1",
        "--allow-http-registry",
        locked_registry.address,
    )
    assert code == 2
    assert "credentials" in line
    assert PASSWORD not in line
    _nothing_written(out)


def test_credentials_from_docker_config(
    locked_registry: Registry,
    loopback: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _docker_config(tmp_path, locked_registry.address, PASSWORD)
    out = tmp_path / "t.tar.zst"
    code, _ = _run(
        capsys,
        out,
        f"{locked_registry.address}/private/app:v1",
        "--allow-http-registry",
        locked_registry.address,
    )
    assert code == 0
    assert out.exists()


def test_registry_down(
    loopback: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = netguard.free_port()  # nothing listens here
    out = tmp_path / "t.tar.zst"
    code, line = _run(
        capsys,
        out,
        f"127.0.0.1:{port}/x/y:v1",
        "--allow-http-registry",
        f"127.0.0.1:{port}",
    )
    assert code == 2
    assert (
        line
        == f"bundle-tools: registry 127.0.0.1:{port}: cannot reach 127.0.0.1:{port} for the API root /v2/ (ConnectionError) (after 3 attempts)"
    )
    _nothing_written(out)


def test_https_is_the_default(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.tar.zst"
    code, line = _run(capsys, out, f"{registry.address}/failures/known:v1")
    assert code == 2
    assert "--allow-http-registry" in line


def test_a_blob_corrupted_on_the_registry_is_refused(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = publish.image(registry, "failures/corrupt", "v1", layer_bytes=300_000)
    stored = registry.blob_path(image.layers[0])
    data = bytearray(stored.read_bytes())
    data[1000] ^= 0xFF
    stored.write_bytes(bytes(data))
    out = tmp_path / "t.tar.zst"
    code, line = _run(
        capsys, out, image.reference, "--allow-http-registry", registry.address
    )
    assert code == 2
    assert f"blob {image.layers[0]} of failures/corrupt" in line
    assert "not the blob its descriptor names" in line
    _nothing_written(out)
    # Nothing bad was kept in the cache either.
    cached = (
        tmp_path
        / "cache"
        / "blobs"
        / "sha256"
        / image.layers[0].removeprefix("sha256:")
    )
    assert not cached.exists()


@pytest.mark.parametrize("bad", [0, 2, 5])
@pytest.mark.parametrize("jobs", ["1", "4"])
def test_one_corrupt_layer_among_many_is_the_failure_named(
    registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: int,
    jobs: str,
) -> None:
    """The packer follows the transfers: whichever layer is bad, it is the one named, nothing is written."""
    image = publish.image(
        registry, f"failures/among-{bad}-{jobs}", "v1", layer_bytes=200_000, layers=6
    )
    stored = registry.blob_path(image.layers[bad])
    data = bytearray(stored.read_bytes())
    data[-10] ^= 0x01
    stored.write_bytes(bytes(data))
    out = tmp_path / "t.tar.zst"
    code, line = _run(
        capsys,
        out,
        image.reference,
        "--allow-http-registry",
        registry.address,
        "--jobs",
        jobs,
    )
    assert code == 2
    assert f"blob {image.layers[bad]} of failures/among-{bad}-{jobs}" in line
    assert "not the blob its descriptor names" in line
    _nothing_written(out)
    cache = tmp_path / "cache" / "blobs" / "sha256"
    assert not (cache / image.layers[bad].removeprefix("sha256:")).exists()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]


def test_a_manifest_over_the_cap(
    registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = publish.image(registry, "failures/big", "v1")
    monkeypatch.setattr(oci_client, "MAX_MANIFEST_BYTES", 200)
    out = tmp_path / "t.tar.zst"
    code, line = _run(
        capsys, out, image.reference, "--allow-http-registry", registry.address
    )
    assert code == 2
    assert "over the 200-byte limit" in line
    _nothing_written(out)


_DRIVER = """
import os, resource, signal, sys
from airlock_registry import client as oci
{setup}
from bundle_tools.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _subprocess(
    tmp_path: Path, setup: str, *argv: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_DRIVER.format(setup=textwrap.dedent(setup))),
            "export",
            *argv,
            "--no-trust",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker")},
        check=False,
    )


def test_a_full_disk(registry: Registry, tmp_path: Path) -> None:
    """The archive cannot be written whole: a clean refusal, nothing left."""
    image = publish.image(registry, "failures/disk", "v1", layer_bytes=2 * 1024 * 1024)
    out = tmp_path / "t.tar.zst"
    cache = tmp_path / "cache"
    # A file-size cap stands for a full disk: every write past 1 MiB fails.
    setup = """
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))
    """
    done = _subprocess(
        tmp_path,
        setup,
        image.reference,
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--allow-http-registry",
        registry.address,
    )
    assert done.returncode == 2, done.stderr
    assert "File too large" in done.stderr.splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["reason"] == "input-unreadable"
    _nothing_written(out)
    assert not list(cache.rglob("*.tmp"))


def test_a_full_tmpfs(registry: Registry, tmp_path: Path) -> None:
    """The same on a real full file system (a 1 MiB tmpfs), where we may mount one."""
    with small_fs(tmp_path / "small", "1m") as mount:
        image = publish.image(
            registry, "failures/tmpfs", "v1", layer_bytes=2 * 1024 * 1024
        )
        out = mount / "t.tar.zst"
        done = _subprocess(
            tmp_path,
            "",
            image.reference,
            "--out",
            str(out),
            "--cache",
            str(mount / "cache"),
            "--allow-http-registry",
            registry.address,
        )
        assert done.returncode == 2, done.stderr
        assert "no space left on device" in done.stderr.splitlines()[-1]
        assert not out.exists()
        assert not list(mount.rglob("*.tmp"))


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_an_interrupted_export_leaves_nothing_and_resumes(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], sig: str
) -> None:
    image = publish.image(
        registry,
        f"failures/interrupt-{sig.lower()}",
        "v1",
        layer_bytes=256 * 1024,
        layers=4,
    )
    out = tmp_path / "t.tar.zst"
    cache = tmp_path / "cache"
    # The process signals itself after its second blob arrived whole.
    setup = f"""
    real = oci.RegistryClient.blob
    arrived = []
    def blob(self, *args, **kwargs):
        real(self, *args, **kwargs)
        arrived.append(1)
        if len(arrived) == 2:
            os.kill(os.getpid(), signal.{sig})
    oci.RegistryClient.blob = blob
    """
    argv = [
        image.reference,
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--allow-http-registry",
        registry.address,
        "--jobs",
        "1",
    ]
    done = _subprocess(tmp_path, setup, *argv)
    if sig == "SIGTERM":
        assert done.returncode == 1, done.stderr
        assert "interrupted (SIGTERM)" in done.stderr
    else:
        assert done.returncode == -signal.SIGKILL
    assert not out.exists()
    cached = sorted(
        p.name
        for p in (cache / "blobs" / "sha256").iterdir()
        if not p.name.startswith(".")
    )
    assert len(cached) >= 2
    # The next run resumes: what arrived whole is not fetched again.
    code = bundle_tools(["export", *argv, "--no-trust", "-o", "json"])
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    total = 1 + 4  # the config, four layers (the manifest is fetched by tag)
    assert summary["fetched"] == total - len([c for c in cached if c])
    # The progress line counts what was fetched, not what the cache held.
    (line,) = (x for x in captured.err.splitlines() if "blob(s), " in x)
    assert line.startswith(f"bundle-tools: fetched {summary['fetched']} blob(s), ")
    assert line.endswith(f"; {total - summary['fetched']} already in the cache")
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_blob_killed_in_flight_is_swept_by_the_next_export(
    registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = publish.image(
        registry, "failures/in-flight", "v1", layer_bytes=64 * 1024, layers=3
    )
    out = tmp_path / "t.tar.zst"
    cache = tmp_path / "cache"
    # SIGKILL once a blob's bytes are whole under its temporary name, before
    # the rename: no clean-up runs, the temporary stays.
    setup = """
    real = oci.RegistryClient._stream_to
    def stream_to(self, temp, *args, **kwargs):
        found = real(self, temp, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return found
    oci.RegistryClient._stream_to = stream_to
    """
    argv = [
        image.reference, "--out", str(out), "--cache", str(cache),
        "--allow-http-registry", registry.address, "--jobs", "1",
    ]  # fmt: skip
    done = _subprocess(tmp_path, setup, *argv)
    assert done.returncode == -signal.SIGKILL, done.stderr
    blobs = cache / "blobs" / "sha256"
    (left,) = (p for p in blobs.iterdir() if p.name.endswith(".tmp"))
    assert left.name.startswith(".")
    assert ".airlock-" in left.name
    # The next export lists the cache once for all its blobs, and takes the
    # dead run's temporary before it fetches that blob again.
    listed = record_listings(monkeypatch)
    code = bundle_tools(["export", *argv, "--no-trust", "-o", "json"])
    monkeypatch.undo()
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["fetched"] == 1 + 3
    assert listed.count(os.fspath(blobs)) == 1
    assert not list(tmp_path.rglob(".*.tmp"))
