"""``appliance verify ARCHIVE``: archives exported from a real registry, judged offline.

One world (tests/helpers/world.py) is published to docker-registry and
exported once by ``bundle-tools export``; each test verifies that archive, or
a copy of it an adversary changed, through the appliance's CLI with the
network closed. One test per path the issue names: every happy path (legacy
key, legacy keyless, bundle referrer, attestation, index with platforms) and
every failure (wrong signer, issuer or key, a copied signature, a moved tag,
no signature, no required attestation, an attestation about another digest,
a tampered payload or blob, the ledger and the archive disagreeing either way,
expired trust, an archive's own trusted root, a policy with an unknown key).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main as appliance
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard
from tests.helpers.archives import extract
from tests.helpers.exported import EPOCH, KEYLESS, Exported, Outcome
from tests.helpers.layout_edit import Layout
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.tuf_repo import TufRepo
from tests.helpers.world import IDENTITY, ROGUE

if TYPE_CHECKING:
    from pathlib import Path


pytestmark = pytest.mark.registry
SLSA = "https://slsa.dev/provenance/v1"


def check(verify: Any, exported: Exported, name: str, *flags: str) -> Outcome:
    """Verify image ``name`` of the shared archive under the test stack's root."""
    return verify(  # type: ignore[no-any-return] # the verify fixture
        exported.archive,
        "--trusted-root",
        str(exported.root),
        "--image",
        exported.ref(name),
        *flags,
    )


@pytest.fixture
def layout(exported: Exported, tmp_path: Path) -> Layout:
    return Layout(extract(exported.archive, tmp_path / "layout"))


# -- happy paths ----------------------------------------------------------------


def test_legacy_keyless_signature_verifies(exported: Exported, verify: Any) -> None:
    out = check(
        verify,
        exported,
        "app",
        *KEYLESS,
    )
    assert out.code == 0, out.err
    app = out.image("app")
    assert app["verified"] is True
    keyless = [s for s in app["signatures"] if s["verified"]]
    assert [s["signer"] for s in keyless] == [IDENTITY]
    assert keyless[0]["issuer"] == DEFAULT_ISSUER
    assert keyless[0]["signing_time_source"] == "transparency-log"
    assert keyless[0]["log_index"] is not None
    assert any("payload names" in c for c in keyless[0]["checks"])
    # The key signature is there too, but no key was given: it is not counted.
    assert any(not s["verified"] for s in app["signatures"])
    assert out.report["trust"]["tuf_backed"] is False
    assert out.report["verified"] is True


def test_legacy_key_signature_verifies(exported: Exported, verify: Any) -> None:
    out = check(
        verify,
        exported,
        "app",
        "--key",
        str(exported.key),
    )
    assert out.code == 0, out.err
    signed = [s for s in out.image("app")["signatures"] if s["verified"]]
    assert len(signed) == 1
    assert signed[0]["key_id"] is not None
    assert signed[0]["signer"] is None


def test_bundle_referrers_verify_an_index_and_each_platform(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f"""
[[rules]]
match = ["**/verify/multi"]
each_platform = true

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
"""
    )
    out = check(
        verify,
        exported,
        "multi",
        "--policy",
        str(policy),
    )
    assert out.code == 0, out.err
    multi = out.image("multi")
    assert [p["carried"] for p in multi["platforms"]] == [True, True]
    subjects = {s["subject"] for s in multi["signatures"] if s["verified"]}
    assert subjects == {
        exported.world.multi.digest,
        *exported.world.multi.platforms.values(),
    }
    assert all(s["form"] == "sigstore-bundle" for s in multi["signatures"])


def test_legacy_attestation_is_required_and_found(
    exported: Exported, verify: Any
) -> None:
    out = check(
        verify,
        exported,
        "app",
        "--require-attestation",
        SLSA,
        *KEYLESS,
    )
    assert out.code == 0, out.err
    (attestation,) = out.image("app")["attestations"]
    assert attestation["verified"] is True
    assert attestation["predicate_type"] == SLSA
    assert attestation["signer"] == IDENTITY


def test_sbom_is_reported_and_not_counted_unsigned(
    exported: Exported, verify: Any
) -> None:
    out = check(
        verify,
        exported,
        "app",
        *KEYLESS,
    )
    (sbom,) = out.image("app")["sboms"]
    assert sbom["format"] == "SPDX SPDX-2.3"
    assert sbom["packages"] == 2
    assert sbom["signed"] is False


def test_a_directory_layout_verifies_like_the_archive(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    out = verify(
        layout.root,
        "--trusted-root",
        str(exported.root),
        "--image",
        exported.ref("app"),
        *KEYLESS,
    )
    assert out.code == 0, out.err
    assert out.report["archive"]["kind"] == "directory"


def test_verification_opens_no_socket(
    exported: Exported, verify: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        msg = "verification tried to open a socket"
        raise AssertionError(msg)

    monkeypatch.setattr(socket.socket, "__init__", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    out = check(
        verify,
        exported,
        "app",
        *KEYLESS,
    )
    assert out.code == 0, out.err


# -- failures -----------------------------------------------------------------


def test_wrong_signer_is_refused(exported: Exported, verify: Any) -> None:
    out = check(
        verify,
        exported,
        "rogue",
        *KEYLESS,
    )
    assert out.code == 1
    rogue = out.image("rogue")
    assert rogue["verified"] is False
    assert rogue["reason"] == "identity-mismatch"
    assert ROGUE in rogue["message"]


def test_wrong_issuer_is_refused(exported: Exported, verify: Any) -> None:
    out = check(
        verify,
        exported,
        "app",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    )
    assert out.code == 1
    assert out.image("app")["reason"] == "issuer-mismatch"


def test_wrong_key_is_refused(exported: Exported, verify: Any, tmp_path: Path) -> None:
    other = tmp_path / "other.pub"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    out = check(
        verify,
        exported,
        "app",
        "--key",
        str(other),
    )
    assert out.code == 1
    assert out.image("app")["reason"] == "signature-invalid"


def test_signature_copied_from_another_image_is_refused(
    exported: Exported, verify: Any
) -> None:
    out = check(
        verify,
        exported,
        "copied",
        *KEYLESS,
    )
    assert out.code == 1
    copied = out.image("copied")
    assert copied["reason"] == "digest-mismatch", json.dumps(copied, indent=1)
    assert exported.world.app.digest in copied["message"]


def test_moved_tag_signed_for_another_repository_is_refused(
    exported: Exported, verify: Any
) -> None:
    out = check(
        verify,
        exported,
        "moved",
        *KEYLESS,
    )
    assert out.code == 1
    moved = out.image("moved")
    assert moved["reason"] == "digest-mismatch"
    assert "/verify/staging" in moved["message"]


def test_missing_signature_is_refused(exported: Exported, verify: Any) -> None:
    out = check(
        verify,
        exported,
        "unsigned",
        *KEYLESS,
    )
    assert out.code == 1
    unsigned = out.image("unsigned")
    assert unsigned["reason"] == "policy-unsatisfied"
    assert "no signature" in unsigned["message"]


def test_missing_required_attestation_is_refused(
    exported: Exported, verify: Any
) -> None:
    out = check(
        verify,
        exported,
        "multi",
        "--require-attestation",
        SLSA,
        *KEYLESS,
    )
    assert out.code == 1
    multi = out.image("multi")
    assert multi["reason"] == "policy-unsatisfied"
    assert SLSA in multi["message"]


def test_attestation_about_another_digest_is_refused(
    exported: Exported, verify: Any
) -> None:
    out = check(
        verify,
        exported,
        "elsewhere",
        "--require-attestation",
        SLSA,
        *KEYLESS,
    )
    assert out.code == 1
    elsewhere = out.image("elsewhere")
    assert elsewhere["reason"] == "digest-mismatch", json.dumps(elsewhere, indent=1)
    (attestation,) = elsewhere["attestations"]
    assert attestation["verified"] is False
    # Signed and valid, but it is not about this image.
    assert any(s["verified"] for s in elsewhere["signatures"])


def test_tampered_payload_is_refused(exported: Exported, verify: Any) -> None:
    out = check(
        verify,
        exported,
        "tampered",
        *KEYLESS,
    )
    assert out.code == 1
    assert out.image("tampered")["reason"] == "signature-invalid"


def test_tampered_blob_is_refused(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    layer = exported.world.app.layers[0]
    path = layout.blob(layer)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    out = verify(layout.root, "--trusted-root", str(exported.root), *KEYLESS)
    assert out.code == 1
    assert out.report["reason"] == "digest-mismatch"
    assert layer.removeprefix("sha256:") in out.err
    assert "Traceback" not in out.err


def test_ledger_listing_what_is_absent_is_refused(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    sbom = layout.entry("sbom")
    layout.write_index(
        {
            **layout.index,
            "manifests": [
                e for e in layout.index["manifests"] if e["digest"] != sbom["digest"]
            ],
        }
    )
    layout.sweep()
    out = verify(
        layout.root,
        "--trusted-root",
        str(exported.root),
        "--image",
        exported.ref("app"),
        *KEYLESS,
    )
    assert out.code == 1
    assert any(
        f"the ledger lists {sbom['digest']}" in p for p in out.report["problems"]
    )
    assert out.image("app")["verified"] is False


def test_archive_holding_what_the_ledger_omits_is_refused(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    extra = layout.put(json.dumps({"spdxVersion": "SPDX-2.3", "packages": []}).encode())
    config = layout.put(b"{}")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config,
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/spdx+json",
                    "digest": extra,
                    "size": layout.blob(extra).stat().st_size,
                }
            ],
        }
    ).encode()
    digest = layout.put(manifest)
    index = layout.index
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": len(manifest),
            "annotations": {
                "dev.airlock.kind": "sbom",
                "dev.airlock.subject": exported.world.app.digest,
            },
        }
    )
    layout.write_index(index)
    out = verify(
        layout.root,
        "--trusted-root",
        str(exported.root),
        "--image",
        exported.ref("app"),
        *KEYLESS,
    )
    assert out.code == 1
    assert any(f"the archive holds {digest}" in p for p in out.report["problems"])


def test_a_tag_moved_inside_the_archive_is_refused(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    """The ledger re-filed so that app:v1 names rogue's image: its signer is not ours."""
    rogue = exported.world.rogue.digest

    def move(ledger: dict[str, Any]) -> None:
        app = next(
            i for i in ledger["images"] if i["digest"] == exported.world.app.digest
        )
        app["digest"] = rogue

    layout.rewrite_ledger(move)
    out = verify(
        layout.root,
        "--trusted-root",
        str(exported.root),
        "--image",
        exported.ref("app"),
        *KEYLESS,
    )
    assert out.code == 1
    assert out.image("app")["verified"] is False


def test_an_archive_trusted_root_is_never_trusted(
    exported: Exported, verify: Any
) -> None:
    out = verify(exported.archive, "--image", exported.ref("app"), *KEYLESS)
    assert out.code == 1
    assert out.image("app")["verified"] is False
    assert "never used" in out.report["trust"]["capsule"]
    # The appliance's own trust was used, which knows nothing of the test stack.
    assert out.report["trust"]["tuf_backed"] is True
    assert (
        out.report["trust"]["sha256"]
        != hashlib.sha256(exported.root.read_bytes()).hexdigest()
    )


def test_policy_with_an_unknown_key_is_an_input_error(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f"""[[rules]]
match = ["**"]
requires_attestations = ["{SLSA}"]

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
"""
    )
    out = verify(
        exported.archive, "--trusted-root", str(exported.root), "--policy", str(policy)
    )
    assert out.code == 2
    error = (
        json.loads(out.err.strip().splitlines()[-1])
        if out.err.strip().startswith("{")
        else None
    )
    assert error is None or error["reason"] == "usage"
    assert f"{policy}:3" in out.err
    assert "requires_attestations" in out.err


def test_image_no_rule_matches_fails_closed(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f"""[[rules]]
match = ["ghcr.io/acme/*"]

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
"""
    )
    out = verify(
        exported.archive,
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(policy),
        "--image",
        exported.ref("app"),
    )
    assert out.code == 1
    assert "no policy rule matches" in out.image("app")["message"]


# -- trust from a TUF capsule -------------------------------------------------------


@pytest.fixture
def capsule_world(
    exported: Exported, tmp_path: Path, verify: Any
) -> tuple[TufRepo, Path]:
    """A TUF repository publishing the test stack's trusted root, and the appliance bootstrapped from it."""
    repo = TufRepo(now=datetime.now(UTC) - timedelta(days=1))
    repo.add_target("trusted_root.json", exported.root.read_bytes())
    repo.publish()
    first = repo.write_to(tmp_path / "capsule-1")
    root = tmp_path / "root.json"
    root.write_bytes(repo.initial_root())
    assert (
        appliance(["trust", "import", str(first), "--bootstrap-root", str(root)]) == 0
    )
    return repo, tmp_path


def _export_with_capsule(exported: Exported, capsule: Path, out: Path) -> Path:
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(out.parent / "docker"))
        code = bundle_tools(
            [
                "export",
                exported.ref("app"),
                "--out",
                str(out),
                "--trust-capsule",
                str(capsule),
                "--allow-http-registry",
                exported.world.registry.address,
                "--cache",
                str(out.parent / "cache"),
            ]
        )
    assert code == 0
    return out


def test_a_capsule_is_replayed_and_its_trust_used(
    exported: Exported, verify: Any, capsule_world: tuple[TufRepo, Path]
) -> None:
    repo, base = capsule_world
    repo.publish()  # timestamp and snapshot v2
    archive = _export_with_capsule(
        exported, repo.write_to(base / "capsule-2"), base / "a.tar.zst"
    )
    out = verify(archive, *KEYLESS)
    assert out.code == 0, out.err
    trust = out.report["trust"]
    assert trust["tuf_backed"] is True
    assert trust["capsule"].startswith("imported: TUF root v1, timestamp v2")
    assert trust["root_version"] == 1


def test_expired_trust_is_refused(
    exported: Exported, verify: Any, capsule_world: tuple[TufRepo, Path]
) -> None:
    repo, base = capsule_world
    repo.publish(expires={"timestamp": datetime.now(UTC) - timedelta(hours=1)})
    archive = _export_with_capsule(
        exported, repo.write_to(base / "capsule-2"), base / "a.tar.zst"
    )
    out = verify(archive, *KEYLESS)
    assert out.code == 1
    assert "expired" in out.err
    # The operator may accept an expired capsule, and the report says so.
    out = verify(archive, "--trust-max-age", "1d", *KEYLESS)
    assert out.code == 0, out.err
    assert out.report["trust"]["expiry_allowances"]


def test_an_older_capsule_leaves_the_newer_trust_in_place(
    exported: Exported, verify: Any, capsule_world: tuple[TufRepo, Path]
) -> None:
    repo, base = capsule_world
    archive = _export_with_capsule(exported, base / "capsule-1", base / "old.tar.zst")
    repo.publish()
    assert appliance(["trust", "import", str(repo.write_to(base / "capsule-2"))]) == 0
    out = verify(archive, *KEYLESS)
    assert out.code == 0, out.err
    assert "older than the trust held" in out.report["trust"]["capsule"]


def test_report_is_written_atomically(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    out = check(
        verify,
        exported,
        "app",
        "--report",
        str(report),
        *KEYLESS,
    )
    assert out.code == 0
    assert json.loads(report.read_bytes()) == out.report
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_whole_archive_fails_if_any_image_does(
    exported: Exported, verify: Any
) -> None:
    out = verify(exported.archive, "--trusted-root", str(exported.root), *KEYLESS)
    assert out.code == 1
    verdicts = {
        i["reference"].split("/", 2)[2].split(":")[0]: i["verified"]
        for i in out.report["images"]
    }
    assert verdicts["app"] is True
    assert verdicts["rogue"] is False
    assert "REFUSED" in out.err


# -- policies -------------------------------------------------------------------


def _policy(tmp_path: Path, exported: Exported, body: str) -> Path:
    shutil.copy(exported.key, tmp_path / "release.pub")
    policy = tmp_path / "policy.toml"
    policy.write_text(body)
    return policy


TWO_OF_THREE = f"""
[[rules]]
match = ["**/verify/app"]
threshold = {{threshold}}

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

  [[rules.signers]]
  key = "release.pub"

  [[rules.signers]]
  identity = "carol@airlock.test"
  issuer = "{DEFAULT_ISSUER}"
"""


@pytest.mark.parametrize(("threshold", "code"), [(1, 0), (2, 0), (3, 1)])
def test_threshold_counts_distinct_signers(
    exported: Exported, verify: Any, tmp_path: Path, threshold: int, code: int
) -> None:
    policy = _policy(tmp_path, exported, TWO_OF_THREE.format(threshold=threshold))
    out = verify(
        exported.archive,
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(policy),
        "--image",
        exported.ref("app"),
    )
    assert out.code == code, out.err
    app = out.image("app")
    assert app["policy_rule_line"] == 2
    if code:
        assert app["message"] == "image: 2 of the 3 required signers signed"
    else:
        assert sorted(n for s in app["signatures"] for n in s["policy_signers"]) == [
            "key release.pub",
            f"{IDENTITY} ({DEFAULT_ISSUER})",
        ]


def test_one_signer_fitting_two_entries_counts_once(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        exported,
        f"""
[[rules]]
match = ["**"]
threshold = 2

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

  [[rules.signers]]
  identity_regexp = "@airlock\\\\.test$"
  issuer = "{DEFAULT_ISSUER}"
""",
    )
    out = verify(
        exported.archive,
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(policy),
        "--image",
        exported.ref("app"),
    )
    assert out.code == 1
    assert out.image("app")["message"] == "image: 1 of the 2 required signers signed"


def test_each_platform_demands_every_platform_signed(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    body = f"""
[[rules]]
match = ["**"]
each_platform = {{each}}

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
"""
    shallow = exported.ref("shallow")
    loose = _policy(tmp_path, exported, body.format(each="false"))
    assert (
        verify(
            exported.archive,
            "--trusted-root",
            str(exported.root),
            "--policy",
            str(loose),
            "--image",
            shallow,
        ).code
        == 0
    )
    strict = _policy(tmp_path, exported, body.format(each="true"))
    out = verify(
        exported.archive,
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(strict),
        "--image",
        shallow,
    )
    assert out.code == 1
    assert out.image("shallow")["message"].startswith("platform linux/")
    assert out.image("shallow")["message"].endswith(": no signature")


def test_annotations_are_demanded_in_the_signed_payload(
    exported: Exported, verify: Any
) -> None:
    out = check(
        verify,
        exported,
        "app",
        "-a",
        "team=release",
        *KEYLESS,
    )
    assert out.code == 1
    app = out.image("app")
    assert app["reason"] == "policy-unsatisfied"
    assert "'team'" in app["message"]


def test_the_rule_max_trust_age_refuses_stale_trust(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    """With no capsule, the appliance's sealed root is the trust: stale since 2026-11-20."""
    policy = _policy(
        tmp_path,
        exported,
        f"""
[[rules]]
match = ["**"]
max_trust_age = "1d"

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
""",
    )
    out = verify(
        exported.archive, "--policy", str(policy), "--image", exported.ref("app")
    )
    assert out.code == 1
    app = out.image("app")
    assert app["reason"] == "trust-root-expired"
    assert "max_trust_age of 1 days" in app["message"]


def test_an_unknown_image_is_named(exported: Exported, verify: Any) -> None:
    out = verify(
        exported.archive,
        "--trusted-root",
        str(exported.root),
        "--image",
        "nowhere/else:v9",
        *KEYLESS,
    )
    assert out.code == 1
    assert out.report["problems"] == [
        "--image nowhere/else:v9: no such image in the archive"
    ]


def test_flags_and_a_policy_together_are_a_usage_error(
    exported: Exported, verify: Any, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, exported, "")
    out = verify(exported.archive, "--policy", str(policy), *KEYLESS)
    assert out.code == 2
    assert "not both" in out.err


def test_no_signer_at_all_is_a_usage_error(exported: Exported, verify: Any) -> None:
    out = verify(exported.archive, "--trusted-root", str(exported.root))
    assert out.code == 2
    assert "--certificate-identity" in out.err


@pytest.mark.parametrize(
    "archive", ["missing.tar.zst", "truncated.tar.zst", "garbage.tar"]
)
def test_unreadable_archives_are_input_errors(
    exported: Exported, verify: Any, tmp_path: Path, archive: str
) -> None:
    data = exported.archive.read_bytes()
    if archive == "truncated.tar.zst":
        (tmp_path / archive).write_bytes(data[: len(data) // 2])
    elif archive == "garbage.tar":
        (tmp_path / archive).write_bytes(b"not a tar at all" * 100)
    out = verify(tmp_path / archive, "--trusted-root", str(exported.root), *KEYLESS)
    assert out.code == 2, out.err
    assert out.report["ok"] is False
    assert len(out.err.strip().splitlines()) == 1
    assert "Traceback" not in out.err


def test_text_report_shows_marks_and_words(
    exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    code = appliance(
        [
            "verify",
            str(exported.archive),
            "--trusted-root",
            str(exported.root),
            *KEYLESS,
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "verified" in captured.err
    assert "REFUSED" in captured.err
    assert "trust: " in captured.err
    assert "image(s) verified" in captured.err


# -- bundle-tools export --verify-with ----------------------------------------------

RELEASE_POLICY = f"""
[[rules]]
match = ["**"]

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
"""


def _export_verified(
    exported: Exported, tmp_path: Path, policy: Path, *refs: str
) -> int:
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        return bundle_tools(
            [
                "export",
                *refs,
                "--out",
                str(tmp_path / "checked.tar.zst"),
                "--trusted-root",
                str(exported.root),
                "--allow-http-registry",
                exported.world.registry.address,
                "--cache",
                str(tmp_path / "cache"),
                "--verify-with",
                str(policy),
                "-o",
                "json",
            ]
        )


def test_export_verify_with_gives_the_appliance_verdict(
    exported: Exported, verify: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(tmp_path, exported, RELEASE_POLICY)
    assert (
        _export_verified(
            exported, tmp_path, policy, exported.ref("app"), exported.ref("multi")
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["verifiedWith"]["verified"] is True
    assert [i["digest"] for i in summary["verifiedWith"]["images"]] == [
        exported.world.app.digest,
        exported.world.multi.digest,
    ]
    # The other side agrees, with the same module.
    out = verify(
        tmp_path / "checked.tar.zst",
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(policy),
    )
    assert out.code == 0, out.err
    assert [i["message"] for i in out.report["images"]] == [
        i["message"] for i in summary["verifiedWith"]["images"]
    ]


def test_export_verify_with_refuses_to_write_what_would_fail(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(tmp_path, exported, RELEASE_POLICY)
    assert (
        _export_verified(
            exported, tmp_path, policy, exported.ref("app"), exported.ref("rogue")
        )
        == 1
    )
    error = json.loads(capsys.readouterr().out)
    assert error["reason"] == "identity-mismatch"
    assert exported.ref("rogue") in error["error"]
    assert "nothing was written" in error["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache",
        "policy.toml",
        "release.pub",
    ]


def test_export_verify_with_a_bad_policy_fails_before_any_network(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy(tmp_path, exported, RELEASE_POLICY.replace("issuer =", "isuer ="))
    code = bundle_tools(
        [
            "export",
            "nowhere.invalid/app:v1",
            "--out",
            str(tmp_path / "x.tar.zst"),
            "--no-trust",
            "--verify-with",
            str(policy),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"{policy}:7" in err
    assert "unknown key 'isuer'" in err


def test_trust_import_reads_the_capsule_of_an_archive(
    exported: Exported,
    capsule_world: tuple[TufRepo, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, base = capsule_world
    repo.publish()
    archive = _export_with_capsule(
        exported, repo.write_to(base / "capsule-2"), base / "a.tar.zst"
    )
    capsys.readouterr()
    assert appliance(["trust", "import", str(archive), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["root_version"] == 1
    assert report["bootstrap"] == "stored root v1"
    # An archive with a plain trusted root has nothing to replay.
    assert appliance(["trust", "import", str(exported.archive)]) == 2
    assert "carries no TUF capsule" in capsys.readouterr().err


def _omit_layer(
    layout: Layout, exported: Exported, delta: dict[str, str] | None
) -> str:
    """Drop app:v1's first layer and re-file the ledger to call it held by the gap."""
    layer = exported.world.app.layers[0]
    layout.blob(layer).unlink()

    def edit(ledger: dict[str, Any]) -> None:
        entry = next(c for c in ledger["contents"] if c["digest"] == layer)
        ledger["contents"].remove(entry)
        ledger["omittedAsHeld"] = [entry]
        if delta is not None:
            ledger["delta"] = delta

    layout.rewrite_ledger(edit)
    return layer


FOREIGN = {
    "inventory": "sha256:" + "5" * 64,
    "appliance": "urn:airlock:appliance:" + "e" * 32,
    "inventoryCreated": "2026-11-30T08:00:00Z",
}


def test_layers_left_out_as_held_without_an_inventory_are_refused(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    _omit_layer(layout, exported, delta=None)
    args = ["--trusted-root", str(exported.root), "--image", exported.ref("app"), *KEYLESS]  # fmt: skip
    out = verify(layout.root, *args, "--allow-foreign-inventory")
    assert out.code == 1
    assert any("names no inventory" in p for p in out.report["problems"])
    assert out.image("app")["reason"] == "digest-mismatch"


def test_a_delta_against_an_inventory_not_written_here_is_refused(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    _omit_layer(layout, exported, delta=FOREIGN)
    args = ["--trusted-root", str(exported.root), "--image", exported.ref("app"), *KEYLESS]  # fmt: skip
    out = verify(layout.root, *args)
    assert out.code == 1
    assert out.image("app")["reason"] == "policy-unsatisfied"
    assert FOREIGN["inventory"] in out.image("app")["message"]
    assert out.report["archive"]["delta"]["inventory"] == FOREIGN["inventory"]
    # The operator's say-so: the delta verifies (signatures cover the manifest,
    # which names the omitted layer by digest).
    out = verify(layout.root, *args, "--allow-foreign-inventory")
    assert out.code == 0, out.err


def test_a_ledger_calling_a_carried_blob_held_is_refused(
    exported: Exported, verify: Any, layout: Layout
) -> None:
    layer = exported.world.app.layers[1]

    def edit(ledger: dict[str, Any]) -> None:
        entry = next(c for c in ledger["contents"] if c["digest"] == layer)
        ledger["omittedAsHeld"] = [entry]
        ledger["delta"] = FOREIGN

    layout.rewrite_ledger(edit)
    args = ["--trusted-root", str(exported.root), "--image", exported.ref("app"), *KEYLESS]  # fmt: skip
    out = verify(layout.root, *args, "--allow-foreign-inventory")
    assert out.code == 1
    assert any(
        f"{layer} was left out as held, yet the archive carries it" in p
        for p in out.report["problems"]
    )
