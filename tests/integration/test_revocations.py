"""Revocation feeds, end to end: ``bundle-tools revocations sign``, ``export --revocations``, ``appliance revocations import``.

Feeds are signed with real keys by the real tool and carried in a real
archive of the exported world (tests/helpers/exported.py); the appliance
applies a feed only when a key of the policy's ``revocation_keys`` verifies
it, keeps the newest per key (an older one is ignored and reported, a second
feed of one version refused), and ``max_revocation_age`` bounds the newest.
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main as appliance
from bundle_tools.cli import main as bundle_tools
from tests.helpers.exported import export_more

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.exported import Exported, Outcome

pytestmark = pytest.mark.registry


def _keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """A P-256 key file (PEM, unencrypted) and its public half."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = directory / f"{name}.key"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = directory / f"{name}.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("feed-keys")
    _keypair(directory, "security")
    _keypair(directory, "stranger")
    return directory


def _sign(
    keys_dir: Path,
    out: Path,
    *,
    digest: str,
    version: int,
    key: str = "security",
    issued: str = "2026-11-01T00:00:00Z",
    reason: str = "CVE-2026-1234: malicious build",
) -> Path:
    source = out.with_suffix(".toml")
    source.write_text(
        f'publisher = "site-security"\nversion = {version}\nissued = {issued}\n\n'
        f'[[deny]]\ndigest = "{digest}"\nreason = "{reason}"\n'
    )
    code = bundle_tools(
        [
            "revocations",
            "sign",
            str(source),
            "--key",
            str(keys_dir / f"{key}.key"),
            "-o",
            str(out),
        ]
    )
    assert code == 0
    return out


def _policy(
    directory: Path, exported: Exported, keys_dir: Path, extra: str = ""
) -> Path:
    shutil.copy(exported.key, directory / "release.pub")
    shutil.copy(keys_dir / "security.pub", directory / "security.pub")
    policy = directory / "policy.toml"
    policy.write_text(
        f"""\
version = 1
{extra}
[[rules]]
match = ["**/verify/app"]

  [[rules.signers]]
  key = "release.pub"
"""
    )
    return policy


TRUSTED = 'revocation_keys = ["security.pub"]'


def _verify(verify: Any, archive: Path, exported: Exported, policy: Path) -> Outcome:
    out: Outcome = verify(
        archive,
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(policy),
        "--image",
        exported.ref("app"),
    )
    return out


def _import(
    capsys: pytest.CaptureFixture[str], feed: Path, policy: Path
) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    code = appliance(
        ["revocations", "import", str(feed), "--policy", str(policy), "-o", "json"]
    )
    captured = capsys.readouterr()
    return (
        code,
        json.loads(captured.out) if captured.out.strip() else {},
        captured.err,
    )


def _digest_of(exported: Exported) -> str:
    return str(exported.world.app.digest)


@pytest.fixture(scope="module")
def carried(
    exported: Exported, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An archive of app carrying feed v2 that denies it, signed by the security key."""
    base = tmp_path_factory.mktemp("carried")
    feed = _sign(keys_dir, base / "feed.json", digest=_digest_of(exported), version=2)
    return export_more(
        exported, base, [exported.ref("app")], "--revocations", str(feed)
    )


# -- import ---------------------------------------------------------------------


def test_an_imported_feed_is_applied_to_every_verification(
    capsys: pytest.CaptureFixture[str],
    verify: Any,
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    assert _verify(verify, exported.archive, exported, policy).code == 0
    feed = _sign(
        keys_dir, tmp_path / "feed.json", digest=_digest_of(exported), version=1
    )
    code, report, err = _import(capsys, feed, policy)
    assert code == 0, err
    assert report["outcome"] == "applied"
    assert report["version"] == 1
    assert report["audit"]["line"] >= 1
    out = _verify(verify, exported.archive, exported, policy)
    assert out.code == 1
    app = out.image("app")
    assert app["reason"] == "denied-digest"
    assert app["message"] == (
        "denied: deny entry feed site-security v1 entry 0 (digest): "
        "CVE-2026-1234: malicious build"
    )
    assert out.report["revocations"]["feeds"][0]["version"] == 1


def test_a_feed_is_kept_across_restarts_until_a_newer_one(
    capsys: pytest.CaptureFixture[str],
    verify: Any,
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    other = "sha256:" + "0" * 64
    older = _sign(
        keys_dir, tmp_path / "v1.json", digest=_digest_of(exported), version=1
    )
    newer = _sign(keys_dir, tmp_path / "v2.json", digest=other, version=2)
    assert _import(capsys, older, policy)[0] == 0
    assert _import(capsys, newer, policy)[1]["outcome"] == "applied"
    # v2 lifts v1's entry: the image verifies again.
    assert _verify(verify, exported.archive, exported, policy).code == 0
    # Rollback: v1 again is ignored and reported, v2 stays in force.
    code, report, _ = _import(capsys, older, policy)
    assert code == 0
    assert report["outcome"] == "older than held: ignored"
    out = _verify(verify, exported.archive, exported, policy)
    assert out.code == 0
    assert [f["version"] for f in out.report["revocations"]["feeds"]] == [2]
    capsys.readouterr()
    assert appliance(["trust", "show", "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(f["publisher"], f["version"]) for f in shown["revocation_feeds"]] == [
        ("site-security", 2)
    ]
    assert shown["controls"] is None


def test_a_second_feed_of_the_version_held_is_refused(
    capsys: pytest.CaptureFixture[str],
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    first = _sign(keys_dir, tmp_path / "a.json", digest=_digest_of(exported), version=3)
    second = _sign(
        keys_dir, tmp_path / "b.json", digest="sha256:" + "1" * 64, version=3
    )
    assert _import(capsys, first, policy)[0] == 0
    code, _, err = _import(capsys, second, policy)
    assert code == 1
    assert "one version, two feeds" in err


def test_a_feed_signed_by_an_unknown_key_is_refused(
    capsys: pytest.CaptureFixture[str],
    verify: Any,
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    feed = _sign(
        keys_dir,
        tmp_path / "feed.json",
        digest=_digest_of(exported),
        version=9,
        key="stranger",
    )
    code, _, err = _import(capsys, feed, policy)
    assert code == 1
    assert "not signed by any key of the policy's revocation_keys" in err
    assert _verify(verify, exported.archive, exported, policy).code == 0


def test_a_policy_without_revocation_keys_imports_nothing(
    capsys: pytest.CaptureFixture[str],
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir)
    feed = _sign(
        keys_dir, tmp_path / "feed.json", digest=_digest_of(exported), version=1
    )
    code, _, err = _import(capsys, feed, policy)
    assert code == 1
    assert "names no revocation_keys" in err


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d["payload"].update(version=99), "not signed by any key"),
        (
            lambda d: d["payload"]["entries"][0].update(digest="sha256:" + "2" * 64),
            "not signed by any key",
        ),
        (lambda d: d.update(signatures=[]), "not signed by any key"),
        (lambda d: d.update(mediaType="application/json"), "not a revocation feed"),
        (lambda d: d.update(extra=1), "unknown member"),
    ],
)
def test_an_altered_feed_is_refused(
    capsys: pytest.CaptureFixture[str],
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
    edit: Any,
    words: str,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    feed = _sign(
        keys_dir, tmp_path / "feed.json", digest=_digest_of(exported), version=1
    )
    doc = json.loads(feed.read_bytes())
    edit(doc)
    feed.write_text(json.dumps(doc))
    code, _, err = _import(capsys, feed, policy)
    assert code in {1, 2}
    assert words in err


# -- max_revocation_age ---------------------------------------------------------


@pytest.mark.parametrize(
    ("issued", "code"),
    [("2026-11-01T00:00:00Z", 0), ("2010-01-01T00:00:00Z", 1)],
)
def test_max_revocation_age_bounds_the_newest_feed(
    capsys: pytest.CaptureFixture[str],
    verify: Any,
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
    issued: str,
    code: int,
) -> None:
    policy = _policy(
        tmp_path, exported, keys_dir, TRUSTED + '\nmax_revocation_age = "3650d"'
    )
    feed = _sign(
        keys_dir,
        tmp_path / "feed.json",
        digest="sha256:" + "3" * 64,
        version=1,
        issued=issued,
    )
    assert _import(capsys, feed, policy)[0] == 0
    out = _verify(verify, exported.archive, exported, policy)
    assert out.code == code, out.err
    if code:
        assert "over the policy's max_revocation_age" in out.err


def test_max_revocation_age_without_a_feed_held_fails_closed(
    verify: Any, exported: Exported, keys_dir: Path, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path, exported, keys_dir, TRUSTED + '\nmax_revocation_age = "7d"'
    )
    out = _verify(verify, exported.archive, exported, policy)
    assert out.code == 1
    assert "no revocation feed is held" in out.err


# -- carried in the archive -----------------------------------------------------


def test_a_feed_in_the_archive_is_applied_and_kept(
    verify: Any, exported: Exported, keys_dir: Path, tmp_path: Path, carried: Path
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    out = _verify(verify, carried, exported, policy)
    assert out.code == 1
    assert out.image("app")["reason"] == "denied-digest"
    (note,) = out.report["revocations"]["notes"]
    assert note.startswith("revocation feed site-security v2 of 2026-11-01T00:00:00Z")
    assert note.endswith(": applied and kept (held before: none)")
    # Kept: the archive without a feed is now judged under it too.
    assert _verify(verify, exported.archive, exported, policy).code == 1


def test_an_older_feed_in_the_archive_is_ignored_and_reported(
    capsys: pytest.CaptureFixture[str],
    verify: Any,
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
    carried: Path,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    newer = _sign(
        keys_dir, tmp_path / "v5.json", digest="sha256:" + "4" * 64, version=5
    )
    assert _import(capsys, newer, policy)[0] == 0
    out = _verify(verify, carried, exported, policy)
    assert out.code == 0, out.err
    assert "older than v5 held: ignored" in out.report["revocations"]["notes"][0]
    assert [f["version"] for f in out.report["revocations"]["feeds"]] == [5]


def test_a_feed_in_the_archive_no_revocation_key_verifies_fails_the_archive(
    verify: Any, exported: Exported, keys_dir: Path, tmp_path: Path, carried: Path
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    shutil.copy(keys_dir / "stranger.pub", tmp_path / "security.pub")
    out = _verify(verify, carried, exported, policy)
    assert out.code == 1
    assert "the archive's revocation feed" in out.err
    assert "not signed by any key" in out.err


def test_a_feed_in_the_archive_without_revocation_keys_is_reported_not_applied(
    verify: Any, exported: Exported, keys_dir: Path, tmp_path: Path, carried: Path
) -> None:
    policy = _policy(tmp_path, exported, keys_dir)
    out = _verify(verify, carried, exported, policy)
    assert out.code == 0, out.err
    assert (
        "names no revocation_keys: not applied" in out.report["revocations"]["notes"][0]
    )


def test_inspect_shows_what_a_carried_feed_claims(
    capsys: pytest.CaptureFixture[str], carried: Path
) -> None:
    capsys.readouterr()
    assert bundle_tools(["inspect", str(carried), "-o", "json"]) == 0
    feed = json.loads(capsys.readouterr().out)["revocations"]
    assert feed == {
        "publisher": "site-security",
        "version": 2,
        "issued": "2026-11-01T00:00:00Z",
        "entries": 1,
        "signatures": 1,
    }
    assert bundle_tools(["inspect", str(carried)]) == 0
    assert "revocation feed site-security v2" in capsys.readouterr().out


def test_the_text_report_names_the_feeds_and_a_carried_ones_fate(
    capsys: pytest.CaptureFixture[str],
    exported: Exported,
    keys_dir: Path,
    tmp_path: Path,
    carried: Path,
) -> None:
    policy = _policy(tmp_path, exported, keys_dir, TRUSTED)
    capsys.readouterr()
    code = appliance(
        [
            "verify",
            str(carried),
            "--trusted-root",
            str(exported.root),
            "--policy",
            str(policy),
            "--image",
            exported.ref("app"),
        ]
    )
    text = "".join(capsys.readouterr())
    assert code == 1
    assert "revocations: 0 policy deny entries; feed site-security v2, " in text
    assert (
        "revocations: revocation feed site-security v2 of 2026-11-01T00:00:00Z" in text
    )
