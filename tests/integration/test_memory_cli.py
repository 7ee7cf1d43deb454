"""The clock floor and the log memory, through the CLI, across restarts.

Each memory is written by one command and enforced by the next one, run in
a fresh process: what the appliance has seen survives a restart.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from appliance.cli.main import main
from tests.helpers.sigstore_stack import DEFAULT_ISSUER, SigstoreStack

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

IDENTITY = "dev@airlock.test"


def _files(
    stack: SigstoreStack, tmp_path: Path, name: str, data: bytes, doc: bytes
) -> list[str]:
    (tmp_path / name).write_bytes(data)
    (tmp_path / f"{name}.sigstore.json").write_bytes(doc)
    root = tmp_path / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    return [
        "verify-blob",
        str(tmp_path / name),
        "--bundle",
        str(tmp_path / f"{name}.sigstore.json"),
        "--trusted-root",
        str(root),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
    ]


def _fresh_process(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        check=False,
    )


def test_clock_floor_refuses_a_clock_behind_what_was_seen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A signing time two days ahead of this machine's clock, verified by a
    # trusted log: proof that the clock is behind.
    ahead = SigstoreStack(now=datetime.now(UTC) + timedelta(days=2))
    signed = ahead.sign_blob(b"from the future\n", identity=IDENTITY)
    argv = _files(ahead, tmp_path, "a.txt", b"from the future\n", signed.bundle_bytes())
    assert main([*argv, "-o", "json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["reason"] == "clock-before-floor"
    assert (
        "a time it has already seen (verified signing time of dev@airlock.test)" in err
    )

    # A restart changes nothing: every command that decides with the clock
    # refuses, naming the floor and where it came from.
    past = SigstoreStack(now=datetime.now(UTC) - timedelta(days=1))
    (tmp_path / "past").mkdir()
    good = _files(
        past, tmp_path / "past", "b.txt", b"b\n", past.sign_blob(b"b\n").bundle_bytes()
    )
    done = _fresh_process(*good)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1
    assert "earlier than" in done.stderr
    assert "verified signing time of dev@airlock.test" in done.stderr
    shown = json.loads(_fresh_process("trust", "show", "-o", "json").stdout)
    floor = shown["memory"]["clock_floor"]
    assert floor["source"] == "verified signing time of dev@airlock.test"
    assert floor["time"] == (ahead.now + timedelta(seconds=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    imported = _fresh_process("trust", "import", str(tmp_path))
    assert imported.returncode == 1
    assert "earlier than" in imported.stderr


def _fork(stack: SigstoreStack) -> SigstoreStack:
    """The same log key and history, then a different future: a split view."""
    fork = copy.copy(stack)
    fork.rekor = copy.copy(stack.rekor)
    fork.rekor.leaves = list(stack.rekor.leaves)
    fork.rekor.memo = dict(
        stack.rekor.memo
    )  # the shared history's subtrees; the futures diverge
    return fork


def test_split_view_is_refused_remembered_and_forgotten_on_purpose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sigstore_stack: SigstoreStack
) -> None:
    fork = _fork(sigstore_stack)
    a = sigstore_stack.sign_blob(b"a\n", identity=IDENTITY)
    b = fork.sign_blob(b"b\n", identity=IDENTITY)
    assert a.entry.tree_size == b.entry.tree_size
    assert a.entry.root_hash != b.entry.root_hash
    verify_a = _files(sigstore_stack, tmp_path, "a.txt", b"a\n", a.bundle_bytes())
    verify_b = _files(sigstore_stack, tmp_path, "b.txt", b"b\n", b.bundle_bytes())
    assert main(verify_a) == 0
    capsys.readouterr()

    # Each view verifies on its own; together they prove the log forked.
    assert main([*verify_b, "-o", "json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["reason"] == "split-view"
    assert "split view" in err

    # From now on the log vouches for nothing, even a good entry, in a new process.
    c = sigstore_stack.sign_blob(b"c\n", identity=IDENTITY)
    verify_c = _files(sigstore_stack, tmp_path, "c.txt", b"c\n", c.bundle_bytes())
    done = _fresh_process(*verify_c)
    assert done.returncode == 1
    assert "refused until an operator acts" in done.stderr
    shown = _fresh_process("trust", "show")
    assert f"SPLIT VIEW {sigstore_stack.rekor.origin}" in shown.stdout

    # The operator investigated: remove the record, on purpose.
    forget = _fresh_process("trust", "forget-split", sigstore_stack.rekor.origin)
    assert forget.returncode == 0, forget.stderr
    assert _fresh_process(*verify_c).returncode == 0
    assert main(["trust", "forget-split", "no.such.log"]) == 2
