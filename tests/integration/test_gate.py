"""The gate: what is pushed, written and shown rests on verified facts only.

A red team edited only what nothing signs (the ledger, ``index.json`` and its
annotations) and made a verified image's tag resolve to an unsigned digest,
created repositories, pushed a name its rule refused, and loosened
``each_platform``. Each of those edits is replayed here on a real exported
archive, through ``verify``, a dry-run ``load`` (the push plan) and
``extract`` (the layout written): each may only add failures.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from appliance.cli.main import main as appliance
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard, publish
from tests.helpers.archives import extract as unpack
from tests.helpers.exported import EPOCH
from tests.helpers.layout_edit import Layout
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.world import IDENTITY, ROGUE, copy_tag

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.registry import Registry

pytestmark = pytest.mark.registry
SLSA = "https://slsa.dev/provenance/v1"
KEYLESS = [
    "--certificate-identity",
    IDENTITY,
    "--certificate-oidc-issuer",
    DEFAULT_ISSUER,
]


class Gate:
    """Images published and exported for the gate's tests."""

    def __init__(self, registry: Registry, base: Path) -> None:
        self.registry = registry
        self.base = base
        ns = "gate"
        with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
            patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
            patch.setenv("DOCKER_CONFIG", str(base / "docker"))
            from datetime import UTC, datetime  # noqa: PLC0415 - only here

            stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
            signer = publish.Signer(registry, stack)
            self.app = publish.image(registry, f"{ns}/app", "v1")
            signer.sign_legacy(self.app, identity=IDENTITY)
            signer.bundle_referrer(
                self.app, identity=IDENTITY, annotations={"team": "release"}
            )
            signer.bundle_referrer(
                self.app,
                identity=IDENTITY,
                predicate_type=SLSA,
                annotations={"team": "release"},
            )
            # The app's manifest, byte for byte, in a second repository, with
            # its .sig: one digest, two names (two rules may judge it).
            self.twin = f"{registry.address}/{ns}/twin:v1"
            copy_tag(registry, f"{ns}/app", "v1", f"{ns}/twin", "v1")
            sig = f"sha256-{self.app.digest.removeprefix('sha256:')}.sig"
            copy_tag(registry, f"{ns}/app", sig, f"{ns}/twin", sig)
            # A v3 signature without annotations, and an attestation without.
            self.plain = publish.image(registry, f"{ns}/plain", "v1")
            signer.bundle_referrer(self.plain, identity=IDENTITY)
            self.annotated = publish.image(registry, f"{ns}/annotated", "v1")
            signer.bundle_referrer(
                self.annotated, identity=IDENTITY, annotations={"team": "release"}
            )
            signer.bundle_referrer(
                self.annotated, identity=IDENTITY, predicate_type=SLSA
            )
            self.multi = publish.index(registry, f"{ns}/multi", "v2")
            signer.bundle_referrer(self.multi, identity=IDENTITY)
            for digest in self.multi.platforms.values():
                signer.bundle_referrer(
                    self.multi,
                    identity=IDENTITY,
                    subject={
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": digest,
                        "size": len(
                            registry.get_manifest(self.multi.repo, digest).body
                        ),
                    },
                )
            self.unsigned = publish.image(registry, f"{ns}/unsigned", "v1")
            self.root = base / "trusted_root.json"
            self.root.write_bytes(stack.trusted_root_json())
            refs = [
                self.app.reference,
                self.twin,
                self.plain.reference,
                self.annotated.reference,
                self.multi.reference,
                self.unsigned.reference,
            ]
            self.archive = self._export(base / "all.tar.zst", refs)
            self.arm_only = self._export(
                base / "arm.tar.zst",
                [self.multi.reference],
                "--platform",
                "linux/arm64",
            )

    def _export(self, out: Path, refs: list[str], *flags: str) -> Path:
        code = bundle_tools(
            [
                "export",
                *refs,
                *flags,
                "--out",
                str(out),
                "--trusted-root",
                str(self.root),
                "--allow-http-registry",
                self.registry.address,
                "--cache",
                str(self.base / "cache"),
            ]
        )
        assert code == 0
        return out


@pytest.fixture(scope="module")
def gate(_registry_server: Registry, tmp_path_factory: pytest.TempPathFactory) -> Gate:
    return Gate(_registry_server, tmp_path_factory.mktemp("gate"))


@pytest.fixture
def layout(gate: Gate, tmp_path: Path) -> Layout:
    return Layout(unpack(gate.archive, tmp_path / "layout"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = appliance([*argv, "-o", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _verify(capsys: pytest.CaptureFixture[str], gate: Gate, archive: Path, *flags: str) -> tuple[int, dict[str, Any]]:  # fmt: skip
    return _run(
        capsys, "verify", str(archive), "--trusted-root", str(gate.root), *flags
    )


def _plan(capsys: pytest.CaptureFixture[str], gate: Gate, archive: Path, *flags: str) -> dict[str, Any]:  # fmt: skip
    """The push plan of a dry-run load (no socket is opened)."""
    _, report = _run(
        capsys, "load", str(archive), "--to", "127.0.0.1:1/gap", "--dry-run",
        "--allow-http-registry", "--trusted-root", str(gate.root), *flags,
    )  # fmt: skip
    return dict(report["load"]["plan"])


def _pushed(plan: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(m["repository"], m["reference"], m["digest"]) for m in plan["manifests"]}


def _image(report: dict[str, Any], reference: str) -> dict[str, Any]:
    return next(i for i in report["images"] if i["reference"] == reference)


def _written(capsys: pytest.CaptureFixture[str], gate: Gate, archive: Path, to: Path, *flags: str) -> dict[str, str]:  # fmt: skip
    """``extract``'s index.json: name -> digest (empty if nothing was written)."""
    _run(capsys, "extract", str(archive), "--to", str(to), "--trusted-root", str(gate.root), *flags)  # fmt: skip
    if not (to / "index.json").exists():
        return {}
    index = json.loads((to / "index.json").read_text())
    return {
        m["annotations"].get("org.opencontainers.image.ref.name", m["digest"]): m["digest"]
        for m in index["manifests"]
    }  # fmt: skip


def _related(layout: Layout, subject: str) -> list[dict[str, Any]]:
    ledger = layout.read(
        layout.read(layout.entry("ledger")["digest"])["layers"][0]["digest"]
    )
    return [r for i in ledger["images"] for r in i["related"] if r["subject"] == subject]  # fmt: skip


# -- names from the ledger ------------------------------------------------------


def test_a_related_artifact_repointed_in_the_ledger_never_moves_a_tag(
    gate: Gate, layout: Layout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red team's edit: app's .sig entry says "found as tag v1" and names the unsigned image."""
    before = _pushed(_plan(capsys, gate, layout.root, *KEYLESS))

    def edit(ledger: dict[str, Any]) -> None:
        for image in ledger["images"]:
            for related in image["related"]:
                if (
                    related["subject"] == gate.app.digest
                    and related["kind"] == "signature"
                ):
                    related.update(found="tag v1", digest=gate.unsigned.digest,
                                   size=gate.unsigned.size)  # fmt: skip

    layout.rewrite_ledger(edit)
    plan = _plan(capsys, gate, layout.root, *KEYLESS)
    after = _pushed(plan)
    assert after <= before
    assert ("gap/gate/app", "v1", gate.app.digest) in after
    assert not any(
        d == gate.unsigned.digest and r == "gap/gate/app" for r, _, d in after
    )
    written = _written(capsys, gate, layout.root, tmp_path / "out", *KEYLESS)
    assert written[f"{gate.registry.address}/gate/app:v1"] == gate.app.digest
    assert gate.unsigned.digest not in {
        d for n, d in written.items() if "/gate/app" in n
    }


def test_a_repository_named_in_the_ledger_is_never_created(
    gate: Gate, layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(ledger: dict[str, Any]) -> None:
        for image in ledger["images"]:
            for related in image["related"]:
                related.update(repository=f"{gate.registry.address}/evil/everywhere",
                               found="tag latest")  # fmt: skip

    layout.rewrite_ledger(edit)
    plan = _plan(capsys, gate, layout.root, *KEYLESS)
    assert plan["images"], (
        "the signed images still pass: the edit named nothing they need"
    )
    assert not any(r.startswith("gap/evil") for r, _, _ in _pushed(plan))
    assert not any(t == "latest" for _, t, _ in _pushed(plan))
    for blob in plan["blobs"]:
        assert not any(r.startswith("gap/evil") for r in blob["repositories"])


@pytest.mark.parametrize("where", ["ledger", "index"])
def test_a_name_changed_in_one_unsigned_document_refuses_everything(
    gate: Gate, layout: Layout, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    renamed = f"{gate.registry.address}/gate/app:latest"
    if where == "ledger":

        def edit(ledger: dict[str, Any]) -> None:
            for image in ledger["images"]:
                if image["reference"].endswith("/gate/app:v1"):
                    image["reference"] = renamed

        layout.rewrite_ledger(edit)
    else:
        index = layout.index
        for entry in index["manifests"]:
            if entry["annotations"].get("dev.airlock.reference", "").endswith("/gate/app:v1"):  # fmt: skip
                entry["annotations"]["dev.airlock.reference"] = renamed
        layout.write_index(index)
    code, report = _verify(capsys, gate, layout.root, *KEYLESS)
    assert code == 1
    assert report["problems"]
    assert not any(i["verified"] for i in report["images"])
    plan = _plan(capsys, gate, layout.root, *KEYLESS)
    assert plan["images"] == []
    assert plan["manifests"] == []


def test_an_image_entry_added_to_index_json_alone_refuses_everything(
    gate: Gate, layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    index = layout.index
    app = next(e for e in index["manifests"]
               if e["annotations"].get("dev.airlock.reference", "").endswith("/gate/app:v1"))  # fmt: skip
    extra = json.loads(json.dumps(app))
    name = f"{gate.registry.address}/gate/app:stable"
    extra["annotations"].update({"dev.airlock.reference": name,
                                 "org.opencontainers.image.ref.name": name})  # fmt: skip
    index["manifests"].append(extra)
    layout.write_index(index)
    code, report = _verify(capsys, gate, layout.root, *KEYLESS)
    assert code == 1
    assert any("gate/app:stable" in p for p in report["problems"])
    assert _plan(capsys, gate, layout.root, *KEYLESS)["manifests"] == []


@pytest.mark.parametrize(
    "name",
    ["gate/app:v1!", "gate/App:v1", "gate//app:v1", "gate/app:" + "v" * 129,
     "gate/../app:v1", "gate/app:v1 "],
)  # fmt: skip
def test_a_claimed_name_outside_the_grammar_is_refused_before_anything_is_planned(
    gate: Gate, layout: Layout, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Both unsigned documents changed alike: the name itself must be a reference."""
    renamed = f"{gate.registry.address}/{name}"

    def edit(ledger: dict[str, Any]) -> None:
        for image in ledger["images"]:
            if image["reference"].endswith("/gate/app:v1"):
                image["reference"] = renamed

    layout.rewrite_ledger(edit)
    index = layout.index
    for entry in index["manifests"]:
        if (
            entry["annotations"]
            .get("dev.airlock.reference", "")
            .endswith("/gate/app:v1")
        ):
            entry["annotations"]["dev.airlock.reference"] = renamed
    layout.write_index(index)
    code, report = _verify(capsys, gate, layout.root, *KEYLESS)
    assert code == 1
    refused = _image(report, renamed)
    assert refused["verified"] is False
    assert refused["reason"] == "malformed-input"
    plan = _plan(capsys, gate, layout.root, *KEYLESS)
    assert renamed not in [i["reference"] for i in plan["images"]]
    assert not any(name.split(":", maxsplit=1)[0] in r for r, _, _ in _pushed(plan))


# -- a verdict per name -----------------------------------------------------------


def test_one_digest_under_two_names_travels_only_under_the_name_that_passed(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f"""
[[rules]]
match = ["*/gate/twin"]
  [[rules.signers]]
  identity = "{ROGUE}"
  issuer = "{DEFAULT_ISSUER}"

[[rules]]
match = ["**"]
  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
""")  # fmt: skip
    app, twin = gate.app.reference, gate.twin
    flags = ("--policy", str(policy), "--image", app, "--image", twin)
    code, report = _verify(capsys, gate, gate.archive, *flags)
    assert code == 1
    assert _image(report, app)["verified"] is True
    assert _image(report, twin)["verified"] is False
    assert _image(report, app)["digest"] == _image(report, twin)["digest"]
    plan = _plan(capsys, gate, gate.archive, *flags)
    assert [i["reference"] for i in plan["images"]] == [app]
    assert plan["refused"] == [twin]
    assert not any(r == "gap/gate/twin" for r, _, _ in _pushed(plan))
    assert not any("gap/gate/twin" in b["repositories"] for b in plan["blobs"])
    written = _written(capsys, gate, gate.archive, tmp_path / "out", *flags)
    assert app in written
    assert twin not in written
    assert not any("/gate/twin" in name for name in written)


# -- platforms from the signed index ------------------------------------------------


def test_a_platform_left_out_needs_the_operators_word(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    multi = gate.multi.reference
    code, report = _verify(capsys, gate, gate.arm_only, *KEYLESS)
    assert code == 1
    message = _image(report, multi)["message"]
    assert "linux/amd64" in message
    assert "not in the archive" in message
    assert _verify(capsys, gate, gate.arm_only, *KEYLESS, "--platform", "linux/arm64")[0] == 0  # fmt: skip
    assert _verify(capsys, gate, gate.arm_only, *KEYLESS, "--platform", "linux/amd64")[0] == 1  # fmt: skip
    assert _verify(capsys, gate, gate.arm_only, *KEYLESS, "--platform", "linux/s390x")[0] == 1  # fmt: skip
    policy = tmp_path / "policy.toml"
    policy.write_text(f"""
[[rules]]
match = ["**"]
each_platform = true
platforms = ["linux/arm64"]
  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
""")  # fmt: skip
    code, report = _verify(capsys, gate, gate.arm_only, "--policy", str(policy))
    assert code == 0, report
    assert _image(report, multi)["platforms"] == [
        {"platform": "linux/amd64", "digest": gate.multi.platforms["linux/amd64"], "carried": False},
        {"platform": "linux/arm64/v8", "digest": gate.multi.platforms["linux/arm64/v8"], "carried": True},
    ]  # fmt: skip


@pytest.mark.parametrize("flip", ["left out", "carried"])
def test_the_ledgers_platform_account_can_only_refuse(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str], flip: str
) -> None:
    """Calling a carried platform left out (or an absent one carried) loosens nothing."""
    archive = gate.archive if flip == "left out" else gate.arm_only
    layout = Layout(unpack(archive, tmp_path / "layout"))

    def edit(ledger: dict[str, Any]) -> None:
        for image in ledger["images"]:
            for platform in image["platforms"]:
                platform["included"] = flip == "carried"

    layout.rewrite_ledger(edit)
    policy = tmp_path / "policy.toml"
    policy.write_text(f"""
[[rules]]
match = ["**"]
each_platform = true
  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
""")  # fmt: skip
    code, report = _verify(capsys, gate, layout.root, "--policy", str(policy),
                           "--platform", "linux/arm64", "--image", gate.multi.reference)  # fmt: skip
    assert code == 1
    assert any("the ledger says platform" in p for p in report["problems"])
    assert _plan(capsys, gate, layout.root, "--policy", str(policy))["manifests"] == []


# -- annotations on every signature form ---------------------------------------------


def test_annotations_are_demanded_of_v3_bundle_signatures(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    demand = (*KEYLESS, "-a", "team=release")
    code, report = _verify(capsys, gate, gate.archive, *demand, "--image", gate.plain.reference)  # fmt: skip
    assert code == 1
    plain = _image(report, gate.plain.reference)
    assert plain["reason"] == "policy-unsatisfied"
    assert "annotation 'team'" in plain["message"]
    # A v3 bundle whose statement carries it passes (app's legacy .sig does not).
    code, report = _verify(capsys, gate, gate.archive, *demand, "--image", gate.app.reference)  # fmt: skip
    assert code == 0, report
    forms = {(s["form"], s["verified"]) for s in _image(report, gate.app.reference)["signatures"]}  # fmt: skip
    assert forms == {("cosign-legacy", False), ("sigstore-bundle", True)}
    wrong = (*KEYLESS, "-a", "team=ops", "--image", gate.app.reference)
    assert _verify(capsys, gate, gate.archive, *wrong)[0] == 1


def test_annotations_on_attestations_only_where_the_policy_says_so(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = f"""
[[rules]]
match = ["**"]
require_attestations = ["{SLSA}"]
annotations = {{{{ team = "release" }}}}
annotations_on_attestations = {{on}}
  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
"""
    for on, annotated, app in (("false", 0, 0), ("true", 1, 0)):
        policy = tmp_path / f"policy-{on}.toml"
        policy.write_text(body.format(on=on))
        for image, expected in ((gate.annotated.reference, annotated), (gate.app.reference, app)):  # fmt: skip
            code, report = _verify(capsys, gate, gate.archive, "--policy", str(policy), "--image", image)  # fmt: skip
            assert code == expected, (on, image, _image(report, image)["message"])


# -- what travels with an image -------------------------------------------------------


def test_only_what_a_verified_signature_ties_to_the_image_travels(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(capsys, gate, gate.archive, *KEYLESS, "--image", gate.app.reference)
    tags = {r for _, r, _ in _pushed(plan)}
    hexd = gate.app.digest.removeprefix("sha256:")
    assert {"v1", f"sha256-{hexd}.sig"} <= tags
    # The v3 bundles go by digest and are listed as the app's referrers.
    [listed] = plan["referrers"]
    assert listed["subject"] == gate.app.digest
    assert len(listed["referrers"]) == 2
