"""The trust state: committed atomically, re-checked on load, never half-used."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from appliance.core.errors import InputError, Reason, TrustRootError
from appliance.trust import state as state_mod
from appliance.trust.replay import replay
from appliance.trust.state import StateStore
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.tuf_repo import TufRepo

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.trust.replay import ReplayResult

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
def result() -> ReplayResult:
    repo = TufRepo(now=NOW)
    repo.add_target("trusted_root.json", SigstoreStack(now=NOW).trusted_root_json())
    repo.publish()
    return replay(repo.files.get, bootstrap=repo.initial_root(), now=NOW)


def test_round_trip(tmp_path: Path, result: ReplayResult) -> None:
    store = StateStore(tmp_path)
    assert store.load() is None
    committed = store.commit(result, source="capsule", now=NOW)
    loaded = store.load()
    assert loaded == committed
    assert loaded.read("trusted_root.json") == result.target_files["trusted_root.json"]
    assert loaded.read("root_history/1.root.json") == result.root


def test_a_second_commit_supersedes_the_first(
    tmp_path: Path, result: ReplayResult
) -> None:
    store = StateStore(tmp_path)
    first = store.commit(result, source="a", now=NOW)
    second = store.commit(result, source="b", now=NOW)
    assert store.load() == second
    assert not first.directory.exists()
    assert [p.name for p in (tmp_path / "trust").iterdir() if p.is_dir()] == [
        second.directory.name
    ]


def test_tampered_stored_file_is_refused(tmp_path: Path, result: ReplayResult) -> None:
    committed = StateStore(tmp_path).commit(result, source="a", now=NOW)
    (committed.directory / "trusted_root.json").write_bytes(b"{}")
    with pytest.raises(TrustRootError, match=r"does not match state\.json") as caught:
        committed.read("trusted_root.json")
    assert caught.value.reason is Reason.TRUST_ROOT_INVALID


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[]", b'{"state_version": 99}', b'{"state_version": 1}']
)
def test_damaged_state_file_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "state.json").write_bytes(content)
    with pytest.raises(TrustRootError, match="trust state is damaged"):
        StateStore(tmp_path).load()


def test_crash_mid_commit_leaves_the_old_state(
    tmp_path: Path, result: ReplayResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    before = store.commit(result, source="before", now=NOW)
    calls = {"n": 0}
    real = state_mod._write_synced

    def failing(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(state_mod, "_write_synced", failing)
    with pytest.raises(InputError, match="no space left on device"):
        store.commit(result, source="after", now=NOW)
    assert store.load() == before
    assert before.read("trusted_root.json") == result.target_files["trusted_root.json"]
    leftovers = [
        p.name
        for p in (tmp_path / "trust").iterdir()
        if p.name.startswith(".") and p.name != ".lock"
    ]
    assert leftovers == []


def test_state_json_is_replaced_atomically(
    tmp_path: Path, result: ReplayResult
) -> None:
    store = StateStore(tmp_path)
    store.commit(result, source="a", now=NOW)
    doc = json.loads(store.state_file.read_bytes())
    assert doc["state_version"] == 1
    assert not list((tmp_path / "trust").glob(".state.json.*"))


def test_failure_writing_state_json_leaves_no_orphan(
    tmp_path: Path, result: ReplayResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    before = store.commit(result, source="before", now=NOW)

    def full_disk(path: Path, data: bytes) -> None:
        del path, data
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("airlock_io.atomic.write_atomically", full_disk)
    with pytest.raises(InputError, match="no space left on device"):
        store.commit(result, source="after", now=NOW)
    assert store.load() == before
    assert sorted(
        p.name for p in (tmp_path / "trust").iterdir() if p.name != ".lock"
    ) == sorted([before.directory.name, "state.json"])


def test_damaged_state_refuses_before_writing_anything(
    tmp_path: Path, result: ReplayResult
) -> None:
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "state.json").write_bytes(b"{")
    with pytest.raises(TrustRootError, match="damaged"):
        StateStore(tmp_path).commit(result, source="x", now=NOW)
    assert [p.name for p in (tmp_path / "trust").iterdir() if p.name != ".lock"] == [
        "state.json"
    ]
