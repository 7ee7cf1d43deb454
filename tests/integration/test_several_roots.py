"""One archive, images signed under three Sigstore instances, verified in one pass (#22).

Three local Sigstore stacks (three Fulcio CAs, three Rekor logs, three CT
logs) sign one image each; ``bundle-tools export`` writes one archive; the
appliance verifies it with the three roots given as ``gh attestation
trusted-root``-style JSON lines (named ``line-1``..``line-3``, the stacks'
Fulcio is no known instance) and a policy whose rules each name one root.
Each image passes under its rule's root only: a signer valid under another
rule's root does not count, and a rule naming a root not held is an input
error naming its line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from appliance.cli.main import main as appliance
from tests.helpers import netguard, publish
from tests.helpers.exported import EPOCH, runner
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.tuf_repo import TufRepo
from tests.helpers.vectors import VECTORS
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from tests.helpers.registry import Registry

pytestmark = [pytest.mark.registry, pytest.mark.slow]
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
NAMES = ("public", "internal", "private")

POLICY = """\
version = 1

[[rules]]
match = ["{host}/roots/public"]
trust = ["{public}"]
  [[rules.signers]]
  identity = "{identity}"
  issuer = "{issuer}"

[[rules]]
match = ["{host}/roots/internal"]
trust = ["{internal}"]
  [[rules.signers]]
  identity = "{identity}"
  issuer = "{issuer}"

[[rules]]
match = ["{host}/roots/private"]
trust = ["{private}"]
  [[rules.signers]]
  identity = "{identity}"
  issuer = "{issuer}"
"""


@pytest.fixture(scope="module")
def three(
    _registry_server: Registry, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Three images, each signed under its own instance, in one archive; the three roots."""
    base = tmp_path_factory.mktemp("three-roots")
    stacks = [SigstoreStack(now=NOW) for _ in NAMES]
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(base / "docker"))
        images = []
        for name, stack in zip(NAMES, stacks, strict=True):
            image = publish.image(_registry_server, f"roots/{name}", "v1")
            signer = publish.Signer(_registry_server, stack)
            if name == "internal":
                signer.bundle_referrer(image, identity=IDENTITY)
            else:
                signer.sign_legacy(image, identity=IDENTITY)
            images.append(image)
        first_root = base / "first.json"
        first_root.write_bytes(stacks[0].trusted_root_json())
    archive = _export(
        _registry_server,
        [i.reference for i in images],
        base / "transfer.tar.zst",
        first_root,
        base,
    )
    lines = base / "roots.jsonl"
    lines.write_text(
        "".join(
            json.dumps(json.loads(s.trusted_root_json()), separators=(",", ":")) + "\n"
            for s in stacks
        )
    )
    return {
        "stacks": stacks,
        "archive": archive,
        "roots": lines,
        "host": _registry_server.address,
        "images": images,
        "registry": _registry_server,
        "first_root": first_root,
        "base": base,
    }


def _export(
    registry: Registry,
    refs: list[str],
    archive: Path,
    root: Path,
    base: Path,
    *flags: str,
) -> Path:
    from bundle_tools.cli import main as bundle_tools  # noqa: PLC0415

    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(base / "docker"))
        code = bundle_tools(
            [
                "export", *refs,
                "--out", str(archive),
                "--trusted-root", str(root),
                "--allow-http-registry", registry.address,
                "--cache", str(base / "cache"),
                *flags,
            ]
        )  # fmt: skip
    assert code == 0
    return archive


def _policy(tmp_path: Path, three: dict[str, Any], **roots: str) -> Path:
    names = {"public": "line-1", "internal": "line-2", "private": "line-3", **roots}
    path = tmp_path / "policy.toml"
    path.write_text(
        POLICY.format(
            host=three["host"], identity=IDENTITY, issuer=DEFAULT_ISSUER, **names
        )
    )
    return path


@pytest.fixture
def verify(capsys: pytest.CaptureFixture[str], loopback: None) -> Any:
    del loopback
    return runner(capsys, "verify")


def test_a_signer_valid_only_under_another_rules_root_does_not_count(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    # internal's rule trusts the public root: its genuine signature (under
    # line-2) no longer counts; the others still pass under their own.
    policy = _policy(tmp_path, three, internal="line-1")
    out = verify(
        three["archive"], "--policy", str(policy), "--trusted-root", str(three["roots"])
    )
    assert out.code == 1, out.err
    assert out.image("internal")["verified"] is False
    assert out.image("public")["verified"] is True
    assert out.image("private")["verified"] is True


def test_swapped_roots_refuse_both(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, three, public="line-3", private="line-1")
    out = verify(
        three["archive"], "--policy", str(policy), "--trusted-root", str(three["roots"])
    )
    assert out.code == 1
    assert [out.image(n)["verified"] for n in NAMES] == [False, True, False]


def test_a_rule_naming_a_root_not_held_is_an_input_error(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, three, private="github")
    out = verify(
        three["archive"], "--policy", str(policy), "--trusted-root", str(three["roots"])
    )
    assert out.code == 2
    assert f"{policy}:19" in out.err
    assert "'github'" in out.err


def test_without_the_roots_nothing_verifies(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    # The rules' roots are not held: input error, nothing judged as passed.
    out = verify(three["archive"], "--policy", str(_policy(tmp_path, three)))
    assert out.code == 2


def test_three_roots_one_pass(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, three)
    out = verify(
        three["archive"], "--policy", str(policy), "--trusted-root", str(three["roots"])
    )
    assert out.code == 0, out.err
    for name, root in zip(NAMES, ("line-1", "line-2", "line-3"), strict=True):
        image = out.image(name)
        assert image["verified"] is True, image
        names = {s["trust_root"] for s in image["signatures"] if s["verified"]}
        assert names == {root}, image["signatures"]


# -- a named root's capsule carried in the archive ---------------------------------


GH_LINE = (VECTORS / "github" / "trusted_root.jsonl").read_bytes().splitlines()[1]


def _github_repo() -> TufRepo:
    # Dated from the wall clock: the replay reads it (as the tuf_repo fixture).
    repo = TufRepo(now=datetime.now(UTC))
    repo.add_target("trusted_root.json", GH_LINE)
    repo.publish()
    return repo


def _carrying(three: dict[str, Any], tmp_path: Path, capsule: Path) -> Path:
    return _export(
        three["registry"],
        [three["images"][0].reference],
        tmp_path / "named.tar.zst",
        three["first_root"],
        three["base"],
        "--named-capsule",
        f"github={capsule}",
    )


def _state() -> Path:
    import os  # noqa: PLC0415

    return Path(os.environ["APPLIANCE_STATE_DIR"])


def test_a_named_capsule_from_another_repository_fails_the_verification(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    held_repo, other = _github_repo(), _github_repo()
    first = held_repo.write_to(tmp_path / "held")
    (tmp_path / "root.json").write_bytes(held_repo.initial_root())
    assert appliance(["trust", "import", str(first), "--name", "github",
                      "--bootstrap-root", str(tmp_path / "root.json")]) == 0  # fmt: skip
    before = (_state() / "roots" / "github" / "trust" / "state.json").read_bytes()
    archive = _carrying(three, tmp_path, other.write_to(tmp_path / "other"))
    out = verify(
        archive,
        "--policy",
        str(_policy(tmp_path, three)),
        "--trusted-root",
        str(three["roots"]),
    )
    assert out.code == 1
    assert "github trust capsule does not replay" in out.err
    assert (
        _state() / "roots" / "github" / "trust" / "state.json"
    ).read_bytes() == before


def test_a_named_capsule_of_a_root_not_held_is_not_used(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    archive = _carrying(three, tmp_path, _github_repo().write_to(tmp_path / "gh"))
    out = verify(
        archive,
        "--policy",
        str(_policy(tmp_path, three)),
        "--trusted-root",
        str(three["roots"]),
    )
    assert out.code == 0, out.err
    assert out.report["trust"]["named_capsules"]["github"].startswith("not held")
    assert not (_state() / "roots" / "github" / "trust").exists()


def test_a_named_capsule_continues_its_held_chain(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    repo = _github_repo()
    first = repo.write_to(tmp_path / "v1")
    (tmp_path / "root.json").write_bytes(repo.initial_root())
    assert appliance(["trust", "import", str(first), "--name", "github",
                      "--bootstrap-root", str(tmp_path / "root.json")]) == 0  # fmt: skip
    repo.add_target("trusted_root.json", GH_LINE + b"\n")
    repo.publish()
    archive = _carrying(three, tmp_path, repo.write_to(tmp_path / "v2"))
    out = verify(
        archive,
        "--policy",
        str(_policy(tmp_path, three)),
        "--trusted-root",
        str(three["roots"]),
    )
    assert out.code == 0, out.err
    assert out.report["trust"]["named_capsules"] == {
        "github": "imported: TUF root v1, timestamp v2"
    }
    state = json.loads(
        (_state() / "roots" / "github" / "trust" / "state.json").read_text()
    )
    assert state["roles"]["timestamp"]["version"] == 2


def test_export_verify_with_judges_under_the_named_capsules_roots(
    three: dict[str, Any], tmp_path: Path
) -> None:
    repo = TufRepo(now=datetime.now(UTC))
    repo.add_target("trusted_root.json", three["stacks"][1].trusted_root_json())
    repo.publish()
    capsule = repo.write_to(tmp_path / "acme")
    internal = three["images"][1].reference
    policy = tmp_path / "policy.toml"
    for trust, code in (("acme-private", 0), ("public-good", 1)):
        policy.write_text(
            f'[[rules]]\nmatch = ["**"]\ntrust = ["{trust}"]\n[[rules.signers]]\n'
            f'identity = "{IDENTITY}"\nissuer = "{DEFAULT_ISSUER}"\n'
        )
        from bundle_tools.cli import main as bundle_tools  # noqa: PLC0415

        with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
            patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
            patch.setenv("DOCKER_CONFIG", str(three["base"] / "docker"))
            got = bundle_tools(
                [
                    "export", internal,
                    "--out", str(tmp_path / f"{trust}.tar.zst"),
                    "--trusted-root", str(three["first_root"]),
                    "--allow-http-registry", three["registry"].address,
                    "--cache", str(three["base"] / "cache"),
                    "--named-capsule", f"acme-private={capsule}",
                    "--verify-with", str(policy),
                ]
            )  # fmt: skip
        assert got == code, trust
        assert (tmp_path / f"{trust}.tar.zst").exists() is (code == 0)


def test_trust_update_of_two_repositories_exported_with_trust_dir(
    three: dict[str, Any], verify: Any, tmp_path: Path
) -> None:
    """Refresh two named repositories in one run, carry both with ``--trust-dir``, verify."""
    from bundle_tools.cli import main as bundle_tools  # noqa: PLC0415

    acme = TufRepo(now=datetime.now(UTC))
    acme.add_target("trusted_root.json", three["stacks"][1].trusted_root_json())
    acme.publish()
    repos = {"github": _github_repo(), "acme-private": acme}
    # The operator holds each root once (v1); the archive brings timestamp v2.
    for name, repo in repos.items():
        root = tmp_path / f"{name}.json"
        root.write_bytes(repo.initial_root())
        first = repo.write_to(tmp_path / f"{name}-v1")
        assert appliance(["trust", "import", str(first), "--name", name,
                          "--bootstrap-root", str(root)]) == 0  # fmt: skip
        repo.add_target(
            "trusted_root.json", repo.target_files["trusted_root.json"] + b"\n"
        )
        repo.publish()
    trust_dir = tmp_path / "trust"
    with repos["github"].serve() as gh_url, acme.serve() as acme_url:
        assert bundle_tools(
            [
                "trust", "update", "--no-public-good",
                "--repository", f"github={gh_url}",
                "--root", f"github={tmp_path / 'github.json'}",
                "--repository", f"acme-private={acme_url}",
                "--root", f"acme-private={tmp_path / 'acme-private.json'}",
                "--out", str(trust_dir),
            ]
        ) == 0  # fmt: skip
    archive = tmp_path / "two.tar.zst"
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(three["base"] / "docker"))
        assert bundle_tools(
            [
                "export", three["images"][1].reference,
                "--out", str(archive),
                "--trust-dir", str(trust_dir),
                "--allow-http-registry", three["registry"].address,
                "--cache", str(three["base"] / "cache"),
            ]
        ) == 0  # fmt: skip
    policy = tmp_path / "policy.toml"
    for trust, code in (("acme-private", 0), ("github", 1), ("public-good", 1)):
        policy.write_text(
            f'[[rules]]\nmatch = ["**"]\ntrust = ["{trust}"]\n[[rules.signers]]\n'
            f'identity = "{IDENTITY}"\nissuer = "{DEFAULT_ISSUER}"\n'
        )
        out = verify(archive, "--policy", str(policy))
        assert out.code == code, (trust, out.err)
        assert out.image("internal")["verified"] is (code == 0)
        if (
            trust == "acme-private"
        ):  # the archive's capsules replayed, each from its root
            assert out.report["trust"]["named_capsules"] == {
                "github": "imported: TUF root v1, timestamp v2",
                "acme-private": "imported: TUF root v1, timestamp v2",
            }
