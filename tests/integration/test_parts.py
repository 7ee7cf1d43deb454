"""An archive in parts: verified across them, damage named part by part, resent byte-identical."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from typing import TYPE_CHECKING, Any

import pytest
from textual.widgets import Input

from appliance.cli.main import _parser
from appliance.cli.main import main as appliance
from appliance.cli.tui_cmd import session
from appliance.core.archive.parts import Request
from appliance.tui.app import AirlockApp
from appliance.tui.screens import OpenScreen
from benchmarks.measure import timed
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard
from tests.helpers.exported import EPOCH, KEYLESS, Exported

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.registry


def _export(exported: Exported, out: Path, *extra: str) -> int:
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        return bundle_tools(
            ["export", exported.ref("app"), exported.ref("multi"), "--out", str(out), "--trusted-root", str(exported.root),
             "--allow-http-registry", exported.world.registry.address, "--cache", str(out.parent.parent / "cache"), "-o", "json", *extra]
        )  # fmt: skip


@pytest.fixture(scope="module")
def parted(
    exported: Exported, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    """Three parts of one export, and the part size."""
    folder = tmp_path_factory.mktemp("parts") / "media"
    folder.mkdir()
    whole = folder.parent / "whole.tar.zst"
    assert _export(exported, whole) == 0
    part_size = -(-whole.stat().st_size // 3)
    assert (
        _export(exported, folder / "transfer.tar.zst", "--split", str(part_size)) == 0
    )
    return folder, part_size


def _verify(
    folder: Path, capsys: pytest.CaptureFixture[str], exported: Exported, *extra: str
) -> tuple[int, str]:
    capsys.readouterr()
    code = appliance(
        ["verify", str(folder), "--trusted-root", str(exported.root), *KEYLESS, *extra]
    )
    return code, capsys.readouterr().err


def test_the_parts_are_media_sized_and_verify_in_place(
    parted: tuple[Path, int],
    exported: Exported,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    folder, part_size = parted
    index = json.loads((folder / "transfer.parts.json").read_text())
    sizes = [p["size"] for p in index["parts"]]
    assert len(sizes) == 3
    assert sizes[:2] == [part_size, part_size]
    assert sorted(p.name for p in folder.iterdir()) == [
        "transfer.part-0001.tar.zst",
        "transfer.part-0002.tar.zst",
        "transfer.part-0003.tar.zst",
        "transfer.parts.json",
    ]
    assert (
        index["archive"]["sha256"]
        == "sha256:"
        + hashlib.sha256(
            b"".join((folder / p["name"]).read_bytes() for p in index["parts"])
        ).hexdigest()
    )
    code, err = _verify(folder / "transfer.parts.json", capsys, exported)
    assert code == 0, err
    assert "2 of 2 image(s) verified" in err
    # Nothing is put back together on disk: the only writes are the state's.
    run = timed(
        [
            sys.executable,
            "-m",
            "appliance",
            "verify",
            str(folder),
            "--trusted-root",
            str(exported.root),
            *KEYLESS,
        ],
        env={
            "APPLIANCE_STATE_DIR": str(tmp_path / "state"),
            "PATH": "/usr/bin:/bin",
            "TMPDIR": str(tmp_path),
            # What verification writes, not the interpreter's bytecode cache
            # (a source newer than its .pyc would be compiled and counted).
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    state = sum(
        p.stat().st_size for p in (tmp_path / "state").rglob("*") if p.is_file()
    )
    # A reassembled archive would write every part again (6 MiB, over 12,000
    # blocks); the slack is for what the file system charges to a process that
    # fsyncs (journal and metadata blocks), which grows when other tests write
    # beside it (`make test` runs on every core): 68 KiB was seen under load.
    slack = 512 * 1024
    assert sum(p["size"] for p in index["parts"]) > 8 * slack
    assert run.blocks_written * 512 <= state + slack
    # No temporary file, no reassembled archive: only states (the in-process one's too).
    assert {p.name for p in tmp_path.iterdir()} <= {"state", "appliance-state"}


def _damage(path: Path, how: str) -> None:
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))


@pytest.mark.slow
@pytest.mark.parametrize("number", [1, 2, 3])
@pytest.mark.parametrize("how", ["deleted", "truncated", "flipped"])
def test_a_damaged_part_is_named_and_resent_byte_identical(
    parted: tuple[Path, int],
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    number: int,
    how: str,
) -> None:
    source, _ = parted
    folder = tmp_path / "media"
    shutil.copytree(source, folder)
    part = folder / f"transfer.part-{number:04d}.tar.zst"
    original = part.read_bytes()
    _damage(part, how)
    request = tmp_path / "request.json"
    code, err = _verify(folder, capsys, exported, "--request-out", str(request))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    asked: dict[str, Any] = json.loads(request.read_text())
    assert [p["name"] for p in asked["resend"]] == [part.name]
    assert (
        asked["resend"][0]["reason"]
        == {"deleted": "missing", "truncated": "truncated", "flipped": "altered"}[how]
    )
    assert _export(exported, folder / "transfer.tar.zst", "--resend", str(request)) == 0
    assert part.read_bytes() == original
    code, err = _verify(folder, capsys, exported)
    assert code == 0, err


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _edit(request: Path, how: str) -> None:
    """An edited re-request list for the right archive: some part of it cannot be regenerated."""
    doc = json.loads(request.read_text())
    asked = doc["resend"][0]
    if how == "a part of another hash":
        asked["sha256"] = "sha256:" + "0" * 64
    elif how == "a part of another size":
        asked["size"] -= 1
    elif how == "a part past the last":
        doc["resend"].append(
            {**asked, "number": 4, "name": "transfer.part-0004.tar.zst"}
        )
    else:  # another part size: every part cut elsewhere
        doc["partSize"] -= 1
    request.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "how",
    [
        "other inputs",
        "a part of another hash",
        "a part of another size",
        "a part past the last",
        "another part size",
        "another out name",
    ],
)
def test_a_refused_resend_writes_nothing(
    parted: tuple[Path, int],
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    source, _ = parted
    folder = tmp_path / "media"
    shutil.copytree(source, folder)
    (folder / "transfer.part-0002.tar.zst").unlink()
    request = tmp_path / "request.json"
    _verify(folder, capsys, exported, "--request-out", str(request))
    if how not in {"other inputs", "another out name"}:
        _edit(request, how)
    before = _files(folder)
    out = folder / (
        "other.tar.zst" if how == "another out name" else "transfer.tar.zst"
    )
    capsys.readouterr()
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        # Another export time is other bytes: other inputs.
        patch.setenv(
            "SOURCE_DATE_EPOCH", "1790000001" if how == "other inputs" else EPOCH
        )
        code = bundle_tools(
            ["export", exported.ref("app"), exported.ref("multi"), "--out", str(out),
             "--trusted-root", str(exported.root), "--allow-http-registry", exported.world.registry.address,
             "--cache", str(tmp_path / "cache"), "--resend", str(request)]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]  # after the progress lines
    assert "--resend" in line
    if how == "other inputs":
        assert "the inputs changed" in line
    assert _files(folder) == before


def _tui(media: Path, exported: Exported) -> AirlockApp:
    """The TUI, its open screen rooted at ``media``."""
    args = _parser().parse_args(["tui", "--trusted-root", str(exported.root), *KEYLESS])
    return AirlockApp(session(args), root=media)


@pytest.mark.parametrize("damaged", [False, True])
async def test_the_tui_lists_a_split_archive_by_its_index_and_verifies_it(
    parted: tuple[Path, int], exported: Exported, tmp_path: Path, damaged: bool
) -> None:
    media = tmp_path / "media"
    shutil.copytree(parted[0], media)
    if damaged:
        (media / "transfer.part-0002.tar.zst").unlink()
    app = _tui(media, exported)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("o")
        await pilot.pause(0.3)
        assert isinstance(app.screen, OpenScreen)
        tree = app.screen.query_one("#tree")
        names = [str(node.data.path.name) for node in tree.root.children]  # type: ignore[attr-defined]
        assert names == [
            "transfer.parts.json"
        ]  # the parts themselves are read through it
        await pilot.press("down", "enter")
        await pilot.pause(0.5)
        summary = str(app.screen.query_one("#summary").render())
        if damaged:
            assert "transfer.part-0002.tar.zst" in summary
            assert "exported by" not in summary
            await pilot.press("enter")  # verify anyway: nothing is judged
            for _ in range(200):
                await pilot.pause(0.05)
                if app.error is not None:
                    break
            assert app.judged is None
            assert app.error is not None
            assert (
                "send these parts again: transfer.part-0002.tar.zst (missing)"
                in app.error
            )
            await pilot.press("w")
            await pilot.pause(0.05)
            request = tmp_path / "carry" / "REQUEST.json"
            request.parent.mkdir()
            app.screen.query_one(Input).value = str(request)
            await pilot.press("enter")
            await pilot.pause(0.1)
            asked = Request.from_bytes(request.read_bytes(), where=str(request))
            assert [p.name for p in asked.parts] == ["transfer.part-0002.tar.zst"]
            assert asked.reasons == ("missing",)
            return
        assert "3 part(s)" in summary
        assert "exported by bundle-tools" in summary
        assert "2 image(s)" in summary
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.05)
            if app.judged is not None or app.error is not None:
                break
        assert app.judged is not None, app.error
        assert app.judged.verdict.verified
        assert len(app.judged.verdict.images) == 2
