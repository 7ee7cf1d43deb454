"""Fixtures of the integration tests (the exported world they share is in tests/conftest.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import registry as registry_mod
from tests.helpers.exported import runner

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.registry import Registry


@pytest.fixture
def verify(capsys: pytest.CaptureFixture[str]) -> Any:
    """``appliance verify ARCHIVE ... -o json``."""
    return runner(capsys, "verify")


@pytest.fixture
def gap(tmp_path: Path, loopback: None) -> Iterator[Registry]:
    """A fresh in-gap registry for each test."""
    del loopback
    server = registry_mod.start(tmp_path / "gap")
    try:
        yield server
    finally:
        server.stop()
