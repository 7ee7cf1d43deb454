"""Deltas: the gap's inventory goes out, only what it lacks comes back, and it loads whole.

``delta/app:v1`` (two 1 MiB layers) is exported and loaded into a real
in-gap docker-registry; ``appliance inventory`` writes what the gap holds;
``delta/app:v2`` (v1's two layers and one new one) is exported against it
with ``--have``. The delta carries the new layer and leaves v1's out; the
appliance verifies and loads it, mounting the held layers, and skopeo pulls
v2 whole. A delta for a registry that lacks the held layers, one against an
inventory another appliance wrote, and an inventory that lies about a size
are each driven for real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from textual.widgets import Input, Static

from airlock_io.archive import read_archive
from appliance.cli.main import _parser
from appliance.cli.main import main as appliance
from appliance.cli.tui_cmd import session
from appliance.core.archive import view
from appliance.tui.app import AirlockApp
from appliance.tui.screens import ConfirmLoad, OpenScreen
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard, publish
from tests.helpers import registry as registry_mod
from tests.helpers.exported import EPOCH, KEYLESS, Exported
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry

LAYER = 1024 * 1024


@dataclass
class Versions:
    """Two versions of one image: v2 is v1's layers and one more."""

    v1: publish.Image
    v2: publish.Image
    new_layer: str
    new_layer_size: int


@pytest.fixture(scope="module")
def versions(exported: Exported) -> Versions:
    registry = exported.world.registry
    with netguard.loopback():
        signer = publish.Signer(registry, exported.world.stack)
        v1 = publish.image(registry, "delta/app", "v1", layer_bytes=LAYER, layers=2)
        signer.sign_legacy(v1, identity=IDENTITY)
        v2 = publish.derived(registry, v1, "v2", layer_bytes=LAYER)
        signer.sign_legacy(v2, identity=IDENTITY)
        new = v2.layers[-1]
        size = _size(registry, new)
    return Versions(v1=v1, v2=v2, new_layer=new, new_layer_size=size)


def _size(registry: Registry, digest: str) -> int:
    status, headers, _ = registry.request("HEAD", f"/v2/delta/app/blobs/{digest}")
    assert status == 200
    return int(headers["content-length"])


@pytest.fixture
def gap2(tmp_path: Path, loopback: None) -> Iterator[Registry]:
    """A second, empty in-gap registry."""
    del loopback
    server = registry_mod.start(tmp_path / "gap2")
    try:
        yield server
    finally:
        server.stop()


def _export(exported: Exported, image: publish.Image, out: Path, *extra: str) -> int:
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        return bundle_tools(
            ["export", image.reference, "--out", str(out), "--trusted-root", str(exported.root),
             "--allow-http-registry", exported.world.registry.address, *extra]
        )  # fmt: skip


def _carried(archive: Path) -> dict[str, int]:
    """Every blob the archive carries but its ledger (which names the inventory)."""
    contents = read_archive(archive).contents
    _, entry = view.ledger(contents)
    ledger = {
        entry.digest,
        *(d.digest for d in contents.manifests[entry.digest].children),
    }
    return {d: size for d, size in contents.blobs.items() if d not in ledger}


def _appliance(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    code = appliance(list(args))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else {}), out.err


def _load(
    capsys: pytest.CaptureFixture[str],
    exported: Exported,
    archive: Path,
    to: str,
    *extra: str,
) -> tuple[int, dict[str, Any], str]:
    return _appliance(
        capsys, "load", str(archive), "--to", to, "--allow-http-registry",
        "--trusted-root", str(exported.root), *KEYLESS, "-o", "json", *extra,
    )  # fmt: skip


@pytest.fixture
def loaded_v1(
    versions: Versions,
    exported: Exported,
    gap: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    """v1 loaded into the gap; the inventory this appliance then wrote."""
    first = tmp_path / "v1.tar.zst"
    assert _export(exported, versions.v1, first) == 0
    code, _, err = _load(capsys, exported, first, gap.address)
    assert code == 0, err
    inventory = tmp_path / "inventory.json"
    code, _, err = _appliance(capsys, "inventory", "-o", str(inventory))
    assert code == 0, err
    return inventory


def test_a_delta_carries_only_the_new_layer_and_loads_whole(
    versions: Versions,
    exported: Exported,
    gap: Registry,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    held = {b["digest"]: b["size"] for b in json.loads(loaded_v1.read_text())["blobs"]}
    assert set(versions.v1.layers) <= set(held)
    full, delta = tmp_path / "full.tar.zst", tmp_path / "delta.tar.zst"
    assert _export(exported, versions.v2, full) == 0
    assert _export(exported, versions.v2, delta, "--have", str(loaded_v1)) == 0
    carried = _carried(delta)
    whole = _carried(full)
    assert versions.new_layer in carried
    # Exactly v1's two layers stayed behind, to the byte; everything else came.
    assert set(whole) - set(carried) == set(versions.v1.layers)
    assert set(carried) < set(whole)
    assert sum(whole.values()) - sum(carried.values()) == sum(
        held[d] for d in versions.v1.layers
    )
    assert (
        held[versions.v1.layers[0]] > LAYER
    )  # the layer itself, with its tar and gzip framing
    code, report, err = _appliance(
        capsys, "verify", str(delta), "--trusted-root", str(exported.root),
        *KEYLESS, "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    assert {c["digest"] for c in report["archive"]["delta"]["omitted_as_held"]} == set(
        versions.v1.layers
    )
    code, report, err = _load(capsys, exported, delta, gap.address)
    assert code == 0, err
    pushed = report["load"]["pushed"]
    assert pushed["bytes_sent"] < versions.new_layer_size + 64 * 1024
    layout = tmp_path / "pulled"
    gap.pull_layout("delta/app:v2", layout, "x")
    index = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [versions.v2.digest]
    for layer in versions.v2.layers:
        assert (layout / "blobs" / "sha256" / layer.removeprefix("sha256:")).exists()


def test_held_layers_are_mounted_from_another_repository(
    versions: Versions,
    exported: Exported,
    gap: Registry,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delta = tmp_path / "delta.tar.zst"
    assert _export(exported, versions.v2, delta, "--have", str(loaded_v1)) == 0
    code, report, err = _load(capsys, exported, delta, f"{gap.address}/elsewhere")
    assert code == 0, err
    assert report["load"]["pushed"]["blobs_mounted"] >= len(versions.v1.layers)
    for layer in versions.v2.layers:
        status, _, _ = gap.request("HEAD", f"/v2/elsewhere/delta/app/blobs/{layer}")
        assert status == 200


def test_a_registry_without_the_held_layers_gets_nothing(
    versions: Versions,
    exported: Exported,
    gap2: Registry,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delta = tmp_path / "delta.tar.zst"
    assert _export(exported, versions.v2, delta, "--have", str(loaded_v1)) == 0
    code, _, err = _load(capsys, exported, delta, gap2.address)
    assert code == 2, err
    assert "as held by the gap, but this registry does not have them" in err
    for layer in versions.v1.layers:
        assert layer in err
    assert "nothing was pushed" in err
    status, _, body = gap2.request("GET", "/v2/_catalog")
    assert status == 200
    assert json.loads(body)["repositories"] == []


def test_a_delta_against_another_appliances_inventory_is_refused(
    versions: Versions,
    exported: Exported,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delta = tmp_path / "delta.tar.zst"
    assert _export(exported, versions.v2, delta, "--have", str(loaded_v1)) == 0
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path / "other-appliance"))
    verify = ["verify", str(delta), "--trusted-root", str(exported.root), *KEYLESS, "-o", "json"]  # fmt: skip
    code, report, err = _appliance(capsys, *verify)
    assert code == 1, err
    (image,) = report["images"]
    assert image["reason"] == "policy-unsatisfied"
    assert "--allow-foreign-inventory" in image["message"]
    code, _, err = _appliance(capsys, *verify, "--allow-foreign-inventory")
    assert code == 0, err


def test_an_inventory_of_the_registry_itself_serves_as_well(
    versions: Versions,
    exported: Exported,
    gap: Registry,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del loaded_v1
    inventory = tmp_path / "registry-inventory.json"
    with netguard.loopback():
        code, _, err = _appliance(
            capsys, "inventory", "-o", str(inventory), "--registry", gap.address,
            "--allow-http-registry",
        )  # fmt: skip
    assert code == 0, err
    doc = json.loads(inventory.read_text())
    assert doc["source"] == f"registry {gap.address}"
    assert set(versions.v1.layers) <= {b["digest"] for b in doc["blobs"]}
    delta = tmp_path / "delta.tar.zst"
    assert _export(exported, versions.v2, delta, "--have", str(inventory)) == 0
    assert not set(versions.v1.layers) & set(read_archive(delta).contents.blobs)
    code, _, err = _load(capsys, exported, delta, gap.address)
    assert code == 0, err


def test_an_inventory_wrong_about_a_size_leaves_nothing_out(
    versions: Versions,
    exported: Exported,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = json.loads(loaded_v1.read_text())
    for blob in doc["blobs"]:
        blob["size"] += 1
    lying = tmp_path / "lying.json"
    lying.write_text(json.dumps(doc))
    delta = tmp_path / "delta.tar.zst"
    assert _export(exported, versions.v2, delta, "--have", str(lying)) == 0
    assert set(versions.v2.layers) <= set(read_archive(delta).contents.blobs)
    del capsys


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(inventoryVersion=2), "unknown inventory version"),
        (lambda d: d["blobs"].append({"digest": "sha256:00", "size": 1}), "digest"),
        (lambda d: d["blobs"][0].update(size=-1), "size"),
        (lambda d: d.update(created="yesterday"), "created"),
        (lambda d: d.pop("appliance"), "appliance"),
    ],
)
def test_a_malformed_inventory_is_one_line_and_exit_2(
    versions: Versions,
    exported: Exported,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Any,
    expected: str,
) -> None:
    doc = json.loads(loaded_v1.read_text())
    edit(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    capsys.readouterr()
    assert (
        _export(exported, versions.v2, tmp_path / "d.tar.zst", "--have", str(bad)) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert expected in err[0]
    assert not (tmp_path / "d.tar.zst").exists()


def test_extract_refuses_a_delta_rather_than_write_half_a_layout(
    versions: Versions,
    exported: Exported,
    loaded_v1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delta = tmp_path / "delta.tar.zst"
    assert _export(exported, versions.v2, delta, "--have", str(loaded_v1)) == 0
    out = tmp_path / "layout"
    code, _, err = _appliance(
        capsys, "extract", str(delta), "--to", str(out), "--trusted-root",
        str(exported.root), *KEYLESS,
    )  # fmt: skip
    assert code == 2, err
    assert "is a delta" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


async def test_the_tui_names_a_delta_and_what_load_will_need(
    versions: Versions,
    exported: Exported,
    gap: Registry,
    loaded_v1: Path,
    tmp_path: Path,
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    assert (
        _export(
            exported, versions.v2, media / "delta.tar.zst", "--have", str(loaded_v1)
        )
        == 0
    )
    args = _parser().parse_args(
        ["tui", "--trusted-root", str(exported.root), *KEYLESS, "--allow-http-registry"]
    )
    app = AirlockApp(session(args), root=media)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("o")
        await pilot.pause(0.3)
        assert isinstance(app.screen, OpenScreen)
        await pilot.press("down", "enter")
        await pilot.pause(0.5)
        summary = str(app.screen.query_one("#summary").render())
        assert "delta: 2 layer(s)" in summary
        assert "left out as held by the gap" in summary
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.05)
            if app.judged is not None or app.error is not None:
                break
        assert app.judged is not None, app.error
        assert app.judged.verdict.verified  # this appliance wrote the inventory
        await pilot.press("l")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = gap.address
        await pilot.press("enter")
        await pilot.pause(0.1)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLoad)
        assert confirm.held == 2
        shown = " ".join(str(s.render()) for s in confirm.query(Static))
        assert "2 layer(s) left out as held must already be in this registry" in shown
        await pilot.press("n")
        await pilot.pause(0.05)
        assert app.loaded is None
