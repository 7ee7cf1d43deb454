"""``appliance tui`` driven by Textual's Pilot: each flow, asserting on the application's state.

The archive is the committed one of tests/assets/tui (signed by the local
Sigstore stack); the flows that act (load, countersign) use a fresh in-gap
registry and a SoftHSM token.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from textual.widgets import DataTable, Input

from appliance.cli.main import _parser
from appliance.cli.main import main as appliance
from appliance.cli.tui_cmd import session
from appliance.core.archive import layout
from appliance.core.archive import media as m
from appliance.core.archive.ledger import Content, ImageEntry, Ledger, TrustEntry
from appliance.core.archive.manifest import Descriptor, digest_of
from appliance.core.policyfile import PolicySpec
from appliance.tui import present
from appliance.tui.app import AirlockApp
from appliance.tui.screens import (
    ConfirmLoad,
    IdentitiesScreen,
    OpenScreen,
    TextModal,
    TextScreen,
)
from tests.helpers.world import IDENTITY, ROGUE

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from textual.pilot import Pilot

    from tests.helpers.registry import Registry
    from tests.helpers.softhsm import SoftHsm

ISSUER = "https://oidc.airlock.test"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files the app writes by default (a report, a snippet) land in the test's directory."""
    monkeypatch.chdir(tmp_path)


PIN = "8813-TuiPin-Lw2"


def _args(
    asset: Callable[[str], Path], *extra: str, archive: bool = True
) -> argparse.Namespace:
    archive_path = asset("tui/transfer.tar.zst")
    root = asset("tui/trusted_root.json")
    argv = [
        "tui",
        *([str(archive_path)] if archive else []),
        "--trusted-root",
        str(root),
    ]
    argv += [
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        *extra,
    ]
    return _parser().parse_args(argv)


async def _verified(pilot: Pilot[int]) -> AirlockApp:
    app = pilot.app
    assert isinstance(app, AirlockApp)
    for _ in range(200):
        await pilot.pause(0.05)
        if app.judged is not None or app.error is not None:
            break
    assert app.judged is not None, app.error
    return app


async def test_verify_shows_failures_first_and_stays_responsive(
    asset: Callable[[str], Path],
) -> None:
    app = AirlockApp(session(_args(asset)))
    async with app.run_test(size=(80, 24)) as pilot:
        await _verified(pilot)
        table = app.query_one("#images", DataTable)
        assert table.row_count == 9
        verdicts = [table.get_row_at(i)[0] for i in range(table.row_count)]
        refused = [v for v in verdicts if "refused" in str(v)]
        assert verdicts[: len(refused)] == refused  # failures first
        assert len(refused) == 5
        assert "4 of 9 image(s) from 127.0.0.1:34639 verified" in str(
            app.query_one("#status").render()
        )
        await pilot.press("s")  # by reference now
        shown = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert shown == sorted(shown)


async def test_filter_narrows_the_table(asset: Callable[[str], Path]) -> None:
    app = AirlockApp(session(_args(asset)))
    async with app.run_test(size=(80, 24)) as pilot:
        await _verified(pilot)
        await pilot.press("slash", *"rogue")
        table = app.query_one("#images", DataTable)
        assert table.row_count == 1
        assert "rogue" in str(table.get_row_at(0)[1])
        await pilot.press("escape")
        assert table.row_count == 9
        assert app.needle == ""


async def test_drilling_into_a_failure_shows_the_failed_check_first_and_a_fix(
    asset: Callable[[str], Path],
) -> None:
    app = AirlockApp(session(_args(asset)))
    async with app.run_test(size=(80, 24)) as pilot:
        await _verified(pilot)
        await pilot.press("slash", *"rogue", "enter", "enter")
        await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, TextScreen)
        texts = [line.text for line in screen.lines]
        assert texts[2].startswith(f"{app.mark.bad} refused [identity-mismatch]")
        assert any(
            t.startswith("fix: signed by someone the policy does not name")
            for t in texts
        )
        first_evidence = next(
            i for i, t in enumerate(texts) if "signature (cosign-legacy)" in t
        )
        assert texts[first_evidence + 1].startswith("  FAILED [identity-mismatch]")
        assert any(ROGUE in t for t in texts)
        await pilot.press("escape")
        assert not isinstance(app.screen, TextScreen)


async def test_a_verified_image_lists_every_check(asset: Callable[[str], Path]) -> None:
    app = AirlockApp(session(_args(asset)))
    async with app.run_test(size=(120, 40)) as pilot:
        await _verified(pilot)
        await pilot.press("slash", *"tui/app", "enter", "enter")
        await pilot.pause(0.1)
        texts = [line.text for line in app.screen.lines]  # type: ignore[attr-defined]
        assert any("embedded SCT verifies" in t for t in texts)
        assert any("log: https://rekor.airlock.test index" in t for t in texts)
        assert any(
            t.strip().startswith(
                "SLSA provenance: builder https://ci.airlock.test/builder"
            )
            for t in texts
        )
        assert any(
            t.startswith("SBOM SPDX SPDX-2.3, 2 packages, not signed") for t in texts
        )


async def test_trust_and_identities(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    app = AirlockApp(session(_args(asset)))
    async with app.run_test(size=(80, 24)) as pilot:
        await _verified(pilot)
        await pilot.press("t")
        await pilot.pause(0.05)
        texts = [line.text for line in app.screen.lines]  # type: ignore[attr-defined]
        assert "tuf_backed: False" in texts
        assert any(
            t.startswith(
                "sha256: "
                + hashlib.sha256(
                    asset("tui/trusted_root.json").read_bytes()
                ).hexdigest()
            )
            for t in texts
        )
        await pilot.press("escape", "i")
        await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, IdentitiesScreen)
        who = {i.who: i for i in screen.found}
        assert ROGUE in who
        assert any("tui/rogue" in ref for ref in who[ROGUE].images)
        assert len(who[IDENTITY].images) >= 4
        snippet = tmp_path / "snippet.toml"
        await pilot.press("c")
        await pilot.pause(0.05)
        field = app.screen.query_one(Input)
        field.value = str(snippet)
        await pilot.press("enter")
        await pilot.pause(0.1)
    assert f'identity = "{IDENTITY}"' in snippet.read_text()
    assert PolicySpec.from_toml(snippet.read_bytes(), source="snippet").rules


async def test_save_report(asset: Callable[[str], Path], tmp_path: Path) -> None:
    app = AirlockApp(session(_args(asset)))
    report = tmp_path / "report.json"
    async with app.run_test(size=(80, 24)) as pilot:
        await _verified(pilot)
        await pilot.press("r")
        await pilot.pause(0.05)
        assert isinstance(app.screen, TextModal)
        app.screen.query_one(Input).value = str(report)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.judged is not None
        assert (
            json.loads(report.read_text())["archive"]["sha256"]
            == app.judged.archive.sha256
        )


async def test_open_screen_shows_the_ledger_before_verifying(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "transfer.tar.zst").write_bytes(asset("tui/transfer.tar.zst").read_bytes())
    (media / "notes.txt").write_text("not an archive")
    app = AirlockApp(session(_args(asset, archive=False)), root=media)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("o")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, OpenScreen)
        tree = screen.query_one("#tree")
        await pilot.pause(0.2)
        names = [str(node.data.path.name) for node in tree.root.children]  # type: ignore[attr-defined]
        assert names == ["transfer.tar.zst"]  # archives only
        await pilot.press("down", "enter")
        await pilot.pause(0.5)
        summary = str(screen.query_one("#summary").render())
        assert "exported by bundle-tools" in summary
        assert "9 image(s)" in summary
        await pilot.press("enter")
        await _verified(pilot)


async def test_cancel_stops_a_running_verification(tmp_path: Path) -> None:
    """A layout whose one blob is 1 GiB of zeros (sparse): long enough to cancel mid-way."""
    size = 1 << 30
    zero = hashlib.sha256()
    chunk = bytes(1 << 20)
    for _ in range(size >> 20):
        zero.update(chunk)
    big = "sha256:" + zero.hexdigest()
    root = tmp_path / "big"
    (root / "blobs" / "sha256").mkdir(parents=True)
    with (root / "blobs" / "sha256" / big[7:]).open("wb") as handle:
        handle.truncate(size)
    config = b"{}"
    manifest = layout.canonical({"schemaVersion": 2, "mediaType": m.OCI_MANIFEST,
        "config": {"mediaType": m.OCI_CONFIG, "digest": digest_of(config), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": big, "size": size}]})  # fmt: skip
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    ledger = Ledger(tool="tests", tool_version="0", created=datetime(2026, 12, 1, tzinfo=UTC),
        images=(ImageEntry(asked="reg.test/big:v1", reference="reg.test/big:v1", digest=digest, media_type=m.OCI_MANIFEST, size=len(manifest)),),
        trust=TrustEntry(kind="none"), contents=(Content(digest=big, size=size, role="layer"),))  # fmt: skip
    artifact = layout.file_artifact(
        m.LEDGER, {"ledger.json": ledger.to_bytes()}, media_type=m.LEDGER
    )
    for name, data in [
        (digest, manifest),
        (digest_of(config), config),
        (artifact.digest, artifact.manifest),
        *artifact.blobs.items(),
    ]:
        (root / "blobs" / "sha256" / name[7:]).write_bytes(data)
    image = Descriptor(
        media_type=m.OCI_MANIFEST,
        digest=digest,
        size=len(manifest),
        annotations={m.KIND: "image"},
    )
    (root / "index.json").write_bytes(
        layout.index_json(
            [artifact.descriptor(kind="ledger", artifact_type=m.LEDGER), image]
        )
    )
    (root / "oci-layout").write_bytes(layout.OCI_LAYOUT)
    args = _parser().parse_args(
        [
            "tui",
            str(root),
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            ISSUER,
        ]
    )
    app = AirlockApp(session(args))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        assert app.judged is None
        await pilot.press("escape")
        for _ in range(100):
            await pilot.pause(0.05)
            if app.error:
                break
        assert app.error == "verification cancelled: nothing was verified"
        await pilot.press("q")
    assert app.return_code == 1


async def test_help_and_theme(asset: Callable[[str], Path]) -> None:
    app = AirlockApp(session(_args(asset)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause(0.05)
        assert isinstance(app.screen, TextScreen)
        assert any("q      quit" in line.text for line in app.screen.lines)
        await pilot.press("escape")
        before = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != before


def test_ascii_marks_where_the_terminal_cannot_show_glyphs() -> None:
    assert present.marks({"TERM": "vt100", "LANG": "en_US.UTF-8"}) == present.ASCII
    assert present.marks({"TERM": "xterm-256color", "LANG": "C"}) == present.ASCII
    assert (
        present.marks({"TERM": "xterm-256color", "LANG": "en_GB.UTF-8"})
        == present.UNICODE
    )
    assert (
        present.marks({"TERM": "xterm", "LC_ALL": "POSIX", "LANG": "en_US.UTF-8"})
        == present.ASCII
    )
    assert present.marks({"TERM": "screen"}) == present.UNICODE


def _loaded(app: AirlockApp) -> bool:
    return app.loaded is not None


@pytest.fixture(scope="module")
def token(softhsm: SoftHsm) -> str:
    softhsm.init_token("tui", user_pin=PIN)
    pkcs11.lib(softhsm.module_path).reinitialize()
    uri = f"pkcs11:token=tui;object=appliance?module-path={softhsm.module_path}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSIGN_PKCS11_PIN", PIN)
        assert appliance(["pkcs11", "keygen", "--key", uri]) == 0
    return uri


@pytest.mark.registry
@pytest.mark.hsm
async def test_load_asks_first_then_countersigning_asks_for_the_pin(
    asset: Callable[[str], Path],
    gap: Registry,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    app = AirlockApp(
        session(_args(asset, "--allow-http-registry", "--countersign-key", token))
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await _verified(pilot)
        await pilot.press("l")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = gap.address
        await pilot.press("enter")
        await pilot.pause(0.1)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLoad)
        assert len(confirm.pushed) == 4
        assert any("tui/rogue" in r for r in confirm.refused)
        await pilot.press("n")
        await pilot.pause(0.05)
        assert app.loaded is None
        await pilot.press("l")
        await pilot.pause(0.05)
        app.screen.query_one(Input).value = gap.address
        await pilot.press("enter")
        await pilot.pause(0.1)
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.05)
            if _loaded(app):
                break
        assert _loaded(app)
        await pilot.press("k")
        await pilot.pause(0.05)
        modal = app.screen
        assert isinstance(modal, TextModal)
        field = modal.query_one(Input)
        assert field.password is True
        await pilot.press(*PIN)
        assert PIN not in str(field.render())
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.05)
            if "countersigned" in str(app.query_one("#status").render()):
                break
        assert "countersigned 4 image(s)" in str(app.query_one("#status").render())
    text = (Path(os.environ["APPLIANCE_STATE_DIR"]) / "audit.jsonl").read_text()
    assert PIN not in text
    assert [json.loads(line)["command"] for line in text.splitlines()][-2:] == [
        "load",
        "countersign",
    ]


async def test_the_trust_screen_shows_the_policy_its_approvers_and_revocations(
    asset: Callable[[str], Path], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'[[rules]]\nmatch = ["**"]\n\n  [[rules.signers]]\n  identity = "{IDENTITY}"\n'
        f'  issuer = "{ISSUER}"\n\n[[deny]]\nidentity = "{IDENTITY}"\nissuer = "{ISSUER}"\n'
        'reason = "release workflow compromised"\n'
    )
    argv = [
        "tui",
        str(asset("tui/transfer.tar.zst")),
        "--trusted-root",
        str(asset("tui/trusted_root.json")),
        "--policy",
        str(policy),
    ]
    app = AirlockApp(session(_parser().parse_args(argv)))
    async with app.run_test(size=(120, 40)) as pilot:
        judged = (await _verified(pilot)).judged
        assert judged is not None
        assert not any(i.verified for i in judged.verdict.images)
        await pilot.press("t")
        await pilot.pause(0.05)
        texts = [line.text for line in app.screen.lines]  # type: ignore[attr-defined]
        assert f"policy: {policy}" in texts
        assert "approved by: nobody (two-person integrity is off)" in texts
        assert "deny entries in the policy: 1" in texts
        assert "revocation feeds: none applied" in texts
        # The detail names the entry and its reason.
        await pilot.press("escape", "enter")
        await pilot.pause(0.05)
        details = [line.text for line in app.screen.lines]  # type: ignore[attr-defined]
        assert any(
            "[denied-signer]" in t and "release workflow compromised" in t
            for t in details
        ), details
