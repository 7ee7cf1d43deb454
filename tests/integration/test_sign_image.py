"""``appliance sign``, ``attest`` and ``load --countersign-key`` with a SoftHSM key, end to end.

Images of the shared exported world are loaded into a fresh in-gap
docker-registry, signed there with a SoftHSM key, then exported again by
``bundle-tools export`` and judged by ``appliance verify``; v3 bundles are
also checked by sigstore-js (an independent verifier); legacy payloads are
compared byte for byte with cosign's. The PIN is distinctive and must never
show: not in argv, output, reports or the audit log.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pkcs11
import pytest

from appliance.cli.main import main as appliance
from appliance.core import signing
from appliance.load import sign as sign_module
from bundle_tools.cli import main as bundle_tools
from tests.helpers import netguard, publish, sigstore_js
from tests.helpers import registry as registry_mod
from tests.helpers.exported import EPOCH, KEYLESS, Exported
from tests.helpers.proxy import Proxy

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.helpers.registry import Registry
    from tests.helpers.softhsm import SoftHsm

pytestmark = [pytest.mark.hsm, pytest.mark.registry]
PIN = "5122-ImagePin-Qx7"
VSA = "https://slsa.dev/verification_summary/v1"
SLSA = "https://slsa.dev/provenance/v1"


@pytest.fixture(scope="module")
def hsm(softhsm: SoftHsm) -> SoftHsm:
    softhsm.init_token("images", user_pin=PIN)
    pkcs11.lib(softhsm.module_path).reinitialize()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSIGN_PKCS11_PIN", PIN)
        for label in ("appliance", "other"):
            assert appliance(["pkcs11", "keygen", "--key", _uri(softhsm, label)]) == 0
    return softhsm


def _uri(hsm: SoftHsm, label: str = "appliance", token: str = "images") -> str:
    return f"pkcs11:token={token};object={label}?module-path={hsm.module_path}"


@pytest.fixture
def pin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PKCS11_PIN", PIN)


@pytest.fixture
def public(hsm: SoftHsm, pin: None, tmp_path: Path) -> Callable[[str], Path]:
    del pin

    def pem(label: str = "appliance") -> Path:
        path = tmp_path / f"{label}.pub"
        assert (
            appliance(
                [
                    "public-key",
                    "--key",
                    _uri(hsm, label),
                    "--output-file",
                    str(path),
                ]
            )
            == 0
        )
        return path

    return pem


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = appliance(list(argv))
    out, err = capsys.readouterr()
    assert PIN not in out + err
    assert "Traceback" not in err
    return code, (json.loads(out) if out.strip().startswith(("{", "[")) else out), err


@pytest.fixture
def loaded(
    exported: Exported, gap: Registry, capsys: pytest.CaptureFixture[str]
) -> Registry:
    """The in-gap registry, holding app and multi as verified and loaded."""
    args = [
        "load",
        str(exported.archive),
        "--to",
        gap.address,
        "--allow-http-registry",
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
    ]
    code, _, err = run(
        capsys, *args, "--image", exported.ref("app"), "--image", exported.ref("multi")
    )
    assert code == 0, err
    return gap


def _layers(registry: Registry, repo: str, tag: str) -> list[dict[str, Any]]:
    return list(json.loads(registry.get_manifest(repo, tag).body)["layers"])


def _sig(digest: str, suffix: str = "sig") -> str:
    return f"sha256-{digest.removeprefix('sha256:')}.{suffix}"


def _reexport(registry: Registry, ref: str, out: Path, root: Path) -> Path:
    with netguard.loopback(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        code = bundle_tools(
            [
                "export",
                ref,
                "--out",
                str(out),
                "--trusted-root",
                str(root),
                "--allow-http-registry",
                registry.address,
                "--cache",
                str(out.parent / "cache"),
            ]
        )
    assert code == 0
    return out


def test_sign_appends_a_cosign_signature_that_verifies(
    exported: Exported,
    loaded: Registry,
    public: Callable[[str], Path],
    hsm: SoftHsm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = exported.world.app.digest
    before = _layers(loaded, "verify/app", _sig(digest))
    code, result, err = run(
        capsys,
        "sign",
        f"{loaded.address}/verify/app:v1",
        "--key",
        _uri(hsm),
        "--allow-http-registry",
        "-a",
        "team=gap",
        "-o",
        "json",
    )
    assert code == 0, err
    assert result["digest"] == digest
    after = _layers(loaded, "verify/app", _sig(digest))
    assert after[: len(before)] == before  # appended, nothing replaced
    (mine,) = after[len(before) :]
    payload = loaded.get_blob("verify/app", mine["digest"])
    # Byte for byte what cosign writes for these inputs (the builder is pinned to cosign's vectors).
    assert payload == signing.simple_signing_payload(
        digest, f"{loaded.address}/verify/app", {"team": "gap"}
    )
    assert set(mine["annotations"]) == {"dev.cosignproject.cosign/signature"}
    archive = _reexport(
        loaded,
        f"{loaded.address}/verify/app:v1",
        tmp_path / "again.tar.zst",
        exported.root,
    )
    code, report, err = run(
        capsys,
        "verify",
        str(archive),
        "--key",
        str(public("appliance")),
        "--insecure-ignore-tlog",
        "-a",
        "team=gap",
        "-o",
        "json",
    )
    assert code == 0, err
    assert report["images"][0]["verified"] is True
    # Signing again writes nothing twice.
    code, result, _ = run(
        capsys,
        "sign",
        f"{loaded.address}/verify/app:v1",
        "--key",
        _uri(hsm),
        "--allow-http-registry",
        "-a",
        "team=gap",
        "-o",
        "json",
    )
    assert code == 0
    assert result["written"][0]["already_there"] is True
    assert len(_layers(loaded, "verify/app", _sig(digest))) == len(after)


def test_v3_bundles_for_an_index_and_each_platform_satisfy_sigstore_js(
    exported: Exported,
    loaded: Registry,
    public: Callable[[str], Path],
    hsm: SoftHsm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    multi = exported.world.multi
    code, result, err = run(
        capsys,
        "sign",
        f"{loaded.address}/verify/multi:v2",
        "--key",
        _uri(hsm),
        "--allow-http-registry",
        "--recursive",
        "--bundle-format",
        "v3",
        "-o",
        "json",
    )
    assert code == 0, err
    bundles = [w for w in result["written"] if w["kind"] == "bundle"]
    assert {w["subject"] for w in bundles} == {multi.digest, *multi.platforms.values()}
    pem = public("appliance")
    for written in bundles:
        manifest = json.loads(
            loaded.get_manifest("verify/multi", written["digest"]).body
        )
        assert manifest["subject"]["digest"] == written["subject"]
        bundle = tmp_path / f"{written['subject'][7:19]}.sigstore.json"
        bundle.write_bytes(
            loaded.get_blob("verify/multi", manifest["layers"][0]["digest"])
        )
        assert sigstore_js.verify(bundle, pem, subject=written["subject"]).ok
        assert not sigstore_js.verify(
            bundle, public("other"), subject=written["subject"]
        ).ok
        assert not sigstore_js.verify(bundle, pem, subject=exported.world.app.digest).ok
        # Listed where docker-registry's clients look: the fallback index.
        index = json.loads(
            loaded.get_manifest("verify/multi", "sha256-" + written["subject"][7:]).body
        )
        assert written["digest"] in {m["digest"] for m in index["manifests"]}
    archive = _reexport(
        loaded,
        f"{loaded.address}/verify/multi:v2",
        tmp_path / "multi.tar.zst",
        exported.root,
    )
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'[[rules]]\nmatch = ["**"]\neach_platform = true\ninsecure_ignore_tlog = true\n[[rules.signers]]\nkey = "{pem}"\n'
    )
    code, _, err = run(capsys, "verify", str(archive), "--policy", str(policy))
    assert code == 0, err


def test_attest_writes_an_attestation_that_verifies(
    exported: Exported,
    loaded: Registry,
    public: Callable[[str], Path],
    hsm: SoftHsm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    predicate = tmp_path / "provenance.json"
    predicate.write_text(
        json.dumps(
            {"buildDefinition": {"buildType": "https://airlock.test/gap-rebuild/v1"}}
        )
    )
    code, result, err = run(
        capsys,
        "attest",
        f"{loaded.address}/verify/app:v1",
        "--key",
        _uri(hsm),
        "--allow-http-registry",
        "--predicate",
        str(predicate),
        "--type",
        SLSA,
        "--bundle-format",
        "v3",
        "-o",
        "json",
    )
    assert code == 0, err
    assert [w["kind"] for w in result["written"]] == ["attestation", "bundle"]
    layer = _layers(loaded, "verify/app", _sig(exported.world.app.digest, "att"))[-1]
    envelope = json.loads(loaded.get_blob("verify/app", layer["digest"]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"][0]["digest"]["sha256"] == exported.world.app.digest[7:]
    assert (
        statement["predicate"]["buildDefinition"]["buildType"]
        == "https://airlock.test/gap-rebuild/v1"
    )
    assert layer["annotations"]["predicateType"] == SLSA
    bundle_manifest = json.loads(
        loaded.get_manifest("verify/app", result["written"][1]["digest"]).body
    )
    bundle = tmp_path / "att.sigstore.json"
    bundle.write_bytes(
        loaded.get_blob("verify/app", bundle_manifest["layers"][0]["digest"])
    )
    assert sigstore_js.verify(
        bundle, public("appliance"), subject=exported.world.app.digest
    ).ok
    archive = _reexport(
        loaded,
        f"{loaded.address}/verify/app:v1",
        tmp_path / "app.tar.zst",
        exported.root,
    )
    # The release identity's signatures still hold in the gap; the appliance's key attested.
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'[[rules]]\nmatch = ["**"]\ninsecure_ignore_tlog = true\nrequire_attestations = ["{SLSA}"]\n'
        f'[[rules.signers]]\nidentity = "{KEYLESS[1]}"\nissuer = "{KEYLESS[3]}"\n'
        f'[[rules.signers]]\nkey = "{public("appliance")}"\n'
    )
    code, report, err = run(
        capsys,
        "verify",
        str(archive),
        "--trusted-root",
        str(exported.root),
        "--policy",
        str(policy),
        "-o",
        "json",
    )
    assert code == 0, err
    attested = [
        a
        for a in report["images"][0]["attestations"]
        if a["verified"] and a["predicate_type"] == SLSA
    ]
    assert any(a["policy_signers"] == [f"key {public('appliance')}"] for a in attested)


def _countersign(
    exported: Exported,
    gap: Registry,
    hsm: SoftHsm,
    capsys: pytest.CaptureFixture[str],
    *names: str,
) -> tuple[int, Any, str]:
    images = [a for n in names for a in ("--image", exported.ref(n))]
    return run(
        capsys,
        "load",
        str(exported.archive),
        "--to",
        gap.address,
        "--allow-http-registry",
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
        *images,
        "--countersign-key",
        _uri(hsm),
        "-o",
        "json",
    )


def test_load_countersigns_only_what_passed_and_the_vsa_comes_back_through_the_gap(
    exported: Exported,
    gap: Registry,
    public: Callable[[str], Path],
    hsm: SoftHsm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report, err = _countersign(exported, gap, hsm, capsys, "app", "rogue")
    assert code == 1, err  # rogue refused
    countersigned = report["load"]["pushed"]["countersigned"]
    assert {(w["kind"], w["subject"]) for w in countersigned} == {
        ("signature", exported.world.app.digest),
        ("attestation", exported.world.app.digest),
    }
    vsa_layer = _layers(gap, "verify/app", _sig(exported.world.app.digest, "att"))[-1]
    assert vsa_layer["annotations"]["predicateType"] == VSA
    statement = json.loads(
        base64.b64decode(
            json.loads(gap.get_blob("verify/app", vsa_layer["digest"]))["payload"]
        )
    )
    summary = statement["predicate"]
    assert summary["verificationResult"] == "PASSED"
    assert (
        summary["resourceUri"]
        == f"oci://{gap.address}/verify/app@{exported.world.app.digest}"
    )
    assert summary["verifier"]["id"] == "urn:airlock:appliance"
    assert summary["policy"]["uri"] == "command-line flags"
    assert summary["inputAttestations"]
    # Back through the gap: re-exported, it passes with the appliance's key...
    archive = _reexport(
        gap, f"{gap.address}/verify/app:v1", tmp_path / "back.tar.zst", exported.root
    )
    base = ["verify", str(archive), "--trusted-root", str(exported.root), *KEYLESS]
    code, _, err = run(
        capsys, *base, "--require-countersignature", str(public("appliance"))
    )
    assert code == 0, err
    # ...and fails with another key.
    code, report, _ = run(
        capsys, *base, "--require-countersignature", str(public("other")), "-o", "json"
    )
    assert code == 1
    assert "countersignature" in report["images"][0]["message"]
    # An image loaded without a countersignature fails it too.
    code, _, err = run(capsys, "load", str(exported.archive), "--to", gap.address, "--allow-http-registry",
                       "--trusted-root", str(exported.root), *KEYLESS, "--image", exported.ref("multi"))  # fmt: skip
    assert code == 0, err
    plain = _reexport(
        gap, f"{gap.address}/verify/multi:v2", tmp_path / "plain.tar.zst", exported.root
    )
    code, report, _ = run(capsys, "verify", str(plain), "--trusted-root", str(exported.root), *KEYLESS,
                          "--require-countersignature", str(public("appliance")), "-o", "json")  # fmt: skip
    assert code == 1
    assert (
        report["images"][0]["message"]
        == "countersignature: no verification summary by the countersigning key"
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"verificationResult": "FAILED"}, "says FAILED"),
        (
            {"resourceUri": "oci://elsewhere/x@sha256:" + "0" * 64},
            "is about oci://elsewhere",
        ),
    ],
)
def test_a_vsa_that_failed_or_names_another_digest_is_refused(
    exported: Exported,
    loaded: Registry,
    public: Callable[[str], Path],
    hsm: SoftHsm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    words: str,
) -> None:
    predicate = {
        "verifier": {"id": "urn:airlock:appliance"},
        "timeVerified": "2026-12-02T00:00:00Z",
        "resourceUri": f"oci://{loaded.address}/verify/app@{exported.world.app.digest}",
        "policy": {"uri": "x", "digest": {"sha256": "0" * 64}},
        "inputAttestations": [],
        "verificationResult": "PASSED",
        "verifiedLevels": [],
        **change,
    }
    path = tmp_path / "vsa.json"
    path.write_text(json.dumps(predicate))
    code, _, err = run(
        capsys,
        "attest",
        f"{loaded.address}/verify/app:v1",
        "--key",
        _uri(hsm),
        "--allow-http-registry",
        "--predicate",
        str(path),
        "--type",
        VSA,
    )
    assert code == 0, err
    archive = _reexport(
        loaded,
        f"{loaded.address}/verify/app:v1",
        tmp_path / "vsa.tar.zst",
        exported.root,
    )
    code, report, _ = run(
        capsys,
        "verify",
        str(archive),
        "--trusted-root",
        str(exported.root),
        *KEYLESS,
        "--require-countersignature",
        str(public("appliance")),
        "-o",
        "json",
    )
    assert code == 1
    assert words in report["images"][0]["message"]


def test_bad_input_is_one_line_and_pushes_nothing(
    exported: Exported,
    loaded: Registry,
    hsm: SoftHsm,
    pin: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = f"{loaded.address}/verify/app:v1"
    before = _layers(loaded, "verify/app", _sig(exported.world.app.digest))
    code, _, err = run(
        capsys,
        "sign",
        f"{loaded.address}/verify/nothing:v1",
        "--key",
        _uri(hsm),
        "--allow-http-registry",
    )
    assert code == 2
    assert "no such image" in err
    monkeypatch.setenv("COSIGN_PKCS11_PIN", "0000-wrong")
    code, _, err = run(capsys, "sign", ref, "--key", _uri(hsm), "--allow-http-registry")
    assert code == 2
    assert "PIN" in err
    monkeypatch.setenv("COSIGN_PKCS11_PIN", PIN)
    code, _, err = run(
        capsys, "sign", ref, "--key", _uri(hsm, token="absent"), "--allow-http-registry"
    )
    assert code == 2
    assert "absent" in err
    code, _, err = run(capsys, "sign", "verify/app:v1", "--key", _uri(hsm))
    assert code == 2
    assert "name the in-gap registry" in err
    assert _layers(loaded, "verify/app", _sig(exported.world.app.digest)) == before


def test_a_registry_down_mid_push_is_completed_by_a_rerun_without_duplicates(
    exported: Exported,
    loaded: Registry,
    hsm: SoftHsm,
    pin: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del pin
    proxy = Proxy(backend=(loaded.host, loaded.port), cut_after=2_500).start()
    try:
        ref = f"{proxy.address}/verify/multi:v2"
        code, _, err = run(
            capsys,
            "sign",
            ref,
            "--key",
            _uri(hsm),
            "--allow-http-registry",
            "--recursive",
        )
        assert code == 2, err
        # One error line; the waits before it are announced, each on its own line.
        errors = [x for x in err.strip().splitlines() if "waiting" not in x]
        assert len(errors) == 1, err
        proxy.heal()
        code, result, err = run(
            capsys,
            "sign",
            ref,
            "--key",
            _uri(hsm),
            "--allow-http-registry",
            "--recursive",
            "-o",
            "json",
        )
        assert code == 0, err
    finally:
        proxy.stop()
    for written in result["written"]:
        layers = _layers(loaded, "verify/multi", written["reference"])
        mine = [
            x
            for x in layers
            if x["annotations"].get("dev.cosignproject.cosign/signature")
        ]
        assert len(mine) == 1  # one signature by this key, never two


def test_a_tag_moved_during_signing_cannot_redirect_the_signature(
    exported: Exported,
    loaded: Registry,
    hsm: SoftHsm,
    pin: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del pin
    original = sign_module.ImageWriter.resolve
    moved: list[str] = []

    def resolve_then_move(
        self: sign_module.ImageWriter, ref: Any
    ) -> sign_module.Resolved:
        resolved = original(self, ref)
        # Someone else moves the tag to another image right after it was read.
        moved.append(publish.image(loaded, "verify/app", "v1", layer_bytes=1024).digest)
        return resolved

    monkeypatch.setattr(sign_module.ImageWriter, "resolve", resolve_then_move)
    code, result, err = run(
        capsys,
        "sign",
        f"{loaded.address}/verify/app:v1",
        "--key",
        _uri(hsm),
        "--allow-http-registry",
        "-o",
        "json",
    )
    assert code == 0, err
    assert (
        loaded.get_manifest("verify/app", "v1").digest
        == moved[0]
        != exported.world.app.digest
    )
    assert result["digest"] == exported.world.app.digest
    assert result["written"][0]["reference"] == _sig(exported.world.app.digest)
    payload = loaded.get_blob(
        "verify/app",
        _layers(loaded, "verify/app", _sig(exported.world.app.digest))[-1]["digest"],
    )
    assert (
        json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
        == exported.world.app.digest
    )
    assert _digest_or_none(loaded, "verify/app", _sig(moved[0])) is None


def _digest_or_none(registry: Registry, repo: str, ref: str) -> str | None:
    try:
        return registry.get_manifest(repo, ref).digest
    except registry_mod.RegistryError:
        return None


def test_signing_is_audited_without_the_pin(
    exported: Exported,
    loaded: Registry,
    hsm: SoftHsm,
    pin: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del pin
    uri = _uri(hsm) + f"&pin-value={PIN}"
    code, _, err = run(
        capsys,
        "sign",
        f"{loaded.address}/verify/app:v1",
        "--key",
        uri,
        "--allow-http-registry",
    )
    assert code == 0, err
    log = (tmp_path / "appliance-state" / "audit.jsonl").read_text()
    assert PIN not in log
    line = json.loads(log.splitlines()[-1])
    assert line["command"] == "sign"
    assert line["digest"] == exported.world.app.digest
    assert line["written"][0]["reference"] == _sig(exported.world.app.digest)
    assert "pin-value=***" in line["key"]
