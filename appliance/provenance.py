"""What this appliance is: its version, the commit it was built from, and its manifest's SHA-256.

The sealed build carries ``airlock/commit`` (written by build/build.sh) and ships beside a manifest of every file of its folder
(``appliance.sha256``); the manifest's own SHA-256 names the build, so an
auditor can match a running appliance to a rebuild from the same commit.
"""

from __future__ import annotations

import os.path
import sys

from appliance import __version__


def _sha256(data: bytes) -> str:
    # CPython's own SHA-256 (the module hashlib falls back to): loading
    # OpenSSL through hashlib would add ~2.5 ms to every `--version`.
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415 - 3.12+
    except ImportError:
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]  # noqa: PLC0415 - 3.11
    return str(sha256(data).hexdigest())


def describe() -> str:
    """``appliance VERSION (commit C, manifest sha256 M)``, or ``(from source)``."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or bundle is None:
        return f"appliance {__version__} (from source)"
    # os.path, not pathlib: this runs on every `--version`, before anything else.
    commit_file = os.path.join(bundle, "airlock", "commit")  # noqa: PTH118
    try:
        with open(commit_file, encoding="ascii") as handle:  # noqa: PTH123
            commit = handle.read().strip() or "unknown"
    except (OSError, ValueError):
        commit = "unknown"
    folder = os.path.dirname(os.path.realpath(sys.executable))  # noqa: PTH120
    manifest = f"{folder}.sha256"
    try:
        with open(manifest, "rb") as handle:  # noqa: PTH123
            digest = _sha256(handle.read())
    except OSError:
        digest = f"unknown: no {os.path.basename(manifest)} beside the folder"  # noqa: PTH119
    return f"appliance {__version__} (commit {commit}, manifest sha256 {digest})"
