"""Named trust roots: each with its own TUF chain, rollback state, clock floor and log memory.

A repository laid out like tuf-repo.github.com (its trusted root: GitHub's
instance, from ``gh attestation trusted-root``) is replayed under the name
``github``; the real GitHub TSA-only bundle then verifies offline against
it, while public-good's state is untouched. Negatives first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from appliance.actions.trust import TrustImportRequest, trust_import
from appliance.cli.main import main
from appliance.core.errors import InputError, Reason, TrustRootError
from appliance.trust import held
from tests.helpers.tuf_repo import TufRepo
from tests.helpers.vectors import VECTORS

if TYPE_CHECKING:
    from pathlib import Path

GH = VECTORS / "github"
GH_ROOT_LINE = (GH / "trusted_root.jsonl").read_bytes().splitlines()[1]
GH_TSA_ONLY = GH / "actions-attest-build-provenance-attestation-13531551.sigstore.json"
GH_DIGEST = "sha256:b03d18ed0a16864ef2d2e559c660159a2170b9d086a1f42f570b1679326b90e6"
GH_IDENTITY = [
    "--certificate-identity",
    "https://github.com/actions/attest-build-provenance/.github/workflows/prober.yml@refs/heads/main",
    "--certificate-oidc-issuer",
    "https://token.actions.githubusercontent.com",
]


@pytest.fixture
def github_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A TUF repository laid out like tuf-repo.github.com, and its initial root.

    Dated from the wall clock: ``trust import`` reads it (the one exception
    to ``fixed_now``, as for the ``tuf_repo`` fixture).
    """
    repo = TufRepo(now=datetime.now(UTC))
    repo.add_target("trusted_root.json", GH_ROOT_LINE)
    repo.publish()
    served = repo.write_to(tmp_path / "tuf-repo.github.com")
    root = tmp_path / "github-root.json"
    root.write_bytes(repo.initial_root())
    return served, root


def _import(state: Path, source: Path, **kw: object) -> None:
    trust_import(TrustImportRequest(source=source, state_dir=state, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["", "GitHub", "../x", "a/b", ".hidden", "-x", "x" * 64, "é"]
)
def test_bad_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        held.root_dir(tmp_path, name)
    assert caught.value.reason is Reason.USAGE


def test_an_unheld_name_needs_a_bootstrap_root(
    tmp_path: Path, github_repo: tuple[Path, Path]
) -> None:
    served, _ = github_repo
    with pytest.raises(InputError, match="--bootstrap-root"):
        _import(tmp_path, served, name="github")
    assert held.names(tmp_path) == ("public-good",)


def test_public_good_chain_refuses_the_github_repository(
    tmp_path: Path, github_repo: tuple[Path, Path]
) -> None:
    # Without --name it is public-good's chain: the sealed root signs none of it.
    served, _ = github_repo
    with pytest.raises(TrustRootError):
        _import(tmp_path, served)
    assert held.names(tmp_path) == ("public-good",)


def test_a_rule_naming_an_unheld_root_is_an_input_error(tmp_path: Path) -> None:
    roots = held.load_all(tmp_path, now=datetime.now(UTC))
    with pytest.raises(InputError, match="'github'"):
        held.select(roots, ["public-good", "github"], where="policy.toml:3")


def test_unknown_name_loads_nothing(tmp_path: Path) -> None:
    assert held.load(tmp_path, "github", now=datetime.now(UTC)) is None


def test_public_good_is_always_held(tmp_path: Path) -> None:
    found = held.load_all(tmp_path, now=datetime.now(UTC))
    assert list(found) == ["public-good"]
    assert found["public-good"].requires_tlog


def test_github_chain_is_held_apart_and_verifies_its_bundle(
    tmp_path: Path,
    github_repo: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served, root = github_repo
    _import(tmp_path, served, name="github", bootstrap_root=root)
    assert held.names(tmp_path) == ("public-good", "github")
    assert (tmp_path / "roots" / "github" / "trust" / "state.json").is_file()
    assert not (tmp_path / "trust").exists()  # public-good's chain untouched
    github = held.load(tmp_path, "github", now=datetime.now(UTC))
    assert github is not None
    assert github.name == "github"
    assert github.tuf_backed
    assert not github.requires_tlog

    # The same chain again is fine; an older one would be a rollback of github's alone.
    _import(tmp_path, served, name="github")

    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path))
    code = main(
        [
            "verify-blob",
            GH_DIGEST,
            "--bundle",
            str(GH_TSA_ONLY),
            *GH_IDENTITY,
            "-o",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["trust_root"]["name"] == "github"
    assert doc["trust_root"]["tuf_backed"] is True
    assert doc["signing_time_source"] == "timestamp-authority"
    # The clock floor rose for github's root only.
    assert (tmp_path / "roots" / "github" / "clock.json").is_file()

    assert main(["trust", "show", "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["roots"] == ["public-good", "github"]
    assert shown["named_roots"]["github"]["root_version"] == 1
    assert shown["imported"] is False  # public-good's chain: still the sealed root
    assert main(["trust", "show"]) == 0
    assert "Trust root github: TUF root v1" in capsys.readouterr().out


def test_without_the_github_chain_the_bundle_fails(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path))
    code = main(["verify-blob", GH_DIGEST, "--bundle", str(GH_TSA_ONLY), *GH_IDENTITY])
    _, err = capsys.readouterr()
    assert code == 1
    assert "timestamp" in err
