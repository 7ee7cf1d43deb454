"""SIGTERM, SIGINT and SIGKILL mid-write: nothing half-written is kept, and
what a killed run left behind is removed by the next one.

A real signal is delivered to a real ``appliance`` process at the worst
moment: the driver below makes the process signal itself from inside the
write it is doing (while a temporary file or pending directory exists).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from appliance.cli.main import main
from tests.helpers.exported import KEYLESS, Exported
from tests.helpers.vectors import ROOT_SIGNING, serve_root_signing

if TYPE_CHECKING:
    from pathlib import Path

BOOTSTRAP_5 = ROOT_SIGNING / "metadata" / "root_history" / "5.root.json"
DEAD_PID = 2**22 + 7  # above Linux's largest pid_max: never a live process

_DRIVER = """
import os, signal, sys
from appliance import _seal
_seal.install()
import {module} as target
real = target.{function}
def interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.{signal})
    return real(*args, **kwargs)
target.{function} = interrupted
from appliance.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def _run_signalled(
    module: str, function: str, sig: str, *argv: str
) -> subprocess.CompletedProcess[str]:
    driver = _DRIVER.format(module=module, function=function, signal=sig)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(driver), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )


def _leftovers(directory: Path) -> list[str]:
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if ".airlock-" in p.name or p.name.startswith(".import")
    )


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_during_trust_import_keeps_nothing(tmp_path: Path, sig: str) -> None:
    served = serve_root_signing(tmp_path / "served")
    done = _run_signalled(
        "appliance.trust.state",
        "_write_synced",
        sig,
        "trust",
        "import",
        str(served),
        "--bootstrap-root",
        str(BOOTSTRAP_5),
        "--trust-max-age",
        "3650d",
    )
    assert done.returncode == 1, done.stderr
    assert f"interrupted ({sig})" in done.stderr
    assert "Traceback" not in done.stderr
    trust = tmp_path / "appliance-state" / "trust"
    assert _leftovers(trust) == []
    assert not (trust / "state.json").exists()
    assert [p.name for p in trust.iterdir() if not p.name.startswith(".")] == []


def test_signal_during_sign_blob_keeps_nothing(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b.json").write_bytes(b"the previous bundle")
    done = _run_signalled(
        "os",
        "fsync",
        "SIGTERM",
        "sign-blob",
        str(tmp_path / "a"),
        "--key",
        str(key),
        "--bundle",
        str(tmp_path / "b.json"),
    )
    assert done.returncode == 1, done.stderr
    assert "interrupted (SIGTERM)" in done.stderr
    assert _leftovers(tmp_path) == []
    assert (tmp_path / "b.json").read_bytes() == b"the previous bundle"


def test_what_a_killed_import_left_is_removed_by_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = serve_root_signing(tmp_path / "served")
    argv = [
        "trust",
        "import",
        str(served),
        "--bootstrap-root",
        str(BOOTSTRAP_5),
        "--trust-max-age",
        "3650d",
    ]
    assert main(argv) == 0
    trust = tmp_path / "appliance-state" / "trust"
    current = next(
        p for p in trust.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    # What SIGKILL leaves at each point of a commit: a pending directory, a
    # renamed but never committed version directory, a state.json temporary.
    pending = trust / f".import.airlock-{DEAD_PID}-0000.tmp"
    (pending / "root_history").mkdir(parents=True)
    (pending / "root.json").write_bytes(b"{")
    orphan = trust / "999-deadbeef0000"
    orphan.mkdir()
    (orphan / "trusted_root.json").write_bytes(b"{}")
    temp = trust / f".state.json.airlock-{DEAD_PID}-0000.tmp"
    temp.write_bytes(b'{"state_version"')
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    names = sorted(p.name for p in trust.iterdir())
    assert pending.name not in names
    assert orphan.name not in names
    assert temp.name not in names
    assert current.name not in names  # superseded by this import
    visible = [n for n in names if not n.startswith(".")]
    assert len(visible) == 2
    assert "state.json" in visible


def test_sigkill_mid_sign_blob_then_the_next_write_sweeps(tmp_path: Path) -> None:
    (tmp_path / f".b.json.airlock-{DEAD_PID}-0000.tmp").write_bytes(b"half a bundle")
    from airlock_io.atomic import write_atomically  # noqa: PLC0415

    write_atomically(tmp_path / "b.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]


# Kills the process itself (SIGKILL: no clean-up runs) once two blobs of the
# layout are written, so that its temporary directory holds real content.
_KILLED_EXTRACT = """
import os, signal, sys
from appliance import _seal
_seal.install()
from appliance.load import extract
real = extract._BlobFile.finish
done = []
def finish(self, sha256):
    real(self, sha256)
    done.append(sha256)
    if len(done) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
extract._BlobFile.finish = finish
from appliance.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.registry
@pytest.mark.parametrize("next_name", ["verified", "another"])
def test_what_a_killed_extract_left_is_swept_by_the_next(
    exported: Exported,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    next_name: str,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argv = ["--trusted-root", str(exported.root), *KEYLESS, "--image", exported.ref("app")]  # fmt: skip
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_EXTRACT, "extract", str(exported.archive),
         "--to", str(out / "verified"), *argv],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (left,) = out.iterdir()
    assert left.name.startswith(".verified.airlock-")
    assert len(list((left / "blobs" / "sha256").iterdir())) == 2
    # A live writer's temporary (this process's) is never taken.
    live = out / f".report.json.airlock-{os.getpid()}-0000.tmp"
    live.write_bytes(b"being written")
    capsys.readouterr()
    code = main(["extract", str(exported.archive), "--to", str(out / next_name), *argv])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted([live.name, next_name])
    assert (out / next_name / "index.json").is_file()
