"""Input files are capped before they are read: one line, never a MemoryError."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from airlock_io import inputs
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from pathlib import Path


def test_a_file_over_its_cap_is_refused_by_size_alone(tmp_path: Path) -> None:
    big = tmp_path / "huge.sigstore.json"
    with big.open("wb") as handle:  # sparse: 3 GB on paper, nothing on disk
        handle.truncate(3 * 1024**3)
    with pytest.raises(InputError, match="3221225472 bytes, over the") as caught:
        inputs.read_file(big, what="bundle", max_bytes=inputs.MAX_BUNDLE_BYTES)
    assert caught.value.reason is Reason.LIMIT_EXCEEDED


def test_a_stream_without_a_size_is_cut_at_the_cap(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child writes and exits
        with fifo.open("wb") as handle:
            handle.write(b"x" * 100)
        os._exit(0)
    try:
        with pytest.raises(InputError, match="over the 10-byte limit"):
            inputs.read_file(fifo, what="key", max_bytes=10)
    finally:
        os.waitpid(pid, 0)


@pytest.mark.parametrize("name", ["absent", "."])
def test_unreadable_is_an_input_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="cannot read key") as caught:
        inputs.read_file(tmp_path / name, what="key", max_bytes=10)
    assert caught.value.reason is Reason.INPUT_UNREADABLE


def test_within_the_cap(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"0123456789")
    assert inputs.read_file(tmp_path / "k", what="key", max_bytes=10) == b"0123456789"
