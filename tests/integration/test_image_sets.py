"""``bundle-tools export --set``: tag filters resolved on a real registry, paged, recorded, reproducible.

docker-registry 2.8 holds one repository of many tags (releases, a
pre-release, tags that are not SemVer, more than one page); a front
(tests/helpers/tag_pages.py) pages its tag list as newer registries do, so
the exporter must follow ``Link`` headers to see every tag.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airlock_io.archive import read_archive
from appliance.core.archive import view
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard, publish
from tests.helpers.tag_pages import TagPages

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry
EPOCH = "1790000000"
REPO = "sets/app"
TAGS = [
    "v1.0.0",
    "v1.2.3",
    "v1.4.0",
    "v1.4.1",
    "v1.5.0-rc.1",
    "1.5.0",
    "v1.10.0",
    "v2.0.0",
    "v2.1.0-beta",
    "latest",
    "stable",
    "1.6",
    "nightly-20261101",
    "v3",
]


@pytest.fixture(scope="module")
def front(_registry_server: Registry) -> Iterator[TagPages]:
    with netguard.loopback():
        for tag in TAGS:
            publish.image(_registry_server, REPO, tag)
        pages = TagPages(_registry_server, page=4).start()
        try:
            yield pages
        finally:
            pages.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loopback: None) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path


def _set_file(directory: Path, host: str, entry: str, name: str = "set.toml") -> Path:
    path = directory / name
    path.write_text(
        f'version = 1\n\n[[images]]\nrepository = "{host}/{REPO}"\n{entry}\n'
    )
    return path


def _run(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, dict[str, Any] | None, str]:
    code = bundle_tools(["export", *argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "internal error" not in captured.err
    doc = json.loads(captured.out) if captured.out.startswith("{") else None
    return code, doc, captured.err.strip()


def _dry_run(
    capsys: pytest.CaptureFixture[str], front: TagPages, set_file: Path
) -> tuple[int, dict[str, Any] | None, str]:
    return _run(
        capsys,
        "--set",
        str(set_file),
        "--dry-run",
        "--allow-http-registry",
        front.address,
        "-o",
        "json",
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('tags = ["v1.2.3", "stable"]', {"v1.2.3", "stable"}),
        ('regex = "^v1\\\\.4\\\\."', {"v1.4.0", "v1.4.1"}),
        ('semver = ">=1.4, <2"', {"v1.4.0", "v1.4.1", "1.5.0", "v1.10.0"}),
        (
            'semver = ">=1.4, <2"\nprereleases = true',
            {"v1.4.0", "v1.4.1", "v1.5.0-rc.1", "1.5.0", "v1.10.0"},
        ),
        ("newest = 2", {"v2.0.0", "v1.10.0"}),
        ("newest = 1\nprereleases = true", {"v2.1.0-beta"}),
        ('semver = "<2"\nnewest = 2', {"v1.10.0", "1.5.0"}),
        ('regex = "^nightly-"', {"nightly-20261101"}),
        ("all_tags = true", set(TAGS)),
        ('tags = ["latest"]\nnewest = 1', {"latest", "v2.0.0"}),
    ],
)
def test_tag_filters_on_a_paged_registry(
    front: TagPages,
    env: Path,
    capsys: pytest.CaptureFixture[str],
    entry: str,
    expected: set[str],
) -> None:
    before = front.pages_served
    code, doc, err = _dry_run(capsys, front, _set_file(env, front.address, entry))
    assert code == 0, err
    assert doc is not None
    (resolution,) = doc["resolution"]
    # Every tag was listed, across pages (4 a page, 14 tags: 4 pages).
    assert resolution["listed"] == sorted(TAGS)
    assert front.pages_served - before == 4
    assert {m["target"] for m in resolution["matched"]} == expected
    assert all(m["why"] for m in resolution["matched"])
    assert doc["references"] == [
        f"{front.address}/{REPO}:{t}" for t in sorted(expected)
    ]


@pytest.mark.parametrize(
    "entry",
    [
        'semver = ">=4"',
        'regex = "^release-"',
        'tags = ["v9.9.9"]',
        'tags = ["v1.2.3", "v1.2.4"]',
        'semver = ">=2.1, <3"',  # only a pre-release is there
    ],
)
def test_an_entry_matching_nothing_fails_unless_optional(
    front: TagPages, env: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    code, doc, err = _dry_run(capsys, front, _set_file(env, front.address, entry))
    assert code == 2
    assert doc is not None
    assert doc["reason"] == "nothing-matched"
    assert "set.toml:3" in err
    assert "optional = true" in err
    code, doc, err = _dry_run(
        capsys, front, _set_file(env, front.address, entry + "\noptional = true")
    )
    assert code == 0, err
    assert doc is not None


def test_an_unknown_repository_matches_nothing(
    front: TagPages, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / "set.toml"
    path.write_text(
        f'version = 1\n[[images]]\nrepository = "{front.address}/sets/absent"\nall_tags = true\n'
    )
    code, _, err = _dry_run(capsys, front, path)
    assert code == 2
    assert "sets/absent" in err
    assert "match none of the 0 tags" in err


def test_a_bad_set_file_fails_before_any_network_access(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The registry named does not exist: a network attempt would say so instead.
    path = _set_file(env, "127.0.0.1:9", 'semver = ">=1.4"\nnewst = 3')
    code, _, err = _run(
        capsys, "--set", str(path), "--out", str(env / "o.tar.zst"), "--no-trust"
    )
    assert code == 2
    assert f"{path}:6" in err
    assert "unknown key 'newst'" in err
    assert not (env / "o.tar.zst").exists()


def test_export_needs_out_unless_dry_run(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys, "--set", str(_set_file(env, "127.0.0.1:9", "newest = 1"))
    )
    assert code == 2
    assert "--out" in err


def _export(front: TagPages, set_file: Path, out: Path, *extra: str) -> int:
    return bundle_tools(
        [
            "export",
            "--set",
            str(set_file),
            *extra,
            "--out",
            str(out),
            "--no-trust",
            "--allow-http-registry",
            front.address,
            "--cache",
            str(out.parent / "cache"),
            "-o",
            "json",
        ]
    )


def test_two_exports_of_a_set_are_byte_identical_and_the_ledger_says_why(
    front: TagPages, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_file = _set_file(env, front.address, 'semver = ">=1.4, <2"\nnewest = 2')
    extra = f"{front.address}/{REPO}:stable"  # a REF on the command line joins the set
    first, second = env / "a" / "one.tar.zst", env / "b" / "one.tar.zst"
    for out in (first, second):
        out.parent.mkdir()
        assert _export(front, set_file, out, extra) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert first.read_bytes() == second.read_bytes()

    ledger, _ = view.ledger(read_archive(first).contents)
    assert [i.asked for i in ledger.images] == [
        extra,
        f"{front.address}/{REPO}:1.5.0",
        f"{front.address}/{REPO}:v1.10.0",
    ]
    (resolution,) = ledger.resolution
    assert resolution.source == f"{set_file}:3"
    assert resolution.listed == tuple(sorted(TAGS))
    assert {m.target: m.why for m in resolution.matched} == {
        "1.5.0": "semver >=1.4, <2; newest 2 (#2)",
        "v1.10.0": "semver >=1.4, <2; newest 2 (#1)",
    }
    assert resolution.filters == {"semver": ">=1.4, <2", "newest": 2}

    assert bundle_tools(["inspect", str(first)]) == 0
    shown = capsys.readouterr().out
    assert "14 tags listed" in shown
    assert "newest 2 (#1)" in shown


def test_a_new_tag_upstream_changes_the_resolution_and_the_archive(
    front: TagPages,
    env: Path,
    capsys: pytest.CaptureFixture[str],
    registry: Registry,
) -> None:
    repo = "sets/moving"
    publish.image(registry, repo, "v1.2.3")
    set_file = env / "moving.toml"
    set_file.write_text(
        f'version = 1\n[[images]]\nrepository = "{front.address}/{repo}"\nregex = "^v1\\\\.2\\\\."\n'
    )
    first, second = env / "first.tar.zst", env / "second.tar.zst"
    assert _export(front, set_file, first) == 0, capsys.readouterr().err
    publish.image(registry, repo, "v1.2.4")
    assert _export(front, set_file, second) == 0, capsys.readouterr().err
    capsys.readouterr()
    one, _ = view.ledger(read_archive(first).contents)
    two, _ = view.ledger(read_archive(second).contents)
    assert [m.target for m in one.resolution[0].matched] == ["v1.2.3"]
    assert [m.target for m in two.resolution[0].matched] == ["v1.2.3", "v1.2.4"]
    assert [i.asked for i in two.images] == [
        f"{front.address}/{repo}:v1.2.3",
        f"{front.address}/{repo}:v1.2.4",
    ]


def test_an_entry_s_platforms_apply_to_its_images_only(
    front: TagPages,
    env: Path,
    capsys: pytest.CaptureFixture[str],
    registry: Registry,
) -> None:
    multi = publish.index(registry, "sets/multi", "v2.0.0")
    set_file = env / "platforms.toml"
    set_file.write_text(
        "version = 1\n"
        f'[[images]]\nrepository = "{front.address}/sets/multi"\n'
        'newest = 1\nplatforms = ["linux/amd64"]\n'
        f'[[images]]\nrepository = "{front.address}/{REPO}"\ntags = ["v1.2.3"]\n'
    )
    out = env / "platforms.tar.zst"
    assert _export(front, set_file, out) == 0, capsys.readouterr().err
    capsys.readouterr()
    ledger, _ = view.ledger(read_archive(out).contents)
    by_name = {i.asked.rsplit("/", 1)[-1]: i for i in ledger.images}
    platforms = {p.platform: p.included for p in by_name["multi:v2.0.0"].platforms}
    assert platforms == {"linux/amd64": True, "linux/arm64/v8": False}
    assert by_name["multi:v2.0.0"].digest == multi.digest
    assert by_name["app:v1.2.3"].platforms == ()
    assert ledger.platforms == ()  # no --platform: the entry's choice is its own
