"""Offline TUF replay: every rule enforced, only expiry relaxable, and visibly.

Attacks are built with the real TUF fixture (signed metadata) and, at the
end, the real sigstore/root-signing chain (roots 5 -> 15) with pinned clocks.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from tuf.api.metadata import Metadata, MetaFile, Root

from appliance.core.errors import InputError, Reason, TrustRootError
from appliance.trust.replay import ReplayResult, RoleInfo, replay
from appliance.trust.source import DirectorySource
from appliance.trust.state import StateStore, TrustState
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.tuf_repo import TufRepo
from tests.helpers.vectors import ROOT_SIGNING, VECTORS, serve_root_signing

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
def repo() -> TufRepo:
    stack = SigstoreStack(now=NOW)
    repo = TufRepo(now=NOW)
    repo.add_target("trusted_root.json", stack.trusted_root_json())
    repo.add_target("signing_config.v0.2.json", stack.signing_config_json())
    repo.publish()
    return repo


def run(
    repo: TufRepo,
    *,
    bootstrap: bytes | None = None,
    now: datetime = NOW,
    max_age: timedelta = timedelta(0),
    previous: TrustState | None = None,
) -> ReplayResult:
    return replay(
        repo.files.get,
        bootstrap=bootstrap or repo.initial_root(),
        now=now,
        max_age=max_age,
        previous=previous,
    )


def refused(repo: TufRepo, **kwargs: object) -> TrustRootError:
    with pytest.raises(TrustRootError) as caught:
        run(repo, **kwargs)  # type: ignore[arg-type]
    return caught.value


def committed(repo: TufRepo, tmp_path: Path) -> TrustState:
    return StateStore(tmp_path).commit(run(repo), source="test", now=NOW)


def test_happy_path(repo: TufRepo) -> None:
    result = run(repo)
    assert result.roles["root"].version == 1
    assert (
        result.target_files["trusted_root.json"]
        == repo.target_files["trusted_root.json"]
    )
    assert result.allowances == ()
    assert result.left_out == {}


# -- root chain -----------------------------------------------------------------


def test_rotation_with_threshold_changes(repo: TufRepo) -> None:
    repo.rotate_root(keys=3, threshold=2)
    repo.rotate_root(keys=5, threshold=3, rotate_roles=("timestamp", "snapshot"))
    repo.rotate_root(keys=2, threshold=1)
    repo.publish()
    result = run(repo)
    assert result.roles["root"].version == 4
    assert sorted(result.root_history) == [1, 2, 3, 4]
    assert Metadata[Root].from_bytes(result.root).signed.roles["root"].threshold == 1


def test_root_signed_by_too_few_old_keys(repo: TufRepo) -> None:
    repo.rotate_root(keys=3, threshold=2)
    repo.rotate_root(keys=3, threshold=2, old_signers=1)
    error = refused(repo)
    assert error.reason is Reason.THRESHOLD_NOT_MET
    assert "3.root.json" in error.diagnostics()
    assert "root v2 root keys" in error.diagnostics()


def test_root_signed_by_too_few_of_its_own_keys(repo: TufRepo) -> None:
    repo.rotate_root(keys=3, threshold=2, new_signers=1)
    error = refused(repo)
    assert error.reason is Reason.THRESHOLD_NOT_MET
    assert "own root keys" in error.diagnostics()


def test_root_with_the_wrong_version(repo: TufRepo) -> None:
    repo.rotate_root(keys=1, threshold=1)
    repo.files["3.root.json"] = repo.files["2.root.json"]  # v2 served as v3
    assert refused(repo).reason in {Reason.BAD_VERSION, Reason.THRESHOLD_NOT_MET}


def test_foreign_bootstrap_root(repo: TufRepo) -> None:
    stranger = TufRepo(now=NOW)
    error = refused(repo, bootstrap=stranger.initial_root())
    assert error.reason is Reason.THRESHOLD_NOT_MET


def test_edited_bootstrap_root_is_refused(repo: TufRepo) -> None:
    doc = json.loads(repo.initial_root())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
    assert (
        refused(repo, bootstrap=json.dumps(doc).encode()).reason
        is Reason.THRESHOLD_NOT_MET
    )


def test_root_rollback(repo: TufRepo, tmp_path: Path) -> None:
    repo.rotate_root(keys=1, threshold=1)
    repo.rotate_root(keys=1, threshold=1)
    repo.publish()
    state = committed(repo, tmp_path)
    assert state.root_version == 3
    del repo.files["3.root.json"]  # a source that stops at v2
    error = refused(repo, previous=state)
    assert error.reason is Reason.ROLLBACK


# -- freeze and expiry ------------------------------------------------------------


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_expired_role_is_refused_naming_the_flag(repo: TufRepo, role: str) -> None:
    repo.publish(expires={role: NOW - timedelta(days=3)})
    error = refused(repo)
    assert error.reason is Reason.TRUST_ROOT_EXPIRED
    assert f"{role} expired" in error.diagnostics()
    assert "--trust-max-age 4d" in error.diagnostics()


def test_expired_final_root_is_refused(repo: TufRepo) -> None:
    error = refused(repo, now=NOW + timedelta(days=400))
    assert error.reason is Reason.TRUST_ROOT_EXPIRED
    for role in ("root", "timestamp", "snapshot", "targets"):
        assert (
            f"{role} expired" in error.diagnostics()
        )  # one message names every expiry


def test_expiry_allowance_is_bounded_and_recorded(repo: TufRepo) -> None:
    repo.publish(expires={"timestamp": NOW - timedelta(days=3)})
    assert refused(repo, max_age=timedelta(days=2)).reason is Reason.TRUST_ROOT_EXPIRED
    result = run(repo, max_age=timedelta(days=30))
    assert [(a.role, a.overdue) for a in result.allowances] == [
        ("timestamp", timedelta(days=3))
    ]


def test_allowance_relaxes_nothing_but_expiry(repo: TufRepo) -> None:
    repo.publish(expires={"timestamp": NOW - timedelta(days=3)})
    repo.corrupt_target("trusted_root.json")
    assert refused(repo, max_age=timedelta(days=3650)).reason is Reason.DIGEST_MISMATCH


# -- rollback of each role ------------------------------------------------------------


def _timestamp_naming(repo: TufRepo, snapshot_bytes: bytes) -> None:
    version = Metadata.from_bytes(snapshot_bytes).signed.version
    repo.timestamp.signed.snapshot_meta = MetaFile(
        version=version,
        length=len(snapshot_bytes),
        hashes={"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
    )
    repo.timestamp.signed.version += 1
    repo._sign("timestamp", repo.timestamp)
    repo.files["timestamp.json"] = repo.history["timestamp"][-1]


def test_timestamp_rollback(repo: TufRepo, tmp_path: Path) -> None:
    repo.publish()
    state = committed(repo, tmp_path)
    repo.serve_old("timestamp")
    assert refused(repo, previous=state).reason is Reason.ROLLBACK


def test_snapshot_rollback(repo: TufRepo, tmp_path: Path) -> None:
    repo.publish()
    state = committed(repo, tmp_path)  # snapshot v2 trusted
    _timestamp_naming(
        repo, repo.history["snapshot"][0]
    )  # a fresh timestamp naming snapshot v1
    error = refused(repo, previous=state)
    assert error.reason is Reason.ROLLBACK
    assert "snapshot v1" in error.diagnostics()


def test_targets_rollback(repo: TufRepo, tmp_path: Path) -> None:
    repo.add_target("extra.txt", b"x")
    repo.publish()
    state = committed(repo, tmp_path)  # targets v2 trusted
    old_targets = repo.history["targets"][0]
    repo.snapshot.signed.meta["targets.json"] = MetaFile(
        version=1,
        length=len(old_targets),
        hashes={"sha256": hashlib.sha256(old_targets).hexdigest()},
    )
    repo.snapshot.signed.version += 1
    repo._sign("snapshot", repo.snapshot)
    repo.files[f"{repo.snapshot.signed.version}.snapshot.json"] = repo.history[
        "snapshot"
    ][-1]
    _timestamp_naming(repo, repo.history["snapshot"][-1])
    assert refused(repo, previous=state).reason is Reason.ROLLBACK


def test_same_versions_again_are_accepted(repo: TufRepo, tmp_path: Path) -> None:
    state = committed(repo, tmp_path)
    assert run(repo, previous=state).roles == run(repo).roles


def test_new_online_keys_reset_the_timestamp_floor(
    repo: TufRepo, tmp_path: Path
) -> None:
    """Fast-forward recovery (TUF spec 5.3.11): after a timestamp key rotation,
    a lower timestamp version from the new key is not a rollback."""
    for _ in range(3):
        repo.publish()
    state = committed(repo, tmp_path)
    repo.rotate_root(keys=1, threshold=1, rotate_roles=("timestamp",))
    repo.timestamp.signed.version = 1
    repo._sign("timestamp", repo.timestamp)
    repo.files["timestamp.json"] = repo.history["timestamp"][-1]
    assert run(repo, previous=state).roles["timestamp"].version == 1


# -- mix-and-match and targets ------------------------------------------------------


def test_mix_and_match_snapshot(repo: TufRepo) -> None:
    repo.publish()
    repo.files["2.snapshot.json"] = repo.history["snapshot"][0]
    assert refused(repo).reason is Reason.METADATA_MISMATCH


def test_mix_and_match_targets(repo: TufRepo) -> None:
    repo.add_target("extra.txt", b"x")
    repo.publish()
    repo.files["2.targets.json"] = repo.history["targets"][0]
    assert refused(repo).reason is Reason.METADATA_MISMATCH


def test_target_with_the_wrong_hash(repo: TufRepo) -> None:
    repo.corrupt_target("trusted_root.json")
    error = refused(repo)
    assert error.reason is Reason.DIGEST_MISMATCH
    assert "trusted_root.json" in error.diagnostics()


def test_bad_optional_target_is_left_out_not_trusted(repo: TufRepo) -> None:
    repo.corrupt_target("signing_config.v0.2.json")
    result = run(repo)
    assert "signing_config.v0.2.json" not in result.target_files
    assert (
        "not the one targets.json signed" in result.left_out["signing_config.v0.2.json"]
    )


@pytest.mark.parametrize(
    "missing", ["timestamp.json", "1.snapshot.json", "1.targets.json"]
)
def test_missing_metadata(repo: TufRepo, missing: str) -> None:
    del repo.files[missing]
    error = refused(repo)
    assert error.reason is Reason.TRUST_ROOT_INVALID
    assert missing in error.diagnostics()


def test_trusted_root_target_must_be_a_trusted_root(repo: TufRepo) -> None:
    repo.add_target("trusted_root.json", b'{"mediaType": "something else"}')
    repo.publish()
    assert refused(repo).reason is Reason.TRUST_ROOT_INVALID


def test_no_trusted_root_target(repo: TufRepo) -> None:
    del repo.targets.signed.targets["trusted_root.json"]
    repo._targets_dirty = True
    repo.publish()
    assert refused(repo).reason is Reason.TRUST_ROOT_INVALID


@pytest.mark.parametrize(
    "path",
    ["../trusted_root.json", "/etc/trusted_root.json", "a/../../trusted_root.json"],
)
def test_unsafe_target_names_never_leave_the_source(
    repo: TufRepo, tmp_path: Path, path: str
) -> None:
    source = DirectorySource(repo.write_to(tmp_path / "repo"))
    with pytest.raises(InputError, match="unsafe file name"):
        source(path)


def test_metadata_that_is_not_json(repo: TufRepo) -> None:
    repo.files["timestamp.json"] = b"\x00not json"
    assert refused(repo).reason is Reason.TRUST_ROOT_INVALID


# -- the real sigstore/root-signing chain -------------------------------------------------


def _served(tmp_path: Path) -> Path:
    return serve_root_signing(tmp_path / "served")


def _root_signing(
    tmp_path: Path, now: datetime, max_age: timedelta = timedelta(0)
) -> ReplayResult:
    bootstrap = (
        ROOT_SIGNING / "metadata" / "root_history" / "5.root.json"
    ).read_bytes()
    return replay(
        DirectorySource(_served(tmp_path)),
        bootstrap=bootstrap,
        now=now,
        max_age=max_age,
    )


def test_real_chain_5_to_15_at_a_pinned_fresh_time(tmp_path: Path) -> None:
    result = _root_signing(tmp_path, datetime(2026, 8, 22, tzinfo=UTC))
    assert result.roles["root"].version == 15
    assert sorted(result.root_history) == list(range(5, 16))
    assert (
        result.roles["timestamp"].version,
        result.roles["snapshot"].version,
        result.roles["targets"].version,
    ) == (762, 165, 14)
    assert (
        result.trusted_root_sha256
        == "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"
    )
    assert result.allowances == ()


def test_real_chain_today_is_expired(tmp_path: Path) -> None:
    with pytest.raises(TrustRootError) as caught:
        _root_signing(tmp_path, datetime(2026, 11, 22, tzinfo=UTC))
    assert caught.value.reason is Reason.TRUST_ROOT_EXPIRED
    assert "timestamp expired 2026-08-28T19:25:56Z" in caught.value.diagnostics()
    assert "root expired 2026-11-20T13:58:18Z" in caught.value.diagnostics()


def test_real_chain_today_with_an_allowance(tmp_path: Path) -> None:
    result = _root_signing(
        tmp_path, datetime(2026, 11, 22, tzinfo=UTC), max_age=timedelta(days=90)
    )
    assert result.roles["root"].version == 15
    assert {a.role for a in result.allowances} == {"root", "timestamp"}


def test_staging_partial_repository() -> None:
    """sigstore-python's staging slice: good trusted root, one bad target."""
    staging = VECTORS / "tuf" / "sigstage-partial"
    bootstrap = (VECTORS / "trust" / "staging" / "root.json").read_bytes()
    result = replay(
        DirectorySource(staging),
        bootstrap=bootstrap,
        now=datetime(2025, 7, 25, tzinfo=UTC),
    )
    assert (
        hashlib.sha256(result.target_files["trusted_root.json"])
        .hexdigest()
        .startswith("ed6a9cf4")
    )
    assert "signing_config.v0.2.json" in result.left_out


# -- the held timestamp and snapshot (TUF spec 1.0 §5.4.3, §5.5.5) -----------------------


def _resign_timestamp(repo: TufRepo, *, version: int, expires: datetime) -> None:
    repo.timestamp.signed.version = version
    repo.timestamp.signed.expires = expires
    repo._sign("timestamp", repo.timestamp)
    repo.files["timestamp.json"] = repo.history["timestamp"][-1]


def test_equal_timestamp_naming_another_snapshot_is_refused(
    repo: TufRepo, tmp_path: Path
) -> None:
    state = committed(repo, tmp_path)  # timestamp v1 names snapshot v1
    repo.publish()  # snapshot v2 and timestamp v2...
    _resign_timestamp(  # ...re-signed as v1: same version, another snapshot
        repo, version=1, expires=NOW + timedelta(days=7)
    )
    error = refused(repo, previous=state)
    assert error.reason is Reason.ROLLBACK
    assert "trusted version but names another snapshot" in error.diagnostics()


def test_equal_timestamp_naming_a_resigned_snapshot_is_refused(
    repo: TufRepo, tmp_path: Path
) -> None:
    """Same versions throughout, but a snapshot v1 with other bytes."""
    state = committed(repo, tmp_path)
    repo.snapshot.signed.expires = NOW + timedelta(days=29)
    repo._sign("snapshot", repo.snapshot)
    other = repo.history["snapshot"][-1]
    repo.files["1.snapshot.json"] = other
    repo.timestamp.signed.snapshot_meta = MetaFile(
        version=1,
        length=len(other),
        hashes={"sha256": hashlib.sha256(other).hexdigest()},
    )
    _resign_timestamp(repo, version=1, expires=NOW + timedelta(days=7))
    error = refused(repo, previous=state)
    assert error.reason is Reason.ROLLBACK
    assert error.where == "timestamp.json"


def test_equal_timestamp_is_not_committed_as_new(repo: TufRepo, tmp_path: Path) -> None:
    """The held timestamp stays in use (python-tuf: EqualVersionNumberError)."""
    state = committed(repo, tmp_path)
    held = state.read("timestamp.json")
    _resign_timestamp(repo, version=1, expires=NOW + timedelta(days=60))
    assert repo.files["timestamp.json"] != held
    result = run(repo, previous=state)
    assert result.timestamp == held
    signed = Metadata.from_bytes(held).signed
    assert result.roles["timestamp"] == RoleInfo(
        version=signed.version, expires=signed.expires
    )


def _snapshot_listing(repo: TufRepo, meta: dict[str, int]) -> None:
    """Publish a snapshot whose meta lists ``meta`` beside targets.json."""
    for name in [n for n in repo.snapshot.signed.meta if n != "targets.json"]:
        del repo.snapshot.signed.meta[name]
    for name, version in meta.items():
        repo.snapshot.signed.meta[name] = MetaFile(version=version)
    repo.publish()


def test_snapshot_rolling_back_another_metafile_is_refused(
    repo: TufRepo, tmp_path: Path
) -> None:
    _snapshot_listing(repo, {"role1.json": 2})
    state = committed(repo, tmp_path)
    _snapshot_listing(repo, {"role1.json": 1})
    error = refused(repo, previous=state)
    assert error.reason is Reason.ROLLBACK
    assert "role1.json v1, older than the trusted v2" in error.diagnostics()


def test_snapshot_dropping_a_metafile_is_refused(repo: TufRepo, tmp_path: Path) -> None:
    _snapshot_listing(repo, {"role1.json": 2, "role2.json": 1})
    state = committed(repo, tmp_path)
    _snapshot_listing(repo, {"role2.json": 1})
    error = refused(repo, previous=state)
    assert error.reason is Reason.ROLLBACK
    assert "no longer lists role1.json" in error.diagnostics()


def test_snapshot_may_add_and_advance_metafiles(repo: TufRepo, tmp_path: Path) -> None:
    _snapshot_listing(repo, {"role1.json": 2})
    state = committed(repo, tmp_path)
    _snapshot_listing(repo, {"role1.json": 3, "role2.json": 1})
    assert run(repo, previous=state).roles["snapshot"].version == 3


# -- delegations: never followed, fail closed (docs/trust.md §6) ----------------------


def _delegating(repo: TufRepo, *, drop: str) -> None:
    from tuf.api.metadata import DelegatedRole, Delegations  # noqa: PLC0415

    repo.targets.signed.delegations = Delegations(
        keys={},
        roles={
            "other": DelegatedRole(
                name="other", keyids=[], threshold=1, terminating=False, paths=["*"]
            )
        },
    )
    del repo.targets.signed.targets[drop]
    repo._targets_dirty = True
    repo.publish()


def test_trusted_root_only_a_delegation_could_list_is_refused(repo: TufRepo) -> None:
    _delegating(repo, drop="trusted_root.json")
    error = refused(repo)
    assert error.reason is Reason.TRUST_ROOT_INVALID
    assert error.where == "trusted_root.json"
    assert "delegated targets roles are not followed" in error.diagnostics()


def test_signing_config_only_a_delegation_could_list_is_left_out(
    repo: TufRepo,
) -> None:
    _delegating(repo, drop="signing_config.v0.2.json")
    result = run(repo)
    assert "signing_config.v0.2.json" not in result.target_files
    assert "not followed" in result.left_out["signing_config.v0.2.json"]
