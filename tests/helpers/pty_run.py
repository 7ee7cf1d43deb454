"""Run a program under a pseudo-terminal and keep every byte it wrote.

Rich draws differently on a terminal (colours, the progress bar, its own
escape sequences), so what a terminal receives is only seen through a
terminal: ``os.openpty``, a window size set with ``TIOCSWINSZ``, the child's
three streams on the slave side, and the master side read until the child
has gone.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# What Rich itself writes: colours and styles, the cursor hidden and shown,
# and a transient progress bar erased line by line.
RICH_OWN = re.compile(
    r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\r(?=\n|\x1b|$)"
)


@dataclass(frozen=True)
class Ran:
    """A finished program: its exit status and its terminal's bytes."""

    code: int
    output: bytes

    @property
    def text(self) -> str:
        """The output as the terminal decodes it (UTF-8, strictly)."""
        return self.output.decode("utf-8")

    @property
    def plain(self) -> str:
        """The text without Rich's own escape sequences (what a screen shows, as lines)."""
        return RICH_OWN.sub("", self.text)


def terminal_env(state: Path, **extra: str) -> dict[str, str]:
    """The environment of a UTF-8 xterm, the appliance's state under ``state``."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "NO_COLOR"}
    }
    env.update(
        TERM="xterm-256color",
        LANG="C.UTF-8",
        APPLIANCE_STATE_DIR=str(state),
        **extra,
    )
    env.pop("LC_ALL", None)
    return env


def run(
    module: str,
    *args: str,
    env: dict[str, str],
    cwd: Path,
    columns: int = 80,
    rows: int = 24,
    timeout: float = 120.0,
) -> Ran:
    """``python -m module args...`` on a ``columns`` x ``rows`` pseudo-terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                child.kill()
                msg = f"{module} {' '.join(args)} did not finish in {timeout} s"
                raise AssertionError(msg)
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every slave descriptor closed, the child is gone
                break
            if not data:
                break
            chunks.append(data)
        code = child.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
    return Ran(code=code, output=b"".join(chunks))
