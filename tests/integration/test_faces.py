"""One set of verbs under both faces: each action driven through the CLI and the TUI, compared.

The CLI runs as a subprocess (``python -m appliance``), the TUI in process
through Textual's Pilot, each with a state directory of its own, on the
same real archive (the committed one of tests/assets/tui) and, to load, a
real docker-registry each and one SoftHSM key. What each face decides,
writes, pushes, records in the audit log and remembers for ``appliance
inventory`` must be the same: the faces only parse and render.

Two drifts this would have caught (fixed with the actions): the TUI's
countersignature named an empty policy digest in its verification summary,
and a load from the TUI was never recorded for ``appliance inventory``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pkcs11
import pytest
from textual.widgets import Input

from appliance.cli.main import _parser
from appliance.cli.main import main as appliance
from appliance.cli.tui_cmd import session
from appliance.tui.app import AirlockApp
from appliance.tui.screens import ConfirmLoad, TextModal
from tests.helpers import registry as registry_mod
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from textual.pilot import Pilot

    from tests.helpers.registry import Registry
    from tests.helpers.softhsm import SoftHsm
    from tests.helpers.tuf_repo import TufRepo

ISSUER = "https://oidc.airlock.test"
PIN = "5521-Faces-Pin"
SIGNERS = ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]
# What differs between two runs whatever the face: when, where, in which order.
_VOLATILE = frozenset({"seq", "prev", "time", "via", "now", "path", "to", "age_seconds",
                       "imported_at", "directory", "detected_at"})  # fmt: skip


class Faces:
    """The archive, its root, and a state directory per face."""

    def __init__(self, asset: Callable[[str], Path], base: Path) -> None:
        self.archive = asset("tui/transfer.tar.zst")
        self.root = asset("tui/trusted_root.json")
        self.cli_state = base / "cli-state"
        self.tui_state = base / "tui-state"
        self.base = base

    def cli(self, *argv: str, pin: bool = False) -> tuple[int, str, str]:
        """``appliance ARGV`` in a process of its own, on the CLI's state."""
        return self.run(self.cli_state, *argv, pin=pin)

    def run(self, state: Path, *argv: str, pin: bool = False) -> tuple[int, str, str]:
        """``appliance ARGV`` in a process of its own, on ``state``."""
        env = {**os.environ, "APPLIANCE_STATE_DIR": str(state)}
        if pin:
            env["COSIGN_PKCS11_PIN"] = PIN
        done = subprocess.run(
            [sys.executable, "-m", "appliance", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr

    def app(self, monkeypatch: pytest.MonkeyPatch, *extra: str) -> AirlockApp:
        """The TUI on the same archive and flags, on its own state."""
        monkeypatch.setenv("APPLIANCE_STATE_DIR", str(self.tui_state))
        argv = ["tui", str(self.archive), "--trusted-root", str(self.root), *SIGNERS, *extra]  # fmt: skip
        return AirlockApp(session(_parser(argv).parse_args(argv)))

    def audit(self, state: Path) -> list[dict[str, Any]]:
        text = (state / "audit.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def faces(asset: Callable[[str], Path], tmp_path: Path) -> Faces:
    return Faces(asset, tmp_path)


def _stable(value: Any) -> Any:
    """``value`` without what differs between two runs whatever the face."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, str) and value.endswith("(appliance clock)"):
        return "verified at (the clock of the run)"
    return value


async def _until(pilot: Pilot[int], done: Callable[[], bool], *, rounds: int = 400) -> None:  # fmt: skip
    for _ in range(rounds):
        await pilot.pause(0.05)
        if done():
            return
    raise AssertionError("the TUI never got there")


def _status(app: AirlockApp) -> str:
    return str(app.query_one("#status").render())


async def _answer(pilot: Pilot[int], key: str, text: str) -> None:
    """Press ``key``, answer its one-line question with ``text``."""
    await pilot.press(key)
    await _until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")


# -- verify -------------------------------------------------------------------------


async def test_verify_decides_reports_and_records_the_same_through_both_faces(
    faces: Faces, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = faces.cli("verify", str(faces.archive), "--trusted-root", str(faces.root), *SIGNERS, "-o", "json")  # fmt: skip
    cli_report = json.loads(out)
    app = faces.app(monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await _until(pilot, lambda: app.report is not None or app.error is not None)
        await pilot.press("q")
    assert app.report is not None, app.error
    assert app.return_code == code == 1  # rogue and the troubles are refused
    tui_report = dict(app.report)
    for report in (cli_report, tui_report):
        report.pop("audit")
        report.pop("trust")  # ages counted at the moment of each run
    assert _stable(tui_report) == _stable(cli_report)
    [cli_line] = faces.audit(faces.cli_state)
    [tui_line] = faces.audit(faces.tui_state)
    assert tui_line["via"] == "tui"
    assert _stable(tui_line) == _stable(cli_line)


# -- load, with a countersignature ---------------------------------------------------


@pytest.fixture(scope="module")
def key(softhsm: SoftHsm) -> str:
    softhsm.init_token("faces", user_pin=PIN)
    pkcs11.lib(softhsm.module_path).reinitialize()
    uri = f"pkcs11:token=faces;object=countersign?module-path={softhsm.module_path}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSIGN_PKCS11_PIN", PIN)
        patch.setenv(
            "APPLIANCE_STATE_DIR", str(softhsm.conf_path.parent / "keygen-state")
        )
        assert appliance(["pkcs11", "keygen", "--key", uri]) == 0
    return uri


@pytest.fixture
def gaps(tmp_path: Path, loopback: None) -> Iterator[tuple[Registry, Registry]]:
    """An in-gap registry for each face."""
    del loopback
    first = registry_mod.start(tmp_path / "cli-gap")
    second = registry_mod.start(tmp_path / "tui-gap")
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def _summaries(registry: Registry, references: list[str]) -> list[dict[str, Any]]:
    """The verification summaries (VSA predicates) the appliance wrote, one per loaded image."""
    found = []
    for reference in references:
        repository, digest = reference.split("@")
        tag = f"sha256-{digest.removeprefix('sha256:')}.att"
        manifest = json.loads(registry.get_manifest(repository, tag).body)
        for layer in manifest["layers"]:
            if (
                layer["annotations"].get("predicateType")
                != "https://slsa.dev/verification_summary/v1"
            ):
                continue  # fmt: skip
            envelope = json.loads(registry.get_blob(repository, layer["digest"]))
            statement = json.loads(base64.b64decode(envelope["payload"]))
            found.append(statement["predicate"])
    return found


def _pushed_images(line: dict[str, Any]) -> list[str]:
    return sorted(line["pushed"]["images"])


@pytest.mark.registry
@pytest.mark.hsm
async def test_load_with_a_countersignature_pushes_signs_records_and_remembers_the_same(
    faces: Faces,
    gaps: tuple[Registry, Registry],
    key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_gap, tui_gap = gaps
    code, out, err = faces.cli(
        "load", str(faces.archive), "--to", cli_gap.address, "--allow-http-registry",
        "--trusted-root", str(faces.root), *SIGNERS, "--countersign-key", key, "-o", "json",
        pin=True,
    )  # fmt: skip
    assert code == 1, err  # rogue and the troubles are refused; the rest is pushed
    cli_report = json.loads(out)

    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    app = faces.app(monkeypatch, "--allow-http-registry", "--countersign-key", key)
    async with app.run_test(size=(100, 30)) as pilot:
        await _until(pilot, lambda: app.judged is not None or app.error is not None)
        await _answer(pilot, "l", tui_gap.address)
        await _until(pilot, lambda: isinstance(app.screen, ConfirmLoad))
        await pilot.press("y")
        await _until(pilot, lambda: app.loaded is not None or "failed" in _status(app))
        assert app.loaded is not None, _status(app)
        await _answer(pilot, "k", PIN)
        await _until(
            pilot, lambda: "countersigned" in _status(app) or "✖" in _status(app)
        )
        assert "countersigned" in _status(app), _status(app)
        await pilot.press("q")

    # What reached each registry: the same images under the same names.
    cli_load = [line for line in faces.audit(faces.cli_state) if line["command"] == "load"][-1]  # fmt: skip
    tui_lines = faces.audit(faces.tui_state)
    tui_load = [line for line in tui_lines if line["command"] == "load"][-1]
    assert _pushed_images(cli_load) == _pushed_images(tui_load)
    assert sorted(cli_load["pushed"]["reached"]) == sorted(
        tui_load["pushed"]["reached"]
    )
    assert _stable(cli_load["images"]) == _stable(tui_load["images"])
    assert cli_report["load"]["plan"]["manifests"] == app.loaded.report["load"]["plan"]["manifests"]  # fmt: skip
    assert [line["command"] for line in tui_lines][-2:] == ["load", "countersign"]

    # The countersignatures: a summary per image, each naming the policy's
    # SHA-256, the same from both faces (the TUI named none before).
    images = [f"{i.repository}@{i.digest}" for i in app.loaded.plan.images]
    cli_vsa, tui_vsa = _summaries(cli_gap, images), _summaries(tui_gap, images)
    assert len(cli_vsa) == len(tui_vsa) == len(images)
    for cli_summary, tui_summary in zip(cli_vsa, tui_vsa, strict=True):
        assert cli_summary["policy"] == tui_summary["policy"]
        assert len(tui_summary["policy"]["digest"]["sha256"]) == 64
        for summary in (cli_summary, tui_summary):
            assert summary["verificationResult"] == "PASSED"

    # What the gap now holds, for the next delta: the same, whichever face loaded.
    inventories = {}
    for name, state in (("cli", faces.cli_state), ("tui", faces.tui_state)):
        out_file = faces.base / f"{name}-inventory.json"
        code, _, err = faces.run(state, "inventory", "-o", str(out_file))
        assert code == 0, err
        inventories[name] = json.loads(out_file.read_text())
    assert inventories["tui"]["blobs"], (
        "a load from the TUI is recorded for the inventory"
    )
    assert inventories["tui"]["blobs"] == inventories["cli"]["blobs"]
    assert inventories["tui"]["manifests"] == inventories["cli"]["manifests"]


# -- extract --------------------------------------------------------------------------


def _layout(root: Path) -> tuple[str, list[str]]:
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return (root / "index.json").read_text(), files


async def test_extract_writes_and_records_the_same_layout_through_both_faces(
    faces: Faces, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_to, tui_to = faces.base / "cli-layout", faces.base / "tui-layout"
    code, _, err = faces.cli("extract", str(faces.archive), "--to", str(cli_to), "--trusted-root", str(faces.root), *SIGNERS)  # fmt: skip
    assert code == 1, err
    app = faces.app(monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await _until(pilot, lambda: app.judged is not None or app.error is not None)
        await _answer(pilot, "x", str(tui_to))
        await _until(pilot, lambda: "wrote" in _status(app) or "fail" in _status(app))
        await pilot.press("q")
    assert _layout(tui_to) == _layout(cli_to)
    cli_line = faces.audit(faces.cli_state)[-1]
    tui_line = faces.audit(faces.tui_state)[-1]
    assert cli_line["command"] == tui_line["command"] == "extract"
    assert _stable(tui_line) == _stable(cli_line)


# -- trust import -----------------------------------------------------------------------


async def test_trust_import_commits_and_records_the_same_through_both_faces(
    faces: Faces, tuf_repo: TufRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tuf_repo.write_to(faces.base / "v1")
    tuf_repo.publish()
    second = tuf_repo.write_to(faces.base / "v2")
    bootstrap = faces.base / "1.root.json"
    bootstrap.write_bytes(tuf_repo.initial_root())
    # Both start from the same held trust (a private deployment's first import).
    for state in (faces.cli_state, faces.tui_state):
        code, _, err = faces.run(state, "trust", "import", str(first), "--bootstrap-root", str(bootstrap))  # fmt: skip
        assert code == 0, err
    code, _, err = faces.cli("trust", "import", str(second))
    assert code == 0, err
    app = faces.app(monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await _until(pilot, lambda: app.judged is not None or app.error is not None)
        await _answer(pilot, "T", str(second))
        await _until(
            pilot, lambda: "trust import" in _status(app) or "imported" in _status(app)
        )
        assert "trust imported: root v" in _status(app), _status(app)
        await pilot.press("q")
    shown = {}
    for name, state in (("cli", faces.cli_state), ("tui", faces.tui_state)):
        code, out, err = faces.run(state, "trust", "show", "-o", "json")
        assert code == 0, err
        doc = json.loads(out)
        # The TUI verified the archive first (its logs' checkpoints are remembered).
        doc["memory"].pop("logs")
        shown[name] = _stable(doc)
    assert shown["tui"]["roles"]["timestamp"]["version"] == 2
    assert shown["tui"] == shown["cli"]
    cli_line = [line for line in faces.audit(faces.cli_state) if line["command"] == "trust-import"][-1]  # fmt: skip
    tui_line = [line for line in faces.audit(faces.tui_state) if line["command"] == "trust-import"][-1]  # fmt: skip
    assert _stable(tui_line) == _stable(cli_line)
