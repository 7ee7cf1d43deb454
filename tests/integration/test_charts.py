"""Helm charts and other OCI artifacts travel as images do: export -> verify -> load -> read back.

A chart is pushed as helm 3.8+ lays it out in a registry (helm's
pkg/registry, docs: https://helm.sh/docs/topics/registries/): an OCI image
manifest whose config is ``application/vnd.cncf.helm.config.v1+json`` (the
Chart.yaml as JSON), one layer ``application/vnd.cncf.helm.chart.content.v1.tar+gzip``
(the packaged chart) and, when signed with ``helm package --sign``, one
layer ``application/vnd.cncf.helm.chart.provenance.v1.prov`` (the
provenance file); the tag is the chart version. A second artifact carries an
``artifactType`` and the empty config (OCI image-spec 1.1 §Guidelines for
Artifact Usage). Both are signed keylessly with cosign's layout by the test
Sigstore stack, the chart also with a cosign v3 bundle referrer; the chart is
selected by a SemVer range in an image-set file.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from appliance.cli.main import main as appliance
from bundle_tools.cli import main as bundle_tools
from tests.helpers import oci
from tests.helpers.publish import Image, Signer
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry
EPOCH = "1790000000"
IDENTITY = "charts@airlock.test"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"
ARTIFACT_TYPE = "application/vnd.example.firmware.v1"
EMPTY = "application/vnd.oci.empty.v1+json"
PROV = b"""-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

apiVersion: v2
name: podinfo
version: 6.5.4
...
files:
  podinfo-6.5.4.tgz: sha256:0000
-----BEGIN PGP SIGNATURE-----

wsBcBAEBCgAQBQJlAAAACRBAAAAAAAAAAAAAAA==
-----END PGP SIGNATURE-----
"""


def _chart_tgz(version: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        text = f"apiVersion: v2\nname: podinfo\nversion: {version}\n".encode()
        info = tarfile.TarInfo("podinfo/Chart.yaml")
        info.size, info.mtime = len(text), 0
        tar.addfile(info, io.BytesIO(text))
    return gzip.compress(raw.getvalue(), mtime=0)


def _push(
    registry: Registry,
    repo: str,
    tag: str,
    *,
    config: tuple[str, bytes],
    layers: list[tuple[str, bytes, dict[str, str]]],
    artifact_type: str | None = None,
) -> Image:
    config_type, config_bytes = config
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": oci.MANIFEST,
        "config": {
            "mediaType": config_type,
            "digest": registry.push_blob(repo, config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": media_type,
                "digest": registry.push_blob(repo, data),
                "size": len(data),
                "annotations": annotations,
            }
            for media_type, data, annotations in layers
        ],
        "annotations": {"org.opencontainers.image.created": "2026-11-01T12:00:00Z"},
    }
    if artifact_type is not None:
        manifest["artifactType"] = artifact_type
    body = oci.canonical(manifest)
    digest = registry.push_manifest(repo, tag, body, oci.MANIFEST)
    return Image(registry, repo, tag, digest, oci.MANIFEST, len(body))


def _chart(registry: Registry, version: str) -> Image:
    config = json.dumps(
        {"apiVersion": "v2", "name": "podinfo", "version": version}
    ).encode()
    return _push(
        registry,
        "charts/podinfo",
        version,
        config=(HELM_CONFIG, config),
        layers=[
            (
                HELM_CHART,
                _chart_tgz(version),
                {"org.opencontainers.image.title": f"podinfo-{version}.tgz"},
            ),
            (
                HELM_PROV,
                PROV,
                {"org.opencontainers.image.title": f"podinfo-{version}.tgz.prov"},
            ),
        ],
    )


def test_a_signed_chart_and_an_artifact_survive_export_verify_load(
    registry: Registry, gap: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    signer = Signer(registry, stack)
    old, chart = _chart(registry, "6.4.0"), _chart(registry, "6.5.4")
    unsigned = _chart(registry, "7.0.0-rc.1")  # a pre-release: outside the range
    firmware = _push(
        registry,
        "artifacts/firmware",
        "2026.11",
        config=(EMPTY, b"{}"),
        layers=[
            (
                "application/octet-stream",
                b"\x7fFIRMWARE" * 64,
                {"org.opencontainers.image.title": "fw.bin"},
            )
        ],
        artifact_type=ARTIFACT_TYPE,
    )
    for image in (old, chart, firmware):
        signer.sign_legacy(image, identity=IDENTITY)
    signer.bundle_referrer(chart, identity=IDENTITY)
    del unsigned

    set_file = tmp_path / "set.toml"
    set_file.write_text(
        "version = 1\n"
        f'[[images]]\nrepository = "{registry.address}/charts/podinfo"\n'
        'semver = ">=6, <7"\nnewest = 1\n'
        f'[[images]]\nrepository = "{registry.address}/artifacts/firmware"\n'
        'tags = ["2026.11"]\n'
    )
    root = tmp_path / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    archive = tmp_path / "charts.tar.zst"
    assert (
        bundle_tools(
            [
                "export",
                "--set",
                str(set_file),
                "--out",
                str(archive),
                "--trusted-root",
                str(root),
                "--allow-http-registry",
                registry.address,
                "--cache",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    keyless = [
        "--trusted-root",
        str(root),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
    ]
    assert appliance(["verify", str(archive), *keyless]) == 0
    assert (
        appliance(
            [
                "load",
                str(archive),
                "--to",
                f"{gap.address}/mirror",
                "--allow-http-registry",
                *keyless,
            ]
        )
        == 0
    )
    # Read back: the chart under its version, the same bytes, its provenance
    # layer, its signature tag and its bundle referrer's fallback tag.
    back = gap.get_manifest("mirror/charts/podinfo", "6.5.4")
    assert back.digest == chart.digest
    doc = json.loads(back.body)
    assert doc["config"]["mediaType"] == HELM_CONFIG
    prov = next(layer for layer in doc["layers"] if layer["mediaType"] == HELM_PROV)
    assert gap.get_blob("mirror/charts/podinfo", prov["digest"]) == PROV
    hexdigest = chart.digest.removeprefix("sha256:")
    assert (
        gap.get_manifest("mirror/charts/podinfo", f"sha256-{hexdigest}.sig").digest
        == registry.get_manifest("charts/podinfo", f"sha256-{hexdigest}.sig").digest
    )
    assert gap.get_manifest("mirror/charts/podinfo", f"sha256-{hexdigest}").digest
    # Only what the set selected: not the older chart, not the pre-release.
    status, _, _ = gap.request("GET", "/v2/mirror/charts/podinfo/manifests/6.4.0")
    assert status == 404
    status, _, _ = gap.request("GET", "/v2/mirror/charts/podinfo/manifests/7.0.0-rc.1")
    assert status == 404
    art = gap.get_manifest("mirror/artifacts/firmware", "2026.11")
    assert art.digest == firmware.digest
    assert json.loads(art.body)["artifactType"] == ARTIFACT_TYPE


def test_a_chart_signed_by_another_identity_is_refused_and_not_loaded(
    registry: Registry, gap: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    chart = _push(
        registry,
        "charts/stranger",
        "1.0.0",
        config=(HELM_CONFIG, b'{"name":"stranger","version":"1.0.0"}'),
        layers=[(HELM_CHART, _chart_tgz("1.0.0"), {})],
    )
    Signer(registry, stack).sign_legacy(chart, identity="mallory@airlock.test")
    root = tmp_path / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    archive = tmp_path / "stranger.tar.zst"
    assert (
        bundle_tools(
            [
                "export",
                chart.reference,
                "--out",
                str(archive),
                "--trusted-root",
                str(root),
                "--allow-http-registry",
                registry.address,
                "--cache",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    keyless = [
        "--trusted-root",
        str(root),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
    ]
    assert appliance(["verify", str(archive), *keyless]) == 1
    assert (
        appliance(
            [
                "load",
                str(archive),
                "--to",
                f"{gap.address}/mirror",
                "--allow-http-registry",
                *keyless,
            ]
        )
        == 1
    )
    status, _, _ = gap.request("GET", "/v2/mirror/charts/stranger/manifests/1.0.0")
    assert status == 404
