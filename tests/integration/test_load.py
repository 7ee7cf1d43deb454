"""``appliance load`` and ``appliance extract``: only verified images leave the archive.

The shared exported world (tests/helpers/exported.py) is loaded into a second
docker-registry, the "in-gap" one, and read back with skopeo and raw HTTP:
every digest as upstream, signatures and referrers under the same tags, and
nothing of a refused image, blobs included. The registry going down in the
middle (a proxy cuts every connection), the seal refusing any other host,
and an archive changed between the two passes are driven for real.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from airlock_io.archive import read_archive
from airlock_registry.client import RegistryClient
from appliance.cli.main import main as appliance
from appliance.core.archive.gate import verified_view
from appliance.core.archive.plan import Target, plan_push
from appliance.core.archive.verify import verify_archive
from appliance.core.errors import VerificationError
from appliance.core.policyfile import PolicySpec
from appliance.load.push import Pusher
from appliance.trust import roots
from tests.helpers import netguard
from tests.helpers import registry as registry_mod
from tests.helpers.archives import extract as unpack
from tests.helpers.exported import KEYLESS, Exported, runner
from tests.helpers.proxy import Proxy

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.helpers.exported import Outcome
    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry


@pytest.fixture
def load(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    return runner(capsys, "load")


def _load_args(exported: Exported, to: str, *names: str) -> list[str]:
    images = [a for n in names for a in ("--image", exported.ref(n))]
    return [
        "--to",
        to,
        "--allow-http-registry",
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
        *images,
    ]


def _digest(registry: Registry, repo: str, ref: str) -> str | None:
    try:
        return registry.get_manifest(repo, ref).digest
    except registry_mod.RegistryError:
        return None


def _has_blob(registry: Registry, repo: str, digest: str) -> bool:
    status, _, _ = registry.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    return status == 200


def _sig_tag(digest: str, suffix: str = "sig") -> str:
    return f"sha256-{digest.removeprefix('sha256:')}.{suffix}"


def test_verified_images_arrive_byte_for_byte_and_refused_ones_not_at_all(
    exported: Exported, gap: Registry, load: Callable[..., Outcome]
) -> None:
    out = load(
        exported.archive,
        *_load_args(exported, f"{gap.address}/mirror", "app", "multi", "rogue"),
    )
    assert out.code == 1, out.err  # rogue is refused, so not every image made it
    world, upstream = exported.world, exported.world.registry
    app_repo, multi_repo, rogue_repo = (
        "mirror/verify/app",
        "mirror/verify/multi",
        "mirror/verify/rogue",
    )
    # The images, under their tags, with the digests they had upstream.
    assert _digest(gap, app_repo, "v1") == world.app.digest
    assert _digest(gap, multi_repo, "v2") == world.multi.digest
    for platform in world.multi.platforms.values():
        assert _digest(gap, multi_repo, platform) == platform
    # cosign's tags, byte for byte as upstream.
    for suffix in ("sig", "att"):
        tag = _sig_tag(world.app.digest, suffix)
        assert _digest(gap, app_repo, tag) == _digest(upstream, world.app.repo, tag)
    # The .sbom attachment stays behind: nothing signed ties it to the image.
    sbom = _digest(upstream, world.app.repo, _sig_tag(world.app.digest, "sbom"))
    assert _digest(gap, app_repo, _sig_tag(world.app.digest, "sbom")) is None
    assert sbom in {m["manifest"] for m in out.report["load"]["plan"]["left_behind"]}
    # The attestation's own signature followed it.
    attestation = _digest(upstream, world.app.repo, _sig_tag(world.app.digest, "att"))
    assert attestation is not None
    assert _digest(gap, app_repo, _sig_tag(attestation)) == _digest(
        upstream, world.app.repo, _sig_tag(attestation)
    )
    # Referrers: docker-registry has no API, so the fallback index lists them.
    index = json.loads(
        gap.get_manifest(
            multi_repo, "sha256-" + world.multi.digest.removeprefix("sha256:")
        ).body
    )
    upstream_index = json.loads(
        upstream.get_manifest(
            world.multi.repo, "sha256-" + world.multi.digest.removeprefix("sha256:")
        ).body
    )
    assert {m["digest"] for m in index["manifests"]} == {
        m["digest"] for m in upstream_index["manifests"]
    }
    # Nothing of the refused image: no manifest, no blob.
    assert _digest(gap, rogue_repo, "v1") is None
    assert not any(
        _has_blob(gap, rogue_repo, layer) for layer in exported.world.rogue.layers
    )
    assert not (
        gap.workdir
        / "storage"
        / "docker"
        / "registry"
        / "v2"
        / "repositories"
        / "mirror"
        / "verify"
        / "rogue"
    ).exists()
    load_report = out.report["load"]
    assert load_report["plan"]["refused"] == [exported.ref("rogue")]
    assert load_report["pushed"]["manifests"] == len(load_report["plan"]["manifests"])
    assert out.report["audit"]["line"] == 1


def test_skopeo_reads_back_what_was_loaded(
    exported: Exported, gap: Registry, load: Callable[..., Outcome], tmp_path: Path
) -> None:
    assert (
        load(exported.archive, *_load_args(exported, gap.address, "app", "multi")).code
        == 0
    )
    for repo_tag, digest in (
        ("verify/app:v1", exported.world.app.digest),
        ("verify/multi:v2", exported.world.multi.digest),
    ):
        layout = tmp_path / repo_tag.replace("/", "_").replace(":", "_")
        gap.pull_layout(repo_tag, layout, "x")
        index = json.loads((layout / "index.json").read_text())
        assert [m["digest"] for m in index["manifests"]] == [digest]


def test_a_second_load_sends_nothing_again(
    exported: Exported, gap: Registry, load: Callable[..., Outcome]
) -> None:
    first = load(exported.archive, *_load_args(exported, gap.address, "app"))
    assert first.code == 0, first.err
    assert first.report["load"]["pushed"]["blobs_sent"] > 0
    second = load(exported.archive, *_load_args(exported, gap.address, "app"))
    assert second.code == 0
    pushed = second.report["load"]["pushed"]
    assert pushed["blobs_sent"] == 0
    assert pushed["bytes_sent"] == 0
    assert pushed["blobs_already_held"] == first.report["load"]["pushed"]["blobs_sent"]


def test_dry_run_prints_the_plan_and_opens_no_socket(
    exported: Exported, load: Callable[..., Outcome]
) -> None:
    # No loopback permit here: the test guard refuses any socket at all.
    out = load(
        exported.archive,
        *_load_args(exported, "127.0.0.1:1", "app", "rogue"),
        "--dry-run",
    )
    assert out.code == 1  # rogue would not verify
    plan = out.report["load"]["plan"]
    assert [i["asked"] for i in plan["images"]] == [exported.ref("app")]
    assert plan["refused"] == [exported.ref("rogue")]
    references = [m["reference"] for m in plan["manifests"]]
    assert references.index("v1") < references.index(
        _sig_tag(exported.world.app.digest)
    )
    assert out.report["load"]["pushed"] is None


def test_the_registry_going_down_mid_load_is_one_line_and_a_rerun_completes(
    exported: Exported, gap: Registry, load: Callable[..., Outcome], tmp_path: Path
) -> None:
    proxy = Proxy(backend=(gap.host, gap.port), cut_after=1_500_000).start()
    try:
        out = load(
            exported.archive, *_load_args(exported, proxy.address, "app", "multi")
        )
        assert out.code == 2, out.err
        assert len(out.err.strip().splitlines()) == 1
        assert out.report["reason"] == "input-unreadable"
        assert "Traceback" not in out.err
        assert "2 image(s) verified, 0 refused;" in out.err
        assert _digest(gap, "verify/app", "v1") is None  # no manifest before its blobs
        record = _audit_lines(tmp_path / "appliance-state")[-1]
        assert (record["exit_code"], record["reason"]) == (2, "input-unreadable")
        listed = record["pushed"]["reached"]["blobs"]
        assert all(_has_blob(gap, *b.split("@")) for b in listed)
        proxy.heal()
        again = load(
            exported.archive, *_load_args(exported, proxy.address, "app", "multi")
        )
        assert again.code == 0, again.err
        assert again.report["load"]["pushed"]["blobs_already_held"] > 0
    finally:
        proxy.stop()
    assert _digest(gap, "verify/app", "v1") == exported.world.app.digest
    assert _digest(gap, "verify/multi", "v2") == exported.world.multi.digest


@pytest.mark.parametrize(
    "to",
    [
        "{gap}/mirror:v1",  # a tag
        "{gap}/mirror@sha256:" + "0" * 64,  # a digest
        "{gap}/Mirror",  # uppercase
        "{gap}/mirror/../etc",  # ..
        "{gap}//mirror",  # empty components
        "{gap}/mirror/",
        "{gap}/",
        "{gap}/-mirror",  # a separator first
        "{gap}/mirror_",  # ... or last
        "{gap}/mir ror",
        "{gap}/" + "a" * 260,  # over distribution's 255
        "127.0.0.1:99999/mirror",  # no such port
        "mirror/app",  # no registry host
    ],
)
def test_a_bad_target_is_refused_before_any_socket_or_hsm(
    exported: Exported, gap: Registry, load: Callable[..., Outcome], to: str
) -> None:
    to = to.format(gap=gap.address)
    with netguard.attempts() as sockets:
        out = load(
            exported.archive,
            *_load_args(exported, to, "app"),
            "--countersign-key",
            "pkcs11:token=none;object=none",
            "--module-path",
            "/nonexistent/libsofthsm2.so",
        )
    assert out.code == 2, out.err
    (line,) = out.err.strip().splitlines()
    assert "--to " in line
    assert "expected HOST[:PORT][/PREFIX]" in line
    assert out.report["reason"] == "usage"
    assert sockets == []
    status, _, body = gap.request("GET", "/v2/_catalog")
    assert (status, json.loads(body)) == (200, {"repositories": []})


def _stored_blobs(registry: Registry) -> set[str]:
    """Every blob the registry has committed (its storage, read directly)."""
    root = registry.workdir / "storage" / "docker" / "registry" / "v2" / "blobs"
    return {
        f"sha256:{d.name}" for d in root.glob("sha256/*/*") if (d / "data").is_file()
    }


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_load_stopped_mid_push_says_and_records_what_reached_the_registry(
    exported: Exported,
    gap: Registry,
    tmp_path: Path,
    load: Callable[..., Outcome],
    sig: str,
) -> None:
    """Through a slow link, the signal comes once blobs are in: the line and the audit name them."""
    proxy = Proxy(backend=(gap.host, gap.port), rate=1024 * 1024).start()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "appliance", "load", str(exported.archive),
             *_load_args(exported, proxy.address, "app", "rogue"), "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "no-docker-config")},
        )  # fmt: skip
        # Blobs go one at a time: once a second one is committed, the
        # first was confirmed to the client.
        deadline = time.monotonic() + 60
        while len(_stored_blobs(gap)) < 2 and child.poll() is None:
            assert time.monotonic() < deadline, "no blob reached the registry"
            time.sleep(0.05)
        child.send_signal(getattr(signal, sig))
        out, err = child.communicate(timeout=60)
    finally:
        proxy.stop()
    assert child.returncode == 1, err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert (
        f"interrupted ({sig}); 1 image(s) verified, 1 refused; before it stopped"
        in line
    )
    assert "nothing was verified" not in line
    assert json.loads(out)["reason"] == "interrupted"
    record = _audit_lines(tmp_path / "appliance-state")[-1]
    assert (record["command"], record["exit_code"]) == ("load", 1)
    assert record["reason"] == "interrupted"
    assert record["error"] == line.removeprefix("appliance: ")
    assert record["verified"] == [f"verify/app@{exported.world.app.digest}"]
    pushed = record["pushed"]
    assert (pushed["to"], pushed["complete"]) == (proxy.address, False)
    listed = pushed["reached"]["blobs"]
    assert listed
    assert f"received {len(listed)} blob(s)" in line
    for item in listed:
        repository, _, digest = item.partition("@")
        assert _has_blob(gap, repository, digest), item
    # At most the blob whose commit the signal overtook is held but not listed.
    assert len(_stored_blobs(gap) - {i.partition("@")[2] for i in listed}) <= 1
    assert pushed["reached"]["manifests"] == []
    assert _digest(gap, "verify/app", "v1") is None
    assert appliance(["audit", "verify"]) == 0
    # A re-run resumes: what reached the registry is not sent again.
    again = load(exported.archive, *_load_args(exported, gap.address, "app"))
    assert again.code == 0, again.err
    assert again.report["load"]["pushed"]["blobs_already_held"] >= len(listed)


def test_credentials_come_from_stdin_never_a_flag(
    exported: Exported,
    tmp_path: Path,
    loopback: None,
    monkeypatch: pytest.MonkeyPatch,
    load: Callable[..., Outcome],
) -> None:
    del loopback
    locked = registry_mod.start(
        tmp_path / "locked", credentials=("gapuser", "s3cret-pass")
    )
    try:
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
        refused = load(exported.archive, *_load_args(exported, locked.address, "app"))
        assert refused.code == 2
        assert "credentials" in refused.err
        monkeypatch.setattr(sys, "stdin", _Stdin("s3cret-pass\n"))
        out = load(
            exported.archive,
            *_load_args(exported, locked.address, "app"),
            "--registry-username",
            "gapuser",
        )
        assert out.code == 0, out.err
        assert "s3cret-pass" not in json.dumps(out.report)
        assert _digest(locked, "verify/app", "v1") == exported.world.app.digest
    finally:
        locked.stop()


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        return self.text


class _Realm(http.server.BaseHTTPRequestHandler):
    """A registry that sends clients to a token server on another port."""

    realm = ""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header(
            "WWW-Authenticate", f'Bearer realm="{self.realm}",service="gap"'
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET  # noqa: N815 - http.server's naming
    do_POST = do_GET  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        del format, args


def test_the_seal_admits_the_token_realm_the_registry_names(
    exported: Exported, tmp_path: Path, loopback: None
) -> None:
    """A registry whose token server is on another port: the seal admits it for this command (#21).

    Nothing listens there, so the load fails, naming the realm's host and what
    it was wanted for, not the seal; nothing is pushed.
    """
    del loopback
    other = netguard.free_port()
    _Realm.realm = f"http://127.0.0.1:{other}/token"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Realm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        to = f"127.0.0.1:{server.server_address[1]}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "appliance",
                "load",
                str(exported.archive),
                *_load_args(exported, to, "app"),
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                "APPLIANCE_STATE_DIR": str(tmp_path / "state"),
                "PATH": "/usr/bin:/bin",
                "DOCKER_CONFIG": str(tmp_path),
            },
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 2, done.stderr
    assert "refused by the appliance's seal" not in done.stderr
    assert f"cannot reach 127.0.0.1:{other} for a token" in done.stderr
    assert json.loads(done.stdout)["reason"] == "input-unreadable"


def test_verification_in_load_opens_no_socket_before_the_push(
    exported: Exported, load: Callable[..., Outcome]
) -> None:
    """Only images that fail: nothing to push, so not a single socket (the guard would raise)."""
    out = load(exported.archive, *_load_args(exported, "127.0.0.1:1", "rogue"))
    assert out.code == 1
    assert out.report["load"]["pushed"] is None


def test_extract_writes_only_verified_images_for_skopeo_and_umoci(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extract = runner(capsys, "extract")
    target = tmp_path / "verified"
    out = extract(exported.archive, "--to", str(target), "--trusted-root", str(exported.root), *KEYLESS,
                  "--image", exported.ref("app"), "--image", exported.ref("rogue"))  # fmt: skip
    assert out.code == 1  # rogue refused
    index = json.loads((target / "index.json").read_text())
    digests = {m["digest"] for m in index["manifests"]}
    assert exported.world.app.digest in digests
    assert exported.world.rogue.digest not in digests
    assert not any(
        (target / "blobs" / "sha256" / layer.removeprefix("sha256:")).exists()
        for layer in exported.world.rogue.layers
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    ref = next(
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in index["manifests"]
        if m["digest"] == exported.world.app.digest
    )
    copied = tmp_path / "copied"
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--preserve-digests",
            f"oci:{target}:{ref}",
            f"oci:{copied}:x",
        ],
        check=True,
        capture_output=True,
    )
    assert (
        json.loads((copied / "index.json").read_text())["manifests"][0]["digest"]
        == exported.world.app.digest
    )
    listed = subprocess.run(
        ["umoci", "ls", "--layout", str(target)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert ref in listed.split()
    # A second extract never merges into an existing directory.
    again = extract(
        exported.archive,
        "--to",
        str(target),
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
    )
    assert again.code == 2
    assert "exists" in again.err


def test_an_archive_changed_between_the_two_passes_pushes_nothing_of_the_change(
    exported: Exported, gap: Registry, tmp_path: Path
) -> None:
    """The second pass reads other bytes under a verified name: the upload is never committed."""
    first = read_archive(exported.archive)
    rules = PolicySpec.from_toml(
        f'[[rules]]\nmatch = ["**"]\n[[rules.signers]]\nidentity = "{KEYLESS[1]}"\nissuer = "{KEYLESS[3]}"\n'.encode(),
        source="policy",
    ).resolve(lambda _: b"")
    verdict = verify_archive(
        first.contents,
        rules=rules,
        trust=roots.load_files(exported.root)[0],
        now=datetime.now(UTC),
    )
    plan = plan_push(verified_view(first.contents, verdict), Target.parse(gap.address))
    changed = unpack(exported.archive, tmp_path / "changed")
    layer = exported.world.app.layers[0]
    path = changed / "blobs" / "sha256" / layer.removeprefix("sha256:")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    client = RegistryClient(gap.address, plain_http=True)
    pusher = Pusher(client, plan)
    pusher.survey()
    with pytest.raises(VerificationError, match="changed since it was verified"):
        read_archive(changed, tap=pusher.tap)
    client.close()
    assert not _has_blob(gap, "verify/app", layer)
    assert _digest(gap, "verify/app", "v1") is None


def _audit_lines(state: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()
    ]


def test_every_load_is_in_the_audit_log(
    exported: Exported,
    gap: Registry,
    load: Callable[..., Outcome],
    tmp_path: Path,
) -> None:
    state = tmp_path / "appliance-state"  # the autouse fixture's
    out = load(exported.archive, *_load_args(exported, gap.address, "app", "rogue"))
    (line,) = _audit_lines(state)
    assert line["command"] == "load"
    assert line["exit_code"] == 1
    assert line["archive"]["sha256"] == out.report["archive"]["sha256"]
    assert {i["ref"]: i["verified"] for i in line["images"]} == {
        exported.ref("app"): True,
        exported.ref("rogue"): False,
    }
    assert line["pushed"]["to"] == gap.address
    assert line["pushed"]["images"] == ["verify/app:v1"]
    assert out.report["audit"] == {
        "line": 1,
        "sha256": hashlib.sha256(
            (state / "audit.jsonl").read_bytes().rstrip(b"\n")
        ).hexdigest(),
    }
    assert appliance(["audit", "verify"]) == 0
