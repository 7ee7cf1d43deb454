"""``appliance tui`` in a real terminal: tmux, send-keys, capture-pane.

The sealed entry point (``python -m appliance``; Textual draws on stderr) runs in an 80x24 tmux pane
on the committed archive of tests/assets/tui: the verdicts are read off the
screen, a failure's detail is opened, and ``q`` ends the program with its
documented exit status. Then the same on a VT100 with ``LANG=C``: the ASCII
marks.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is installed by make test"
)


class Pane:
    """One detached tmux session running one command."""

    def __init__(
        self, command: str, cwd: Path, *, width: int = 80, height: int = 24
    ) -> None:
        self.name = f"airlock-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                self.name,
                "-c",
                str(cwd),
                "-x",
                str(width),
                "-y",
                str(height),
                command,
            ],
            check=True,
        )

    def text(self) -> str:
        done = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, needle: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        screen = ""
        while time.monotonic() < deadline:
            screen = self.text()
            if needle in screen:
                return screen
            time.sleep(0.1)
        msg = f"{needle!r} never appeared; the screen was:\n{screen}"
        raise AssertionError(msg)

    def wait_gone(self, needle: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if needle not in self.text():
                return
            time.sleep(0.1)
        msg = f"{needle!r} never went away"
        raise AssertionError(msg)

    def close(self) -> None:
        subprocess.run(
            ["tmux", "kill-session", "-t", self.name], capture_output=True, check=False
        )


@pytest.fixture
def pane(
    tmp_path: Path, asset: Callable[[str], Path]
) -> Iterator[Callable[..., tuple[Pane, Path]]]:
    opened: list[Pane] = []

    def start(*env: str) -> tuple[Pane, Path]:
        status = tmp_path / f"exit-{len(opened)}"
        argv = [
            sys.executable, "-m", "appliance", "tui", str(asset("tui/transfer.tar.zst")),
            "--trusted-root", str(asset("tui/trusted_root.json")),
            "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", "https://oidc.airlock.test",
        ]  # fmt: skip
        command = (
            f"env APPLIANCE_STATE_DIR={shlex.quote(str(tmp_path / 'state'))} {' '.join(env)} "
            f"{shlex.join(argv)}; echo $? > {shlex.quote(str(status))}; sleep 30"
        )
        opened.append(Pane(command, tmp_path))
        return opened[-1], status

    yield start
    for item in opened:
        item.close()


def _exit_status(path: Path, seconds: float = 20) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    msg = "the program did not exit"
    raise AssertionError(msg)


def test_verify_read_the_verdicts_open_a_failure_and_quit(
    pane: Callable[..., tuple[Pane, Path]], tmp_path: Path
) -> None:
    term, status = pane("TERM=xterm-256color", "LANG=C.UTF-8")
    screen = term.wait_for("image(s) from")
    assert "4 of 9 image(s)" in screen
    assert screen.count("✔ verified") == 4
    assert screen.count("✖ refused") == 5
    term.keys("/", "rogue", "Enter")  # typed in one burst, as tmux delivers it
    term.wait_for("rogue:v1")
    term.wait_gone("tui/copied:v1")  # the filter applied: rogue is the only row
    term.keys("Enter")
    detail = term.wait_for("FAILED [identity-mismatch]")
    assert "fix: signed by someone the policy does not name" in detail
    term.keys("Escape")
    term.wait_for("verdict")
    term.keys("q")
    assert _exit_status(status) == 1  # documented: not every image verified
    assert "Traceback" not in term.text()


def test_a_vt100_with_lang_c_gets_ascii_marks(
    pane: Callable[..., tuple[Pane, Path]],
) -> None:
    term, status = pane("TERM=vt100", "LANG=C", "LC_ALL=C")
    screen = term.wait_for("image(s) from")
    assert "+ verified" in screen
    assert "x refused" in screen
    assert "✔" not in screen
    assert "✖" not in screen
    term.keys("q")
    assert _exit_status(status) == 1
