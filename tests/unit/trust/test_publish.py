"""The gap-local TUF repository: what it holds, how it continues, and what it refuses.

Signed with file keys (the HSM route is tested in tests/integration); every
role is checked with python-tuf's own metadata API, the one its ngclient
uses, so what passes here is what a TUF client will accept.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

from appliance.core.errors import InputError, TrustRootError
from appliance.signer.filekey import FileSigner
from appliance.trust import held, publish
from trustroot import store

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

TRUSTED = {"trusted_root.json": b'{"mediaType": "a trusted root"}\n'}
LIFETIMES = publish.Lifetimes()


def _key() -> FileSigner:
    return FileSigner(ec.generate_private_key(ec.SECP256R1()))


def _md(repo: Path, name: str) -> Metadata:  # type: ignore[type-arg]
    return Metadata.from_bytes((repo / name).read_bytes())


def _publish(
    repo: Path,
    now: datetime,
    root: FileSigner,
    online: FileSigner,
    **kw: object,
) -> publish.Published:
    args: dict[str, object] = {
        "roots": TRUSTED,
        "root_keys": [root],
        "online": online,
        "threshold": 1,
        "lifetimes": LIFETIMES,
        "now": now,
    }
    args.update(kw)
    return publish.publish(repo, **args)  # type: ignore[arg-type]


@pytest.fixture
def keys() -> tuple[FileSigner, FileSigner]:
    return _key(), _key()


def test_a_new_repository_is_tuf_with_consistent_snapshots(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    done = _publish(repo, fixed_now, *keys)
    assert done.signed == ("root", "targets", "snapshot", "timestamp")
    assert done.versions == {"root": 1, "targets": 1, "snapshot": 1, "timestamp": 1}
    root = _md(repo, "root.json")
    assert (repo / "root.json").read_bytes() == (repo / "1.root.json").read_bytes()
    assert root.signed.consistent_snapshot is True
    assert root.signed.expires == fixed_now.replace(microsecond=0) + timedelta(days=365)
    for role, name in (
        ("root", "1.root.json"),
        ("targets", "1.targets.json"),
        ("snapshot", "1.snapshot.json"),
        ("timestamp", "timestamp.json"),
    ):
        md = _md(repo, name)
        assert md.signed.type == role
        root.signed.verify_delegate(role, md.signed_bytes, md.signatures)
    root_key, online_key = (k.public_key for k in keys)
    assert root.signed.roles["root"].keyids == [done.root_keyids[0]]
    assert all(
        root.signed.roles[r].keyids == [done.online_keyid]
        for r in ("targets", "snapshot", "timestamp")
    )
    assert done.root_keyids[0] != done.online_keyid
    assert root_key != online_key
    data = TRUSTED["trusted_root.json"]
    digest = hashlib.sha256(data).hexdigest()
    assert (repo / "targets" / f"{digest}.trusted_root.json").read_bytes() == data
    assert (repo / "targets" / "trusted_root.json").read_bytes() == data  # by name too
    targets = _md(repo, "1.targets.json").signed
    assert isinstance(targets, Targets)
    assert targets.targets["trusted_root.json"].hashes == {"sha256": digest}
    assert done.targets == {"trusted_root.json": digest}


def test_the_online_roles_are_bound_by_hash_and_length(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    timestamp = _md(repo, "timestamp.json").signed
    assert isinstance(timestamp, Timestamp)
    timestamp.snapshot_meta.verify_length_and_hashes(
        (repo / "1.snapshot.json").read_bytes()
    )
    snapshot = _md(repo, "1.snapshot.json").signed
    assert isinstance(snapshot, Snapshot)
    snapshot.meta["targets.json"].verify_length_and_hashes(
        (repo / "1.targets.json").read_bytes()
    )
    with pytest.raises(tuf_errors.LengthOrHashMismatchError):
        snapshot.meta["targets.json"].verify_length_and_hashes(b"{}")


def test_publishing_again_continues_the_versions_and_keeps_the_root(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    newer = {"trusted_root.json": b'{"mediaType": "newer"}\n'}
    done = _publish(repo, fixed_now + timedelta(hours=1), *keys, roots=newer)
    assert done.signed == ("targets", "snapshot", "timestamp")
    assert done.versions == {"root": 1, "targets": 2, "snapshot": 2, "timestamp": 2}
    assert not (repo / "2.root.json").exists()
    # The old versions stay: a client in the middle of an update still finds them.
    assert (repo / "1.targets.json").exists()
    assert (repo / "1.snapshot.json").exists()


def test_refresh_re_signs_the_timestamp_alone(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    snapshot = (repo / "1.snapshot.json").read_bytes()
    done = publish.refresh(
        repo, online=keys[1], lifetimes=LIFETIMES, now=fixed_now + timedelta(days=1)
    )
    assert done.refreshed
    assert done.signed == ("timestamp",)
    assert done.versions == {"root": 1, "targets": 1, "snapshot": 1, "timestamp": 2}
    assert (repo / "1.snapshot.json").read_bytes() == snapshot
    timestamp = _md(repo, "timestamp.json").signed
    assert timestamp.expires == fixed_now.replace(microsecond=0) + timedelta(days=2)


def test_refresh_re_signs_the_snapshot_when_it_would_expire_first(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    done = publish.refresh(
        repo,
        online=keys[1],
        lifetimes=LIFETIMES,
        now=fixed_now + timedelta(days=6, hours=12),
    )
    assert done.signed == ("snapshot", "timestamp")
    assert done.versions["snapshot"] == 2
    timestamp = _md(repo, "timestamp.json").signed
    assert isinstance(timestamp, Timestamp)
    assert timestamp.snapshot_meta.version == 2


def test_refresh_re_signs_the_targets_when_they_would_expire_first(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    done = publish.refresh(
        repo, online=keys[1], lifetimes=LIFETIMES, now=fixed_now + timedelta(days=25)
    )
    assert done.signed == ("targets", "snapshot", "timestamp")
    assert done.versions == {"root": 1, "targets": 2, "snapshot": 2, "timestamp": 2}
    assert done.targets == {
        "trusted_root.json": hashlib.sha256(TRUSTED["trusted_root.json"]).hexdigest()
    }


def test_refresh_with_another_key_is_refused_and_writes_nothing(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    before = (repo / "timestamp.json").read_bytes()
    with pytest.raises(InputError, match="is not the timestamp key") as caught:
        publish.refresh(repo, online=_key(), lifetimes=LIFETIMES, now=fixed_now)
    assert caught.value.where == "--online-key"
    assert (repo / "timestamp.json").read_bytes() == before


def test_refresh_with_the_root_key_is_refused(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    with pytest.raises(InputError, match="is not the timestamp key"):
        publish.refresh(repo, online=keys[0], lifetimes=LIFETIMES, now=fixed_now)


def test_refresh_of_nothing_is_refused(tmp_path: Path, fixed_now: datetime) -> None:
    with pytest.raises(InputError, match="no repository to refresh"):
        publish.refresh(
            tmp_path / "repo", online=_key(), lifetimes=LIFETIMES, now=fixed_now
        )


def test_refresh_past_the_root_expiry_is_refused(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    with pytest.raises(InputError, match="expires before the new timestamp"):
        publish.refresh(
            repo,
            online=keys[1],
            lifetimes=LIFETIMES,
            now=fixed_now + timedelta(days=365),
        )


def test_a_tampered_target_is_never_re_signed(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    (target,) = (repo / "targets").glob("????????*.trusted_root.json")
    target.write_bytes(b'{"mediaType": "an attacker\'s root"}\n')
    with pytest.raises(TrustRootError, match="not one this appliance published"):
        publish.refresh(repo, online=keys[1], lifetimes=LIFETIMES, now=fixed_now)
    with pytest.raises(TrustRootError):
        _publish(repo, fixed_now, *keys)


@pytest.mark.parametrize(
    "name", ["timestamp.json", "1.snapshot.json", "1.targets.json"]
)
def test_a_role_signed_by_another_key_is_never_continued(
    tmp_path: Path,
    fixed_now: datetime,
    keys: tuple[FileSigner, FileSigner],
    name: str,
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    doc = json.loads((repo / name).read_bytes())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
    (repo / name).write_text(json.dumps(doc))
    with pytest.raises(TrustRootError, match="not signed by its keys"):
        publish.refresh(repo, online=keys[1], lifetimes=LIFETIMES, now=fixed_now)


def test_a_root_json_that_is_not_the_newest_root_is_refused(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    (repo / "root.json").write_bytes((repo / "1.root.json").read_bytes() + b"\n")
    with pytest.raises(TrustRootError, match=r"root.json is not 1.root.json"):
        publish.refresh(repo, online=keys[1], lifetimes=LIFETIMES, now=fixed_now)


def test_rotation_signs_the_next_root_with_old_and_new_keys(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    old_root, online = keys
    _publish(repo, fixed_now, old_root, online)
    new_root = _key()
    done = _publish(repo, fixed_now, new_root, online, previous_root_keys=[old_root])
    assert done.versions["root"] == 2
    assert "root" in done.signed
    v1, v2 = _md(repo, "1.root.json"), _md(repo, "2.root.json")
    assert (repo / "root.json").read_bytes() == (repo / "2.root.json").read_bytes()
    # TUF §5.3.4: the new root is signed by a threshold of the old keys and of its own.
    v1.signed.verify_delegate(Root.type, v2.signed_bytes, v2.signatures)
    v2.signed.verify_delegate(Root.type, v2.signed_bytes, v2.signatures)
    assert v2.signed.roles["root"].keyids == list(done.root_keyids)
    assert v1.signed.roles["root"].keyids != v2.signed.roles["root"].keyids


def test_rotation_without_the_old_key_is_refused(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    with pytest.raises(InputError, match="cannot sign the next root"):
        _publish(repo, fixed_now, _key(), keys[1])
    assert not (repo / "2.root.json").exists()


def test_a_new_online_key_is_a_new_root_signed_by_the_root_key(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    done = _publish(repo, fixed_now, keys[0], _key())
    assert done.versions["root"] == 2
    v1, v2 = _md(repo, "1.root.json"), _md(repo, "2.root.json")
    v1.signed.verify_delegate(Root.type, v2.signed_bytes, v2.signatures)
    timestamp = _md(repo, "timestamp.json")
    v2.signed.verify_delegate(
        Timestamp.type, timestamp.signed_bytes, timestamp.signatures
    )
    with pytest.raises(tuf_errors.UnsignedMetadataError):
        v1.signed.verify_delegate(
            Timestamp.type, timestamp.signed_bytes, timestamp.signatures
        )


def test_a_root_threshold_of_two_needs_both_keys(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    second = _key()
    done = _publish(
        repo, fixed_now, keys[0], keys[1], root_keys=[keys[0], second], threshold=2
    )
    root = _md(repo, "root.json")
    assert done.root_threshold == 2
    assert len(root.signatures) == 2
    root.signed.verify_delegate(Root.type, root.signed_bytes, root.signatures)


@pytest.mark.parametrize("threshold", [0, 2])
def test_a_threshold_the_keys_cannot_meet_is_refused(
    tmp_path: Path,
    fixed_now: datetime,
    keys: tuple[FileSigner, FileSigner],
    threshold: int,
) -> None:
    with pytest.raises(InputError, match="between 1 and 1") as caught:
        _publish(tmp_path / "repo", fixed_now, *keys, threshold=threshold)
    assert caught.value.where == "--root-threshold"
    assert not (tmp_path / "repo" / "root.json").exists()


def test_a_directory_holding_other_files_is_refused(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "index.html").write_text("hello")
    with pytest.raises(InputError, match=r"no root\.json"):
        _publish(repo, fixed_now, *keys)


def test_nothing_to_publish_is_refused(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    with pytest.raises(InputError, match="no verified trusted root"):
        _publish(tmp_path / "repo", fixed_now, *keys, roots={})


@pytest.mark.parametrize(
    ("lifetimes", "where"),
    [
        (publish.Lifetimes(timestamp=timedelta(days=8)), "--timestamp-expires"),
        (publish.Lifetimes(root=timedelta(0)), "--root-expires"),
        (publish.Lifetimes(root=timedelta(days=30)), "--root-expires"),
    ],
)
def test_lifetimes_that_cannot_work_are_refused(
    tmp_path: Path,
    fixed_now: datetime,
    keys: tuple[FileSigner, FileSigner],
    lifetimes: publish.Lifetimes,
    where: str,
) -> None:
    with pytest.raises(InputError) as caught:
        _publish(tmp_path / "repo", fixed_now, *keys, lifetimes=lifetimes)
    assert caught.value.where == where


def test_the_held_root_is_the_sealed_one_until_an_import(
    tmp_path: Path, fixed_now: datetime
) -> None:
    (kept,) = held.held_roots(tmp_path / "state", now=fixed_now)
    assert kept.name == held.DEFAULT == "public-good"
    assert kept.target_name == "trusted_root.json"
    assert kept.data == store.read_embedded(store.PUBLIC_GOOD, "trusted_root.json")


def test_another_root_is_published_under_its_name() -> None:
    kept = held.HeldRoot(name="corp", data=b"{}", source="test")
    assert kept.target_name == "corp.trusted_root.json"


def test_a_signer_that_fails_stops_the_publish_with_nothing_written(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    from appliance.core.errors import SignerError  # noqa: PLC0415

    class Refusing(FileSigner):
        def sign(self, data: bytes) -> bytes:
            del data
            msg = "the token refused to sign: test"
            raise SignerError(msg)

    repo = tmp_path / "repo"
    refusing = Refusing(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignerError, match="refused to sign"):
        _publish(repo, fixed_now, keys[0], refusing)
    assert not (repo / "root.json").exists()
    assert not (repo / "timestamp.json").exists()


def test_the_published_directory_is_remembered_while_it_holds_a_repository(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    state = tmp_path / "state"
    assert publish.remembered(state) is None
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    publish.remember(state, repo)
    assert publish.remembered(state) == repo.resolve()
    names = [name for name, _ in publish.repository_files(repo)]
    assert names == sorted(names)
    assert {"root.json", "1.root.json", "timestamp.json", "1.snapshot.json"} <= set(
        names
    )
    assert not any(name.startswith(".") for name in names)  # never the lock
    (repo / "root.json").unlink()
    assert publish.remembered(state) is None


def test_a_damaged_publish_record_is_no_repository(tmp_path: Path) -> None:
    record = tmp_path / "trust" / "published.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"directory": 7, "directory": 8}')  # a duplicate key
    assert publish.remembered(tmp_path) is None


def test_the_files_of_a_damaged_repository_are_refused(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    (repo / "1.targets.json").write_text("{}")
    with pytest.raises(TrustRootError):
        publish.repository_files(repo)
    with pytest.raises(InputError, match="holds no TUF repository"):
        publish.repository_files(tmp_path / "elsewhere")


def test_a_tampered_target_under_its_plain_name_is_refused_too(
    tmp_path: Path, fixed_now: datetime, keys: tuple[FileSigner, FileSigner]
) -> None:
    repo = tmp_path / "repo"
    _publish(repo, fixed_now, *keys)
    (repo / "targets" / "trusted_root.json").write_bytes(b'{"mediaType": "other"}')
    with pytest.raises(TrustRootError, match=r"targets/trusted_root\.json"):
        publish.refresh(repo, online=keys[1], lifetimes=LIFETIMES, now=fixed_now)
    with pytest.raises(TrustRootError):
        publish.repository_files(repo)
