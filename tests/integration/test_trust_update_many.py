"""``bundle-tools trust update --repository NAME=URL --root NAME=FILE``: several TUF repositories (#22).

Each repository is a real TUF repository (``tests.helpers.tuf_repo``) served
on loopback; ngclient refreshes it as it would ``tuf-repo.github.com``. One
run writes public-good's capsule at ``--out`` (where a single refresh puts it)
and each named one at ``--out/NAME/``, or nothing at all: a repository that
cannot be reached or does not verify from the operator's root is named, and
no directory is left behind.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from appliance.cli.main import main as appliance
from appliance.core.errors import InputError, Reason
from bundle_tools.cli import main as bundle_tools
from bundle_tools.export import named_capsule_dirs, read_capsule
from bundle_tools.export_cmd import _trust_dir
from tests.helpers.tuf_repo import TufRepo
from tests.helpers.vectors import VECTORS

if TYPE_CHECKING:
    from pathlib import Path

# GitHub's trusted root as `gh attestation trusted-root` prints it (second line).
GH_LINE = (VECTORS / "github" / "trusted_root.jsonl").read_bytes().splitlines()[1]
# Nothing listens on the discard port of loopback: an unreachable repository.
UNREACHABLE = "http://127.0.0.1:9"


def _repo() -> TufRepo:
    # Dated from the wall clock: ngclient reads it (see the tuf_repo fixture).
    repo = TufRepo(now=datetime.now(UTC))
    repo.add_target("trusted_root.json", GH_LINE)
    repo.publish()
    return repo


def _root(repo: TufRepo, path: Path) -> str:
    path.write_bytes(repo.initial_root())
    return str(path)


def _update(*flags: str) -> int:
    return bundle_tools(["trust", "update", *flags])


@pytest.mark.network
def test_two_named_repositories_and_public_good_in_one_run(
    tmp_path: Path, loopback: None, capsys: pytest.CaptureFixture[str]
) -> None:
    del loopback
    public, github, private = _repo(), _repo(), _repo()
    out = tmp_path / "trust"
    with public.serve() as pg_url, github.serve() as gh_url, private.serve() as p_url:
        code = _update(
            "--tuf-url", pg_url, "--root", _root(public, tmp_path / "pg.json"),
            "--repository", f"github={gh_url}",
            "--root", f"github={_root(github, tmp_path / 'gh.json')}",
            "--repository", f"acme-private={p_url}",
            "--root", f"acme-private={_root(private, tmp_path / 'p.json')}",
            "--out", str(out),
        )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "public-good",
        "github",
        "acme-private",
    ]
    assert f"written to {out / 'github'}" in lines[1]
    # public-good's capsule is where a single refresh writes it; the named
    # ones beside its files, never read as part of it.
    assert (out / "timestamp.json").is_file()
    assert all("/" not in n or n.startswith("targets/") for n in read_capsule(out))
    assert named_capsule_dirs(out) == (
        ("acme-private", out / "acme-private"),
        ("github", out / "github"),
    )
    assert (
        read_capsule(out / "github")["timestamp.json"] == github.files["timestamp.json"]
    )
    # The appliance replays the named capsule from the operator's root for that name.
    held = ["trust", "import", str(out / "github"), "--name", "github"]
    code = appliance(
        [*held, "--bootstrap-root", str(tmp_path / "gh.json"), "-o", "json"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["root_version"] == 1
    # public-good's capsule imports from DIR itself, its neighbours ignored.
    code = appliance(
        ["trust", "import", str(out), "--bootstrap-root", str(tmp_path / "pg.json")]
    )
    assert code == 0
    capsys.readouterr()
    # ... and never from another repository's root.
    other = ["trust", "import", str(out / "acme-private"), "--name", "acme-private"]
    assert appliance([*other, "--bootstrap-root", str(tmp_path / "gh.json")]) == 1


@pytest.mark.network
def test_only_named_repositories(
    tmp_path: Path, loopback: None, capsys: pytest.CaptureFixture[str]
) -> None:
    del loopback
    private = _repo()
    out = tmp_path / "trust"
    with private.serve() as url:
        code = _update(
            "--no-public-good",
            "--repository", f"acme-private={url}",
            "--root", f"acme-private={_root(private, tmp_path / 'p.json')}",
            "--out", str(out),
        )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["acme-private"]
    assert _trust_dir(out, ()) == (None, (("acme-private", out / "acme-private"),))


@pytest.mark.network
@pytest.mark.parametrize("fault", ["unreachable", "another-root", "tampered"])
def test_a_failing_repository_is_named_and_nothing_is_written(
    fault: str, tmp_path: Path, loopback: None, capsys: pytest.CaptureFixture[str]
) -> None:
    del loopback
    github, private = _repo(), _repo()
    root = _root(_repo() if fault == "another-root" else private, tmp_path / "p.json")
    if fault == "tampered":
        private.corrupt_target("trusted_root.json")
    out = tmp_path / "trust"
    with github.serve() as gh_url, private.serve() as p_url:
        code = _update(
            "--no-public-good",
            "--repository", f"github={gh_url}",
            "--root", f"github={_root(github, tmp_path / 'gh.json')}",
            "--repository",
            f"acme-private={UNREACHABLE if fault == 'unreachable' else p_url}",
            "--root", f"acme-private={root}",
            "--out", str(out),
        )  # fmt: skip
    err = capsys.readouterr().err
    # A repository that does not verify is a failed verification (exit 1), as
    # for a single refresh; what matters: it is named, and nothing is kept.
    assert code == 1, err
    assert "repository acme-private (http://127.0.0.1:" in err
    assert "github" not in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert not out.exists()
    # No temporary directory left beside it either.
    assert {p.name for p in tmp_path.iterdir()} == {"p.json", "gh.json"}


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--repository", "github"], "needs --root github=FILE"),
        (["--repository", "github=http://127.0.0.1:9"], "needs --root github=FILE"),
        (["--repository", "acme"], "no known URL for acme"),
        (["--repository", "GitHub=http://x"], "is not a trust root name"),
        (["--repository", "targets=http://x", "--root", "targets=r"], "not 'targets'"),
        (
            ["--repository", "a=http://x", "--repository", "a=http://y"],
            "each name once",
        ),
        (["--repository", "a=ftp://x", "--root", "a=r"], "http(s) URL"),
        (["--root", "github=gh.json"], "no --repository github"),
        (["--root", "a.json", "--root", "b.json"], "one --root FILE"),
        (["--no-public-good"], "needs --repository"),
        (
            ["--no-public-good", "--tuf-url", "http://x", "--root", "r"],
            "--no-public-good takes neither",
        ),
        (
            ["--repository", "public-good=http://x", "--tuf-url", "http://y"],
            "public-good is --tuf-url",
        ),
        (
            ["--repository", "a=http://x", "--root", "a=/nonexistent/root.json"],
            "cannot read root",
        ),
    ],
)
def test_update_usage_errors(
    flags: list[str],
    needle: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No loopback: a usage error is found before any network work.
    assert _update(*flags, "--out", str(tmp_path / "trust")) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "trust").exists()


def test_trust_dir_refusals(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory") as caught:
        _trust_dir(tmp_path / "absent", ())
    assert caught.value.reason is Reason.USAGE
    with pytest.raises(InputError, match="holds no trust capsule"):
        _trust_dir(tmp_path, ())
    (tmp_path / "github").mkdir()
    with pytest.raises(InputError, match="in --trust-dir already"):
        _trust_dir(tmp_path, (("github", tmp_path / "elsewhere"),))
    (tmp_path / "acme").symlink_to(tmp_path / "github")
    with pytest.raises(InputError, match="links are refused"):
        _trust_dir(tmp_path, ())


@pytest.mark.parametrize("other", ["--trust-capsule", "--trusted-root", "--no-trust"])
def test_trust_dir_is_one_choice_of_trust(
    other: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = [other] if other == "--no-trust" else [other, str(tmp_path)]
    argv = ["export", "r.example/a:1", "--out", str(tmp_path / "a.tar.zst")]
    assert bundle_tools([*argv, "--trust-dir", str(tmp_path), *flags]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "a.tar.zst").exists()
