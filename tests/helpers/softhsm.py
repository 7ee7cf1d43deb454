"""A private SoftHSM2 token for the test session.

Each session gets its own ``SOFTHSM2_CONF`` and token directory, initialised
with Debian's ``softhsm2-util`` (python-pkcs11 has no C_InitToken). Tokens are
selected by label, never by slot number: SoftHSM assigns random slot IDs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)


class SoftHsmError(RuntimeError):
    """SoftHSM is missing or a token could not be created."""


@dataclass(frozen=True)
class SoftHsm:
    """A SoftHSM configuration with one initialised token."""

    module_path: str
    conf_path: Path
    token_label: str
    user_pin: str
    so_pin: str

    def init_token(self, label: str, *, user_pin: str | None = None) -> None:
        """Initialise one more token in the same configuration."""
        _init_token(self.conf_path, label, user_pin or self.user_pin, self.so_pin)


def module_path() -> str:
    """Return the path of the SoftHSM PKCS#11 module."""
    for candidate in _MODULE_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    msg = "libsofthsm2.so not found (make test installs softhsm2)"
    raise SoftHsmError(msg)


def _init_token(conf: Path, label: str, user_pin: str, so_pin: str) -> None:
    tool = shutil.which("softhsm2-util")
    if tool is None:
        msg = "softhsm2-util not found (make test installs softhsm2)"
        raise SoftHsmError(msg)
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    cmd = [
        tool,
        "--init-token",
        "--free",
        "--label",
        label,
        "--so-pin",
        so_pin,
        "--pin",
        user_pin,
    ]
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        msg = f"softhsm2-util --init-token failed: {done.stderr.strip() or done.stdout.strip()}"
        raise SoftHsmError(msg)


def create(
    workdir: Path,
    *,
    token_label: str = "airlock-test",
    user_pin: str = "1234",
    so_pin: str = "12345678",
) -> SoftHsm:
    """Write a private SoftHSM configuration under ``workdir`` with one token.

    The caller must export ``SOFTHSM2_CONF`` before the module is first loaded.
    """
    tokens = workdir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = workdir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    _init_token(conf, token_label, user_pin, so_pin)
    return SoftHsm(
        module_path=module_path(),
        conf_path=conf,
        token_label=token_label,
        user_pin=user_pin,
        so_pin=so_pin,
    )
