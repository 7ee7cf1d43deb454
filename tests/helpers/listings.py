"""Count directory listings: a writer of many files must list their directory once, not once a file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def record_listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every directory ``os.scandir`` lists from now on, in order (until ``monkeypatch`` is undone)."""
    listed: list[str] = []
    real = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        listed.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return listed
