"""``bundle-tools export`` and ``inspect`` against a real registry (docker-registry 2.8).

The world (tests/helpers/world.py): a single-platform image signed keylessly
and with a key, attested (the attestation itself signed), with an SBOM; a
two-platform index with cosign v3 bundle referrers through the tag fallback
(docker-registry has no referrers API); an image signed by a stranger.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from airlock_io.archive import read_archive
from appliance.core.archive import view
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard
from tests.helpers.archives import extract
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.world import World, publish_world

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry
EPOCH = "1790000000"  # 2026-09-21T14:13:20Z


@pytest.fixture(scope="module")
def world(_registry_server: Registry) -> Iterator[World]:
    with netguard.loopback():
        stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
        yield publish_world(_registry_server, stack, namespace="export")


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, world: World, loopback: None
) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))  # no credentials
    root = tmp_path / "trusted_root.json"
    root.write_bytes(world.stack.trusted_root_json())
    return root


def _export(
    world: World, root: Path, out: Path, *extra: str, refs: list[str] | None = None
) -> int:
    return bundle_tools(
        [
            "export",
            *(refs if refs is not None else world.references),
            "--out",
            str(out),
            "--trusted-root",
            str(root),
            "--allow-http-registry",
            world.registry.address,
            "--cache",
            str(out.parent / "cache"),
            *extra,
        ]
    )


def test_everything_the_registry_had_is_carried_and_listed(
    world: World, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "transfer.tar.zst"
    assert _export(world, env, out, "-o", "json") == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["related"] == {
        "signature": 3,
        "attestation": 1,
        "sbom": 1,
        "referrer": 3,
        "referrers-index": 3,
    }

    contents = read_archive(out).contents
    ledger, _ = view.ledger(contents)
    by_ref = {image.asked: image for image in ledger.images}
    app, multi = by_ref[world.app.reference], by_ref[world.multi.reference]
    assert app.digest == world.app.digest
    assert {r.digest for r in app.related} == set(world.related["app"])
    # The attestation's own signature was found under the attestation's digest.
    attestation = next(r for r in app.related if r.kind == "attestation")
    assert any(r.subject == attestation.digest for r in app.related)
    # Keyless and key signatures, with what each carries offline.
    signatures = next(
        r
        for r in app.related
        if r.kind == "signature" and r.subject == world.app.digest
    )
    assert sorted(e.signer for e in signatures.evidence) == ["certificate", "key"]
    assert all(e.set for e in signatures.evidence)
    assert next(r for r in app.related if r.kind == "sbom").evidence[0].form == "sbom"
    # The index and each platform, with the bundle referrers of each.
    assert [p.included for p in multi.platforms] == [True, True]
    referrers = [r for r in multi.related if r.kind == "referrer"]
    assert {r.subject for r in referrers} == {
        world.multi.digest,
        *world.multi.platforms.values(),
    }
    assert all(r.found.startswith("referrers tag sha256-") for r in referrers)
    assert all(
        r.evidence[0].form == "sigstore-bundle" and r.evidence[0].checkpoint
        for r in referrers
    )
    # Every manifest the registry holds about them, and every blob, is in the archive.
    for digests in world.related.values():
        assert set(digests) <= set(contents.blobs)
    for layer in world.app.layers + world.multi.layers:
        assert layer in contents.blobs
    assert contents.missing == frozenset()
    # The ledger lists every blob the archive holds, but its own.
    _, entry = view.ledger(contents)
    assert view.accounted(contents, entry, ledger) == set(contents.blobs)


def test_two_exports_are_byte_identical(
    world: World, env: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a" / "t.tar.zst", tmp_path / "b" / "t.tar.zst"
    first.parent.mkdir()
    second.parent.mkdir()
    assert _export(world, env, first) == 0
    assert _export(world, env, second) == 0
    assert (
        hashlib.sha256(first.read_bytes()).digest()
        == hashlib.sha256(second.read_bytes()).digest()
    )


def test_skopeo_and_umoci_read_the_layout(
    world: World, env: Path, tmp_path: Path
) -> None:
    out = tmp_path / "t.tar.zst"
    assert _export(world, env, out) == 0
    layout = extract(out, tmp_path / "layout")
    for image, digest in (
        (world.app, world.app.digest),
        (world.multi, world.multi.digest),
    ):
        dest = tmp_path / f"dir-{image.repo.replace('/', '-')}"
        done = subprocess.run(
            ["skopeo", "--insecure-policy", "copy", "--all", "--preserve-digests",
             f"oci:{layout}:{image.reference}", f"dir:{dest}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert hashlib.sha256(
            (dest / "manifest.json").read_bytes()
        ).hexdigest() == digest.removeprefix("sha256:")
    refs = subprocess.run(
        ["umoci", "ls", "--layout", str(layout)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert world.app.reference in refs
    assert world.multi.reference in refs
    done = subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{layout}:{world.rogue.reference}", str(tmp_path / "bundle")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        tmp_path / "bundle" / "rootfs" / "export" / "rogue-v1-0.txt"
    ).read_text() == "hello from export/rogue-v1-0\n"


def test_platforms_asked_for_keep_the_index_whole(
    world: World, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.tar.zst"
    code = _export(
        world, env, out, "--platform", "linux/arm64", refs=[world.multi.reference]
    )
    assert code == 0, capsys.readouterr().err
    contents = read_archive(out).contents
    ledger, _ = view.ledger(contents)
    [image] = ledger.images
    kept = {p.platform: p for p in image.platforms}
    assert kept["linux/arm64/v8"].included
    assert not kept["linux/amd64"].included
    assert "not among --platform linux/arm64" in (kept["linux/amd64"].reason or "")
    # The index bytes are unchanged (its signature still holds) and name both.
    assert world.multi.digest in contents.blobs
    assert contents.missing == {world.multi.platforms["linux/amd64"]}
    assert world.multi.platforms["linux/arm64/v8"] in contents.blobs


def test_references_from_a_list_file(
    world: World, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text(
        f"# what crosses this month\n{world.app.reference}\n\n  {world.rogue.reference}  # the odd one\n"
    )
    out = tmp_path / "t.tar.zst"
    assert _export(world, env, out, "-f", str(listing), "-o", "json", refs=[]) == 0
    assert [i["asked"] for i in json.loads(capsys.readouterr().out)["images"]] == [
        world.app.reference,
        world.rogue.reference,
    ]


def test_inspect_reads_without_extracting(
    world: World, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.tar.zst"
    assert _export(world, env, out) == 0
    capsys.readouterr()
    before = set(tmp_path.rglob("*"))
    assert bundle_tools(["inspect", str(out), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(tmp_path.rglob("*")) == before
    assert report["sha256"] == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    assert report["created"] == "2026-09-21T14:13:20Z"
    assert report["trust"]["kind"] == "trusted-root"
    assert [i["asked"] for i in report["images"]] == world.references
    assert bundle_tools(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "exported by bundle-tools" in text
    assert "trust: trusted-root" in text


def test_a_trust_capsule_travels_as_an_artifact(
    world: World, env: Path, tmp_path: Path
) -> None:
    from tests.helpers.vectors import serve_root_signing  # noqa: PLC0415

    capsule = serve_root_signing(tmp_path / "capsule")
    out = tmp_path / "t.tar.zst"
    code = bundle_tools(
        ["export", world.rogue.reference, "--out", str(out), "--trust-capsule", str(capsule),
         "--allow-http-registry", world.registry.address, "--cache", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    contents = read_archive(out).contents
    kind, files = view.trust_files(contents) or ("", {})
    assert kind == "application/vnd.dev.airlock.trust-capsule.v1+json"
    assert files == {
        p.relative_to(capsule).as_posix(): p.read_bytes()
        for p in capsule.rglob("*")
        if p.is_file()
    }
    ledger, _ = view.ledger(contents)
    assert (
        ledger.trust.kind,
        ledger.trust.root_version,
        ledger.trust.timestamp_version,
    ) == ("tuf-capsule", 15, 762)


def test_no_trust_says_so_in_the_ledger(
    world: World, env: Path, tmp_path: Path
) -> None:
    out = tmp_path / "t.tar.zst"
    code = bundle_tools(
        ["export", world.rogue.reference, "--out", str(out), "--no-trust",
         "--allow-http-registry", world.registry.address, "--cache", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    contents = read_archive(out).contents
    assert view.trust_files(contents) is None
    assert view.ledger(contents)[0].trust.kind == "none"


def test_the_cache_serves_a_second_export(
    world: World, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.tar.zst"
    assert _export(world, env, out, "-o", "json") == 0
    first = json.loads(capsys.readouterr().out)
    assert _export(world, env, tmp_path / "u.tar.zst", "-o", "json") == 0
    second = json.loads(capsys.readouterr().out)
    assert first["fetched"] > 0
    assert second["fetched"] == 0


def test_a_cached_blob_changed_on_disk_never_reaches_an_archive(
    world: World, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The packer re-hashes every cached blob as it writes it (same size, one bit off)."""
    assert _export(world, env, tmp_path / "first.tar.zst") == 0
    capsys.readouterr()
    cached = max(
        (tmp_path / "cache" / "blobs" / "sha256").iterdir(),
        key=lambda p: p.stat().st_size,
    )
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0x01
    cached.write_bytes(bytes(data))
    out = tmp_path / "second.tar.zst"
    assert _export(world, env, out) == 2
    err = capsys.readouterr().err
    assert f"sha256:{cached.name}" in err
    assert "the cached blob is not what its digest says" in err
    # Progress lines, then the one line of the failure, last.
    assert [
        line for line in err.splitlines() if "digest" in line
    ] == err.strip().splitlines()[-1:]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".second")]
    assert not cached.exists()  # dropped from the cache: the next run fetches it again
    assert _export(world, env, out, "-o", "json") == 0
    assert json.loads(capsys.readouterr().out)["fetched"] == 1
    assert out.read_bytes() == (tmp_path / "first.tar.zst").read_bytes()


def test_the_plan_keeps_no_signature_annotations_beside_the_manifest_bytes(
    world: World,
    env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cosign's bundle and certificate annotations, parsed and kept beside each
    # signature manifest's bytes until the archive was written, were half of
    # an export's memory (1.6 GB at 10,000 images). They are read once, into
    # the ledger's evidence; the archive takes the manifest's own bytes.
    from appliance.core.archive.manifest import ImageManifest  # noqa: PLC0415
    from bundle_tools.collect import discover  # noqa: PLC0415

    collected: list[discover.Collection] = []
    real = discover.Collector.collect

    def collect(self: discover.Collector, *args: object) -> discover.Collection:
        found = real(self, *args)  # type: ignore[arg-type]
        collected.append(found)
        return found

    monkeypatch.setattr(discover.Collector, "collect", collect)
    out = tmp_path / "transfer.tar.zst"
    assert _export(world, env, out, "-o", "json") == 0, capsys.readouterr().err
    signed = [
        (c, n)
        for c in collected
        for n in c.nodes.values()
        if b"dev.cosignproject.cosign/signature" in n.data
    ]
    assert signed  # the world's cosign signatures carry their bundles as annotations
    for collection, node in signed:
        assert isinstance(node.manifest, ImageManifest)
        for desc in node.manifest.children:
            assert desc.annotations == {}
            assert collection.blobs[desc.digest][2].annotations == {}
    # ... and what they said is in the ledger's evidence, as before.
    ledger, _ = view.ledger(read_archive(out).contents)
    related = {r.digest: r for image in ledger.images for r in image.related}
    for _, node in signed:
        assert related[node.digest].evidence
        assert all(e.signer for e in related[node.digest].evidence)
