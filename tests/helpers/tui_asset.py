"""Make the fixed archive the TUI's snapshot tests show (tests/assets/tui/).

Snapshots must not change from run to run, and a fresh export never repeats
(signatures are randomised, the registry's port is free-picked), so one
export is committed: the world of tests/helpers/world.py with small
deterministic layers, and its troubles, signed by the local Sigstore stack
whose trusted root is committed beside it. Run ``python -m
tests.helpers.tui_asset tests/assets/tui`` to make it again (then update the
snapshots: ``pytest tests/integration/test_tui_snapshots.py --snapshot-update``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard
from tests.helpers import registry as registry_mod
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.world import publish_trouble, publish_world


def make(out: Path) -> None:
    """Publish, export, and write ``transfer.tar.zst`` and ``trusted_root.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, netguard.loopback():
        server = registry_mod.start(Path(tmp) / "registry")
        try:
            stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
            world = publish_world(server, stack, namespace="tui", layer_bytes=0)
            trouble = publish_trouble(world)
            (out / "trusted_root.json").write_bytes(stack.trusted_root_json())
            os.environ["SOURCE_DATE_EPOCH"] = "1790000000"
            code = bundle_tools(
                ["export", *world.references, *trouble.references, "--out", str(out / "transfer.tar.zst"),
                 "--trusted-root", str(out / "trusted_root.json"), "--allow-http-registry", server.address,
                 "--cache", str(Path(tmp) / "cache")]
            )  # fmt: skip
        finally:
            server.stop()
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    netguard.install()
    make(Path(sys.argv[1]))
