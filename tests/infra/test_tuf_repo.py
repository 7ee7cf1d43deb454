"""The TUF fixture: real metadata that python-tuf's own client accepts or refuses.

Each misbehaviour the fixture offers is shown to be one a conforming client
catches, so later tests of our replay can rely on it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from tuf.api import exceptions
from tuf.api.metadata import Metadata, Root
from tuf.ngclient import Updater

from tests.helpers.tuf_repo import Fault, TufRepo

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.sigstore_stack import SigstoreStack

pytestmark = pytest.mark.network


def _updater(tmp_path: Path, url: str, bootstrap: bytes) -> Updater:
    (tmp_path / "metadata").mkdir(exist_ok=True)
    (tmp_path / "targets").mkdir(exist_ok=True)
    return Updater(
        metadata_dir=str(tmp_path / "metadata"),
        metadata_base_url=f"{url}/",
        target_base_url=f"{url}/targets/",
        target_dir=str(tmp_path / "targets"),
        bootstrap=bootstrap,
    )


def _fetch_trusted_root(updater: Updater) -> bytes:
    updater.refresh()
    info = updater.get_targetinfo("trusted_root.json")
    assert info is not None
    path = updater.download_target(info)
    with open(path, "rb") as f:  # noqa: PTH123
        return f.read()


def test_client_loads_the_repository_over_loopback(
    tuf_repo: TufRepo, sigstore_stack: SigstoreStack, tmp_path: Path
) -> None:
    with tuf_repo.serve() as url:
        data = _fetch_trusted_root(_updater(tmp_path, url, tuf_repo.initial_root()))
    assert data == sigstore_stack.trusted_root_json()
    assert json.loads(data)["mediaType"].startswith(
        "application/vnd.dev.sigstore.trustedroot"
    )


def test_layout_is_the_cdn_layout(tuf_repo: TufRepo, tmp_path: Path) -> None:
    out = tuf_repo.write_to(tmp_path / "repo")
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names[:4] == [
        "1.root.json",
        "1.snapshot.json",
        "1.targets.json",
        "targets/" + names[3].split("/", 1)[1],
    ]
    assert "timestamp.json" in names
    for name in names:
        if name.startswith("targets/"):
            digest, _, target = name.removeprefix("targets/").partition(".")
            assert len(digest) == 64
            assert target in {"trusted_root.json", "signing_config.v0.2.json"}
    assert Metadata.from_bytes(
        (out / "1.root.json").read_bytes()
    ).signed.consistent_snapshot


def test_root_rotation_with_threshold_change_mid_way(
    tuf_repo: TufRepo, tmp_path: Path
) -> None:
    with tuf_repo.serve() as url:
        _fetch_trusted_root(_updater(tmp_path, url, tuf_repo.initial_root()))
        tuf_repo.rotate_root(keys=3, threshold=2, rotate_roles=("timestamp",))
        tuf_repo.rotate_root(keys=5, threshold=3)
        tuf_repo.publish()
        _fetch_trusted_root(_updater(tmp_path, url, tuf_repo.initial_root()))
    root = Metadata[Root].from_bytes((tmp_path / "metadata" / "root.json").read_bytes())
    assert root.signed.version == 3
    assert root.signed.roles["root"].threshold == 3


def test_root_signed_by_too_few_old_keys_is_refused(
    tuf_repo: TufRepo, tmp_path: Path
) -> None:
    repo = TufRepo(now=tuf_repo.now, root_keys=3, root_threshold=2)
    repo.add_target("trusted_root.json", b"{}")
    repo.publish()
    repo.rotate_root(keys=3, threshold=2, old_signers=1)
    with repo.serve() as url, pytest.raises(exceptions.UnsignedMetadataError):
        _updater(tmp_path, url, repo.initial_root()).refresh()


def test_expired_timestamp_is_refused(tuf_repo: TufRepo, tmp_path: Path) -> None:
    tuf_repo.publish(expires={"timestamp": tuf_repo.now - timedelta(days=400)})
    with (
        tuf_repo.serve() as url,
        pytest.raises(exceptions.ExpiredMetadataError, match="timestamp"),
    ):
        _updater(tmp_path, url, tuf_repo.initial_root()).refresh()


def test_rolled_back_timestamp_is_refused(tuf_repo: TufRepo, tmp_path: Path) -> None:
    tuf_repo.publish()
    with tuf_repo.serve() as url:
        _fetch_trusted_root(_updater(tmp_path, url, tuf_repo.initial_root()))
        tuf_repo.serve_old("timestamp")
        with pytest.raises(exceptions.BadVersionNumberError):
            _updater(tmp_path, url, tuf_repo.initial_root()).refresh()


def test_corrupted_target_is_refused(tuf_repo: TufRepo, tmp_path: Path) -> None:
    tuf_repo.corrupt_target("trusted_root.json")
    with tuf_repo.serve() as url, pytest.raises(exceptions.LengthOrHashMismatchError):
        _fetch_trusted_root(_updater(tmp_path, url, tuf_repo.initial_root()))


def test_mix_and_match_snapshot_is_refused(tuf_repo: TufRepo, tmp_path: Path) -> None:
    """A snapshot other than the one the timestamp names fails its hash."""
    tuf_repo.publish()
    tuf_repo.files["2.snapshot.json"] = tuf_repo.history["snapshot"][0]
    mismatch = (
        exceptions.LengthOrHashMismatchError,
        exceptions.DownloadLengthMismatchError,
    )
    with tuf_repo.serve() as url, pytest.raises(mismatch):
        _updater(tmp_path, url, tuf_repo.initial_root()).refresh()


def test_server_failure_is_a_download_error(tuf_repo: TufRepo, tmp_path: Path) -> None:
    tuf_repo.faults["timestamp.json"] = Fault(status=500)
    with tuf_repo.serve() as url, pytest.raises(exceptions.DownloadError):
        _updater(tmp_path, url, tuf_repo.initial_root()).refresh()


def test_foreign_bootstrap_root_refuses_the_repository(
    tuf_repo: TufRepo, tmp_path: Path
) -> None:
    stranger = TufRepo(now=tuf_repo.now)
    with tuf_repo.serve() as url, pytest.raises(exceptions.UnsignedMetadataError):
        _updater(tmp_path, url, stranger.initial_root()).refresh()
