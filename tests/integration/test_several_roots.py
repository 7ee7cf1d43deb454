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
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import netguard, publish
from tests.helpers.exported import EPOCH, runner
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.world import IDENTITY

if TYPE_CHECKING:
    from pathlib import Path

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
        archive = base / "transfer.tar.zst"
        from bundle_tools.cli import main as bundle_tools  # noqa: PLC0415

        assert (
            bundle_tools(
                [
                    "export",
                    *(i.reference for i in images),
                    "--out",
                    str(archive),
                    "--trusted-root",
                    str(first_root),
                    "--allow-http-registry",
                    _registry_server.address,
                    "--cache",
                    str(base / "cache"),
                ]
            )
            == 0
        )
    lines = base / "roots.jsonl"
    lines.write_text(
        "".join(
            json.dumps(json.loads(s.trusted_root_json()), separators=(",", ":")) + "\n"
            for s in stacks
        )
    )
    return {
        "archive": archive,
        "roots": lines,
        "host": _registry_server.address,
        "images": images,
    }


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
