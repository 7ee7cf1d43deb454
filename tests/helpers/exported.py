"""One exported world, shared by the archive tests (verify, load, extract).

The world (tests/helpers/world.py) and its troubles are published to the
session's docker-registry and exported once by ``bundle-tools export`` with
the test Sigstore stack's trusted root (the session's ``exported`` fixture,
tests/conftest.py, shared by the integration and property tests);
:func:`export_more` exports other selections of the same registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from appliance.cli.main import main as appliance
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.world import IDENTITY, Trouble, World, publish_trouble, publish_world

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.helpers.registry import Registry

EPOCH = "1790000000"  # 2026-09-21T14:13:20Z
KEYLESS = [
    "--certificate-identity",
    IDENTITY,
    "--certificate-oidc-issuer",
    DEFAULT_ISSUER,
]


@dataclass
class Exported:
    """The world, its troubles, and one archive of them all."""

    world: World
    trouble: Trouble
    archive: Path
    root: Path  # the test stack's trusted root, as an operator would pass it
    key: Path  # the release key's public half

    def ref(self, name: str) -> str:
        """The reference of image ``name`` (``app``, ``multi``, ``copied``...)."""
        image = getattr(self.world, name, None) or getattr(self.trouble, name)
        return str(image.reference)


def export_world(registry: Registry, base: Path) -> Exported:
    """Publish the world and its troubles, and export them all into one archive."""
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(base / "docker"))
        stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
        world = publish_world(registry, stack, namespace="verify")
        trouble = publish_trouble(world)
        root = base / "trusted_root.json"
        root.write_bytes(stack.trusted_root_json())
        key = base / "release.pub"
        key.write_bytes(world.public_pem)
        archive = base / "transfer.tar.zst"
        _export(world, [*world.references, *trouble.references], archive, root, base)
        return Exported(
            world=world, trouble=trouble, archive=archive, root=root, key=key
        )


def export_more(
    exported: Exported, base: Path, references: list[str], *flags: str
) -> Path:
    """Export ``references`` of the world's registry (with ``flags``) into another archive in ``base``."""
    archive = base / "more.tar.zst"
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(base / "docker"))
        _export(exported.world, references, archive, exported.root, base, *flags)
    return archive


def _export(
    world: World,
    references: list[str],
    archive: Path,
    root: Path,
    base: Path,
    *flags: str,
) -> None:
    code = bundle_tools(
        [
            "export",
            *references,
            "--out",
            str(archive),
            "--trusted-root",
            str(root),
            "--allow-http-registry",
            world.registry.address,
            "--cache",
            str(base / "cache"),
            *flags,
        ]
    )
    assert code == 0


@dataclass
class Outcome:
    code: int
    report: dict[str, Any]
    err: str

    def image(self, name: str) -> dict[str, Any]:
        """The report's entry for the image whose repository ends in ``/name``."""
        return next(
            i
            for i in self.report["images"]
            if i["reference"].split("@")[0].rsplit(":", 1)[0].endswith(f"/{name}")
        )


def runner(capsys: pytest.CaptureFixture[str], command: str) -> Callable[..., Outcome]:
    """Run ``appliance COMMAND ARCHIVE ... -o json``; the outcome parsed."""

    def run(archive: Path, *args: str) -> Outcome:
        capsys.readouterr()
        code = appliance([command, str(archive), "-o", "json", *args])
        captured = capsys.readouterr()
        report = json.loads(captured.out) if captured.out.strip() else {}
        return Outcome(code=code, report=report, err=captured.err)

    return run
