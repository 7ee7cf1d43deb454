"""Atomic writes: the old bytes or the new ones, never a half, never a leftover."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from airlock_io import atomic
from tests.helpers.listings import record_listings


def test_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    atomic.write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failure_keeps_the_old_bytes_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def no_space(fd: int) -> None:
        del fd
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_missing_directory_changes_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic.write_atomically(tmp_path / "absent" / "x", b"data")
    assert not (tmp_path / "absent").exists()


# -- never destroy, never leak, never linger (hardening) ------------------------


def test_a_device_is_never_replaced(tmp_path: Path) -> None:
    """As root, ``sign-blob --bundle /dev/null`` once turned the node into a file."""
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    for target in (Path("/dev/null"), link):
        with pytest.raises(atomic.UnsafeTargetError, match="not a regular file"):
            atomic.write_atomically(target, b"x")
    assert Path("/dev/null").is_char_device()
    assert link.is_symlink()


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_directories_and_fifos_are_refused(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "t"
    if kind == "directory":
        target.mkdir()
    else:
        os.mkfifo(target)
    with pytest.raises(atomic.UnsafeTargetError):
        atomic.write_atomically(target, b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["t"]


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "keys" / "release.pub"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "release.pub"
    link.symlink_to(real)
    atomic.write_atomically(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "out.json"
    link.symlink_to(tmp_path / "real.json")
    atomic.write_atomically(link, b"{}")
    assert (tmp_path / "real.json").read_bytes() == b"{}"
    assert link.is_symlink()


def test_new_files_are_public_unless_secret(tmp_path: Path) -> None:
    atomic.write_atomically(tmp_path / "release.pub", b"pem")
    atomic.write_atomically(tmp_path / "state", b"s", secret=True)
    assert stat.S_IMODE((tmp_path / "release.pub").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o600


def test_the_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "bundle.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic.write_atomically(target, b"new", secret=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_leftovers_of_dead_processes_are_swept(tmp_path: Path) -> None:
    target = tmp_path / "b.json"
    # Above Linux's largest pid_max (2**22): no process can have this pid.
    stale = tmp_path / f".b.json.airlock-{2**22 + 12345}-0000.tmp"
    stale.write_bytes(b"half")
    live = atomic.temporary_name(target)  # this process: alive, kept
    live.write_bytes(b"mine")
    other = tmp_path / ".c.json.airlock-99999999-0000.tmp"  # another target's
    other.write_bytes(b"x")
    atomic.write_atomically(target, b"whole")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert stale.name not in names
    assert live.name in names
    assert other.name in names


def test_a_directory_sweep_takes_every_dead_temporary_and_nothing_else(
    tmp_path: Path,
) -> None:
    dead = 2**22 + 12345  # above Linux's largest pid_max: never a live process
    gone = [
        tmp_path / f".layout.airlock-{dead}-00aa.tmp",  # a killed extract's directory
        tmp_path / f".b.json.airlock-{dead}-0000.tmp",  # a killed atomic write
        tmp_path / f".x.airlock-y.airlock-{dead}-0000.tmp",  # a target named like one
    ]
    (gone[0] / "blobs" / "sha256").mkdir(parents=True)
    (gone[0] / "blobs" / "sha256" / "ab").write_bytes(b"a blob")
    gone[1].write_bytes(b"half")
    gone[2].write_bytes(b"half")
    outside = tmp_path.parent / f"outside-{dead}"
    outside.mkdir()
    (outside / "keep").write_bytes(b"not ours")
    kept = [
        atomic.temporary_name(tmp_path / "live"),  # this process: alive
        tmp_path / f"layout.airlock-{dead}-0000.tmp",  # not hidden: not ours
        tmp_path / f".layout.airlock-{dead}-0000.part",  # not a temporary
        tmp_path / ".layout.airlock-pid-0000.tmp",  # no process id
        tmp_path / f".layout.{dead}-0000.tmp",  # no mark
        tmp_path / "layout",
    ]
    for path in kept:
        path.write_bytes(b"kept")
    link = tmp_path / f".linked.airlock-{dead}-0000.tmp"
    link.symlink_to(outside)  # a link is removed, never followed
    atomic.sweep_directory(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)
    assert (outside / "keep").read_bytes() == b"not ours"


def test_an_interruption_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "b.json"
    target.write_bytes(b"old")

    def interrupted(fd: int) -> None:
        del fd
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_atomically(target, b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]
    assert target.read_bytes() == b"old"


def test_a_batch_sweep_lists_each_directory_once_and_takes_only_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = 2**22 + 12345  # above Linux's largest pid_max: never a live process
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    targets = [one / "aa", one / "bb", two / "cc"]
    gone = [p.with_name(f".{p.name}.airlock-{dead}-0000.tmp") for p in targets]
    kept = [
        one / f".dd.airlock-{dead}-0000.tmp",  # a file not in the batch
        one / f".aa.airlock-x.airlock-{dead}-0000.tmp",  # "aa.airlock-x"'s, not aa's
        atomic.temporary_name(one / "bb"),  # this process: alive
        two / "cc",
    ]
    for path in gone + kept:
        path.write_bytes(b"x")
    listed = record_listings(monkeypatch)
    atomic.sweep_all(iter(targets))  # any iterable, read once
    assert sorted(listed) == sorted([os.fspath(one), os.fspath(two)])
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in kept)


def test_a_sweep_of_a_missing_directory_is_nothing(tmp_path: Path) -> None:
    atomic.sweep_all([tmp_path / "absent" / "file"])
    atomic.sweep(tmp_path / "absent" / "file")
    assert list(tmp_path.iterdir()) == []
