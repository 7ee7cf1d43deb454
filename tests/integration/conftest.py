"""Fixtures of the integration tests that share one exported world."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import registry as registry_mod
from tests.helpers.exported import Exported, export_world, runner

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.registry import Registry


@pytest.fixture(scope="session")
def exported(
    _registry_server: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Exported:
    """The world and its troubles, exported once for the session."""
    return export_world(_registry_server, tmp_path_factory.mktemp("exported-world"))


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
