"""A certificate's strings on the operator's terminal: its SAN and its OIDC issuer.

The test Sigstore stack issues a leaf for any SAN: here one with escape
sequences, markup and an emoji code (an RFC 822 name is ASCII), and an
issuer (a UTF8String) with bidi, zero-width and C1 characters. Whoever
signed is shown, even when the policy refuses them (that is who an operator
may want to add), so both must be shown escaped: by ``verify-blob``, in
``verify``'s table and in the TUI's detail and identities; and a policy
snippet written from the TUI names them exactly, as TOML strings, without
the quote or newline of a SAN writing a rule of its own.
"""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from textual.widgets import DataTable, Input

from appliance.cli.main import _parser
from appliance.cli.tui_cmd import session
from appliance.tui.app import AirlockApp
from appliance.tui.screens import IdentitiesScreen, TextScreen
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard, pty_run, publish
from tests.helpers.exported import EPOCH, KEYLESS, Exported
from tests.helpers.hostile_text import TITLE, assert_nothing_raw
from tests.helpers.screen import screen_with
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from pathlib import Path

    from textual.pilot import Pilot

# An RFC 822 name is ASCII ("+" stands in for the tick); a quote and a
# newline try to write a rule into a policy snippet.
SAN = 'x"\n[[rules]]\x1b]0;owned\x07\x1b[2K[green]+ verified[/green]:heavy_check_mark:@evil.test'
SAN_SHOWN = 'x"\\x0a[[rules]]\\x1b]0;owned\\x07\\x1b[2K[green]+ verified[/green]:heavy_check_mark\\:@evil.test'
ISSUER = "https://oidc.airlock.test\u202e\u2066\u200b\ufeff\x9b[bold]✔[/bold]"
ISSUER_SHOWN = (
    "https://oidc.airlock.test\\u202e\\u2066\\u200b\\ufeff\\x9b[bold]✔[/bold]"
)


def _folded(shown: str) -> str:
    """An error line is one line: its newlines became spaces before it was escaped."""
    return shown.replace("\\x0a", " ")


# -- verify-blob: no archive, no registry -----------------------------------------------


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A file, its bundle from the hostile signer, and the stack's trusted root."""
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    data = b"an artifact\n"
    signed = stack.sign_blob(data, identity=SAN, issuer=ISSUER)
    artifact = tmp_path / "a.txt"
    artifact.write_bytes(data)
    bundle = tmp_path / "a.sigstore.json"
    bundle.write_bytes(signed.bundle_bytes())
    root = tmp_path / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    return artifact, bundle, root


def _verify_blob(
    tmp_path: Path, blob: tuple[Path, Path, Path], *flags: str
) -> pty_run.Ran:
    artifact, bundle, root = blob
    return pty_run.run(
        "appliance",
        "verify-blob",
        str(artifact),
        "--bundle",
        str(bundle),
        "--trusted-root",
        str(root),
        *flags,
        env=pty_run.terminal_env(tmp_path / "state"),
        cwd=tmp_path,
        columns=400,
    )


def test_verify_blob_shows_the_signer_escaped(
    tmp_path: Path, blob: tuple[Path, Path, Path]
) -> None:
    ran = _verify_blob(
        tmp_path,
        blob,
        "--certificate-identity-regexp",
        "evil",
        "--certificate-oidc-issuer-regexp",
        "airlock",
    )
    assert ran.code == 0
    assert_nothing_raw(ran.plain)
    assert f"\x1b]0;{TITLE}".encode() not in ran.output
    signer = next(line for line in ran.plain.splitlines() if "signer:" in line)
    assert SAN_SHOWN in signer
    assert ISSUER_SHOWN in signer


def test_verify_blob_refusing_the_signer_names_it_escaped(
    tmp_path: Path, blob: tuple[Path, Path, Path]
) -> None:
    ran = _verify_blob(
        tmp_path,
        blob,
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
    )
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    lines = ran.plain.splitlines()
    assert len(lines) == 1
    assert _folded(SAN_SHOWN) in lines[0]
    assert "[[rules]]" in lines[0]  # on the error line, never on a line of its own


# -- an archive with an image the hostile signer signed ---------------------------------


@pytest.fixture(scope="module")
def signed_by_stranger(
    exported: Exported, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One image signed (legacy .sig) by the hostile SAN and issuer, exported."""
    base = tmp_path_factory.mktemp("stranger")
    registry = exported.world.registry
    stranger = copy.copy(exported.world.stack)  # the same CA, CT log and Rekor
    stranger.issuer = ISSUER
    archive = base / "transfer.tar.zst"
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(base / "docker"))
        image = publish.image(registry, "stranger/app", "v1")
        publish.Signer(registry, stranger).sign_legacy(image, identity=SAN)
        code = bundle_tools(
            [
                "export",
                image.reference,
                "--out",
                str(archive),
                "--trusted-root",
                str(exported.root),
                "--allow-http-registry",
                registry.address,
                "--cache",
                str(base / "cache"),
            ]
        )
    assert code == 0
    return archive


@pytest.mark.registry
def test_verify_table_names_the_refused_signer_escaped(
    exported: Exported, signed_by_stranger: Path, tmp_path: Path
) -> None:
    ran = pty_run.run(
        "appliance",
        "verify",
        str(signed_by_stranger),
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
        env=pty_run.terminal_env(tmp_path / "state"),
        cwd=tmp_path,
        columns=400,
    )
    assert ran.code == 1
    assert_nothing_raw(ran.plain)
    assert f"\x1b]0;{TITLE}".encode() not in ran.output
    row = next(line for line in ran.plain.splitlines() if "stranger/app" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[3] == "✖ REFUSED"
    assert _folded(SAN_SHOWN) in cells[6]


def _args(exported: Exported, archive: Path) -> object:
    return _parser().parse_args(
        ["tui", str(archive), "--trusted-root", str(exported.root), *KEYLESS]
    )


async def _verified(pilot: Pilot[int]) -> AirlockApp:
    app = pilot.app
    assert isinstance(app, AirlockApp)
    for _ in range(200):
        await pilot.pause(0.05)
        if app.judged is not None or app.error is not None:
            break
    assert app.judged is not None, app.error
    return app


@pytest.mark.registry
async def test_the_tui_shows_the_signer_escaped_and_writes_it_exactly(
    exported: Exported,
    signed_by_stranger: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path / "state"))
    app = AirlockApp(session(_args(exported, signed_by_stranger)))  # type: ignore[arg-type]
    async with app.run_test(size=(250, 50)) as pilot:
        await _verified(pilot)
        table = app.query_one("#images", DataTable)
        assert str(table.get_row_at(0)[0]) == f"{app.mark.bad} refused"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TextScreen)
        page = await screen_with(pilot, _folded(SAN_SHOWN))
        assert_nothing_raw(page)
        assert "FAILED [identity-mismatch]" in page
        await pilot.press("escape", "i")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, IdentitiesScreen)
        assert [i.who for i in screen.found] == [SAN]  # held exactly
        page = await screen_with(pilot, f"{SAN_SHOWN}  ({ISSUER_SHOWN})")
        assert_nothing_raw(page)
        snippet = tmp_path / "snippet.toml"
        await pilot.press("c")
        await pilot.pause(0.1)
        app.screen.query_one(Input).value = str(snippet)
        await pilot.press("enter")
        await pilot.pause(0.2)
    policy = tomllib.loads(snippet.read_text())
    assert len(policy["rules"]) == 1  # the SAN's "[[rules]]" wrote no rule
    assert policy["rules"][0]["signers"] == [{"identity": SAN, "issuer": ISSUER}]
