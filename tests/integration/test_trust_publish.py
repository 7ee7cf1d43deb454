"""``appliance trust publish``: a real TUF client inside the gap fetches the appliance's trust.

python-tuf's ngclient (the client sigstore-python uses) bootstraps from the
published ``root.json`` and fetches ``trusted_root.json`` over loopback HTTP
from a plain static web server, and refuses the repository when it is
tampered with, expired or rolled back. ngclient reads the wall clock and
takes no reference time, so these tests date the repository from the wall
clock (as the ``tuf_repo`` fixture does): "yesterday" is a day before it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater

from appliance.actions.registry import SignerChoice
from appliance.actions.trust import TrustPublishRequest, trust_publish
from appliance.cli.main import main
from appliance.trust import held
from tests.helpers import static_http

if TYPE_CHECKING:
    from tests.helpers.softhsm import SoftHsm

pytestmark = pytest.mark.network
PIN = "5512-PublishPin"


def _pem_key(path: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _client(tmp_path: Path, name: str, url: str, bootstrap: bytes) -> Updater:
    """A client in the "cluster": its own metadata cache, bootstrapped from a root.json."""
    home = tmp_path / name
    (home / "metadata").mkdir(parents=True, exist_ok=True)
    (home / "targets").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(home / "metadata"),
        metadata_base_url=f"{url}/",
        target_base_url=f"{url}/targets/",
        target_dir=str(home / "targets"),
        bootstrap=bootstrap,
    )


def _fetch(updater: Updater, name: str = "trusted_root.json") -> bytes:
    updater.refresh()
    info = updater.get_targetinfo(name)
    assert info is not None, name
    with open(updater.download_target(info), "rb") as handle:  # noqa: PTH123
        return handle.read()


def _held(state: Path) -> bytes:
    """The public-good root held (the default's ``trusted_root.json``)."""
    return next(
        r.data
        for r in held.held_roots(state, now=datetime.now(UTC))
        if r.name == held.DEFAULT
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """The appliance state directory the autouse fixture set for this test."""
    del tmp_path  # the autouse fixture made it under tmp_path
    return Path(os.environ["APPLIANCE_STATE_DIR"])


@pytest.fixture
def wall() -> datetime:
    """The clock ngclient reads (it takes no reference time)."""
    return datetime.now(UTC)


def _publish(
    out: Path,
    state: Path,
    *,
    now: datetime,
    root: list[str] | None = None,
    online: str | None = None,
    previous: list[str] | None = None,
    refresh: bool = False,
) -> None:
    trust_publish(
        TrustPublishRequest(
            out=out,
            state_dir=state,
            root_keys=tuple(SignerChoice(key=k) for k in root or []),
            online=None if online is None else SignerChoice(key=online),
            previous_root_keys=tuple(SignerChoice(key=k) for k in previous or []),
            refresh=refresh,
            now=now,
        )
    )


def test_a_client_bootstraps_from_root_json_and_fetches_the_held_root(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, online = _pem_key(tmp_path / "root.pem"), _pem_key(tmp_path / "online.pem")
    out = tmp_path / "repo"
    code = main(
        [
            "trust",
            "publish",
            "--out",
            str(out),
            "--root-key",
            root,
            "--online-key",
            online,
        ]
    )
    said = capsys.readouterr().out
    assert code == 0
    assert "signed root, targets, snapshot, timestamp" in said
    with static_http.serve(out) as url:
        client = _client(tmp_path, "cluster", url, (out / "root.json").read_bytes())
        assert _fetch(client) == _held(state)
    audit = (state / "audit.jsonl").read_text().splitlines()
    line = json.loads(audit[-1])
    assert line["command"] == "trust-publish"
    assert line["exit_code"] == 0
    assert line["roles"]["timestamp"]["version"] == 1


def test_the_refresh_the_next_day_keeps_the_client_working(
    tmp_path: Path, state: Path, wall: datetime
) -> None:
    root, online = _pem_key(tmp_path / "root.pem"), _pem_key(tmp_path / "online.pem")
    out = tmp_path / "repo"
    _publish(
        out,
        state,
        now=wall - timedelta(days=1, hours=2),
        root=[root],
        online=online,
    )
    bootstrap = (out / "root.json").read_bytes()
    with static_http.serve(out) as url:
        # Yesterday's timestamp (1 day) has expired: a conforming client stops.
        with pytest.raises(tuf_errors.ExpiredMetadataError):
            _client(tmp_path, "stale", url, bootstrap).refresh()
        _publish(
            out,
            state,
            now=wall - timedelta(hours=1),
            online=online,
            refresh=True,
        )
        assert _fetch(_client(tmp_path, "fresh", url, bootstrap)) == _held(state)


def test_the_refresh_from_the_cli_needs_the_online_key_alone(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, online = _pem_key(tmp_path / "root.pem"), _pem_key(tmp_path / "online.pem")
    out = tmp_path / "repo"
    assert (
        main(
            [
                "trust",
                "publish",
                "--out",
                str(out),
                "--root-key",
                root,
                "--online-key",
                online,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "trust",
                "publish",
                "--out",
                str(out),
                "--refresh",
                "--root-key",
                root,
                "--online-key",
                online,
            ]
        )
        == 2
    )
    assert "--refresh re-signs with the online key alone" in capsys.readouterr().err
    assert (
        main(["trust", "publish", "--out", str(out), "--refresh", "--online-key", root])
        == 2
    )
    assert "is not the timestamp key" in capsys.readouterr().err
    assert (
        main(
            [
                "trust",
                "publish",
                "--out",
                str(out),
                "--refresh",
                "--online-key",
                online,
                "-o",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["signed"] == ["timestamp"]
    assert report["roles"]["timestamp"]["version"] == 2
    commands = [json.loads(x) for x in (state / "audit.jsonl").read_text().splitlines()]
    assert [(c["command"], c["exit_code"]) for c in commands] == [
        ("trust-publish", 0),
        ("trust-publish", 2),
        ("trust-publish", 2),
        ("trust-publish", 0),
    ]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "name the root key (--root-key)"),
        (
            ["--root-key", "{root}", "--timestamp-expires", "soon"],
            "expected a duration",
        ),
        (["--root-key", "{root}", "--root-threshold", "2"], "needs between 1 and 1"),
        (["--refresh", "--online-key", "{root}"], "no repository to refresh"),
        (["--root-key", "/nonexistent/key.pem"], "/nonexistent/key.pem"),
    ],
)
def test_bad_flags_are_one_line_exit_2_and_write_nothing(
    tmp_path: Path,
    state: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    root = _pem_key(tmp_path / "root.pem")
    out = tmp_path / "repo"
    code = main(
        [
            "trust",
            "publish",
            "--out",
            str(out),
            *(a.replace("{root}", root) for a in argv),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert said in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not (out / "root.json").exists()
    if (state / "audit.jsonl").exists():
        assert (
            json.loads((state / "audit.jsonl").read_text().splitlines()[-1])[
                "exit_code"
            ]
            == 2
        )


def test_a_root_rotation_keeps_an_old_client_working(
    tmp_path: Path, state: Path, wall: datetime
) -> None:
    old, new = _pem_key(tmp_path / "old.pem"), _pem_key(tmp_path / "new.pem")
    online = _pem_key(tmp_path / "online.pem")
    out = tmp_path / "repo"
    _publish(out, state, now=wall - timedelta(hours=2), root=[old], online=online)
    first_root = (out / "root.json").read_bytes()
    with static_http.serve(out) as url:
        old_client = _client(tmp_path, "old-client", url, first_root)
        assert _fetch(old_client) == _held(state)
        _publish(
            out,
            state,
            now=wall - timedelta(hours=1),
            root=[new],
            online=online,
            previous=[old],
        )
        # The client that trusts root v1 walks 2.root.json (signed by both) and goes on.
        again = _client(tmp_path, "old-client", url, first_root)
        assert _fetch(again) == _held(state)
        held_by_client = json.loads(
            (tmp_path / "old-client/metadata/root.json").read_bytes()
        )
        assert held_by_client["signed"]["version"] == 2
        # And one bootstrapping from the same old root.json today.
        assert _fetch(_client(tmp_path, "newcomer", url, first_root)) == _held(state)


def test_a_rotation_signed_by_the_new_key_alone_is_refused_by_the_client(
    tmp_path: Path, state: Path, wall: datetime
) -> None:
    """If 2.root.json lacked the old key's signature, a client must refuse it (TUF §5.3.4)."""
    old, new = _pem_key(tmp_path / "old.pem"), _pem_key(tmp_path / "new.pem")
    online = _pem_key(tmp_path / "online.pem")
    out = tmp_path / "repo"
    _publish(out, state, now=wall - timedelta(hours=2), root=[old], online=online)
    first_root = (out / "root.json").read_bytes()
    _publish(
        out,
        state,
        now=wall - timedelta(hours=1),
        root=[new],
        online=online,
        previous=[old],
    )
    doc = json.loads((out / "2.root.json").read_bytes())
    old_id = json.loads(first_root)["signed"]["roles"]["root"]["keyids"][0]
    doc["signatures"] = [s for s in doc["signatures"] if s["keyid"] != old_id]
    (out / "2.root.json").write_text(json.dumps(doc))
    with static_http.serve(out) as url, pytest.raises(tuf_errors.UnsignedMetadataError):
        _client(tmp_path, "old-client", url, first_root).refresh()


def test_a_tampered_target_is_refused_by_the_client(
    tmp_path: Path, state: Path
) -> None:
    root = _pem_key(tmp_path / "root.pem")
    out = tmp_path / "repo"
    assert main(["trust", "publish", "--out", str(out), "--root-key", root]) == 0
    (target,) = (out / "targets").glob("????????*.trusted_root.json")
    target.write_bytes(target.read_bytes().replace(b"tlogs", b"tlogz"))
    with static_http.serve(out) as url:
        client = _client(tmp_path, "cluster", url, (out / "root.json").read_bytes())
        client.refresh()
        info = client.get_targetinfo("trusted_root.json")
        assert info is not None
        with pytest.raises(tuf_errors.LengthOrHashMismatchError):
            client.download_target(info)


def test_a_rolled_back_timestamp_is_refused_by_the_client(
    tmp_path: Path, state: Path, wall: datetime
) -> None:
    root, online = _pem_key(tmp_path / "root.pem"), _pem_key(tmp_path / "online.pem")
    out = tmp_path / "repo"
    _publish(out, state, now=wall - timedelta(hours=3), root=[root], online=online)
    first = (out / "timestamp.json").read_bytes()
    _publish(out, state, now=wall - timedelta(hours=2), online=online, refresh=True)
    bootstrap = (out / "root.json").read_bytes()
    with static_http.serve(out) as url:
        assert _fetch(_client(tmp_path, "cluster", url, bootstrap)) == _held(state)
        (out / "timestamp.json").write_bytes(
            first
        )  # an attacker serves version 1 again
        with pytest.raises(tuf_errors.BadVersionNumberError):
            _client(tmp_path, "cluster", url, bootstrap).refresh()


def test_a_repository_copied_elsewhere_is_served_the_same(
    tmp_path: Path, state: Path
) -> None:
    """Any static web server: the directory is all there is (no server-side logic)."""
    root = _pem_key(tmp_path / "root.pem")
    assert (
        main(["trust", "publish", "--out", str(tmp_path / "repo"), "--root-key", root])
        == 0
    )
    copy = tmp_path / "www" / "tuf"
    shutil.copytree(tmp_path / "repo", copy)
    with static_http.serve(tmp_path / "www") as url:
        client = _client(
            tmp_path, "cluster", f"{url}/tuf", (copy / "root.json").read_bytes()
        )
        assert _fetch(client) == _held(state)


@pytest.mark.hsm
def test_hsm_online_and_root_keys(
    tmp_path: Path,
    state: Path,
    softhsm: SoftHsm,
    wall: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    softhsm.init_token("tuf", user_pin=PIN)
    pkcs11.lib(softhsm.module_path).reinitialize()
    monkeypatch.setenv("COSIGN_PKCS11_PIN", PIN)
    uris = {
        label: f"pkcs11:token=tuf;object={label}?module-path={softhsm.module_path}"
        for label in ("tuf-root", "tuf-online")
    }
    for uri in uris.values():
        assert main(["pkcs11", "keygen", "--key", uri]) == 0
    out = tmp_path / "repo"
    _publish(
        out,
        state,
        now=wall - timedelta(days=1, hours=2),
        root=[uris["tuf-root"]],
        online=uris["tuf-online"],
    )
    bootstrap = (out / "root.json").read_bytes()
    with static_http.serve(out) as url:
        with pytest.raises(tuf_errors.ExpiredMetadataError):
            _client(tmp_path, "stale", url, bootstrap).refresh()
        _publish(
            out,
            state,
            now=wall - timedelta(hours=1),
            online=uris["tuf-online"],
            refresh=True,
        )
        assert _fetch(_client(tmp_path, "cluster", url, bootstrap)) == _held(state)
    audit = (state / "audit.jsonl").read_text()
    assert PIN not in audit


def test_trust_show_says_what_is_handed_on_and_how_fresh(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trust", "show"]) == 0
    assert "no TUF repository published" in capsys.readouterr().out
    root = _pem_key(tmp_path / "root.pem")
    out = tmp_path / "repo"
    assert main(["trust", "publish", "--out", str(out), "--root-key", root]) == 0
    capsys.readouterr()
    assert main(["trust", "show", "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (held,) = doc["held_roots"]
    assert held["file"] == "trusted_root.json"
    assert held["sha256"] == hashlib.sha256(_held(state)).hexdigest()
    assert doc["published"]["directory"] == str(out.resolve())
    assert doc["published"]["roles"]["timestamp"]["version"] == 1
    assert main(["trust", "show"]) == 0
    said = capsys.readouterr().out
    assert "hands on trusted_root.json (public-good)" in said
    assert "timestamp v1 expires" in said
    assert "(fresh)" in said
    # A damaged repository is named, never half-shown.
    (out / "timestamp.json").write_text("{}")
    assert main(["trust", "show"]) == 0
    assert "published repository DAMAGED" in capsys.readouterr().out


def test_every_named_root_held_is_published_under_its_name(
    tmp_path: Path, state: Path, wall: datetime
) -> None:
    """A second named root (GitHub's instance, imported through its own chain) travels too."""
    from appliance.actions.trust import TrustImportRequest, trust_import  # noqa: PLC0415
    from tests.helpers.tuf_repo import TufRepo  # noqa: PLC0415
    from tests.helpers.vectors import VECTORS  # noqa: PLC0415

    github_root = (
        (VECTORS / "github" / "trusted_root.jsonl").read_bytes().splitlines()[1]
    )
    upstream = TufRepo(now=wall)
    upstream.add_target("trusted_root.json", github_root)
    upstream.publish()
    bootstrap = tmp_path / "github-root.json"
    bootstrap.write_bytes(upstream.initial_root())
    trust_import(
        TrustImportRequest(
            source=upstream.write_to(tmp_path / "tuf-repo.github.com"),
            state_dir=state,
            bootstrap_root=bootstrap,
            name="github",
        )
    )
    names = {r.name: r.target_name for r in held.held_roots(state, now=wall)}
    assert names == {
        "public-good": "trusted_root.json",
        "github": "github.trusted_root.json",
    }
    out = tmp_path / "repo"
    _publish(
        out, state, now=wall - timedelta(hours=1), root=[_pem_key(tmp_path / "r.pem")]
    )
    with static_http.serve(out) as url:
        root = (out / "root.json").read_bytes()
        assert (
            _fetch(_client(tmp_path, "a", url, root), "github.trusted_root.json")
            == github_root
        )
        assert _fetch(_client(tmp_path, "b", url, root)) == _held(state)


def test_a_damaged_named_root_is_never_handed_on(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = state / "roots" / "corp" / "trust" / "state.json"
    damaged.parent.mkdir(parents=True)
    damaged.write_text("{not json")
    # trust show refuses a damaged named root (#22: refused, never half-shown).
    assert main(["trust", "show"]) == 1
    assert "trust state is damaged" in capsys.readouterr().err
    out = tmp_path / "repo"
    code = main(
        [
            "trust",
            "publish",
            "--out",
            str(out),
            "--root-key",
            _pem_key(tmp_path / "r.pem"),
        ]
    )
    assert (
        code == 1
    )  # fail closed: a damaged root is never handed on, nor left out silently
    assert "damaged" in capsys.readouterr().err
    assert not (out / "root.json").exists()
