"""The whole in-gap story (#23): the verdict and the trust travel into the gap and stay usable.

export (the shared exported world) -> verify -> load with an HSM countersignature
(the trusted roots land in the registry) -> ``trust publish`` with SoftHSM root
and online keys -> in the "cluster", python-tuf's ngclient and sigstore-js fetch
trust from the gap-local repository over a static loopback server and verify a
public-good bundle offline -> ``--refresh`` the next day keeps them working ->
a root rotation keeps the old clients working -> ``handoff`` names the
countersigning key and the prefix. The clients read the wall clock, so the
repository is dated from it ("yesterday" is a day before it).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater

from appliance.actions.registry import SignerChoice
from appliance.actions.trust import TrustPublishRequest, trust_publish
from appliance.cli.main import main
from appliance.trust import held
from tests.helpers import sigstore_js, static_http
from tests.helpers.exported import KEYLESS, Exported, runner

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.helpers.registry import Registry
    from tests.helpers.softhsm import SoftHsm

pytestmark = [
    pytest.mark.registry,
    pytest.mark.hsm,
    pytest.mark.network,
    pytest.mark.slow,
]
PIN = "8830-GapStory-Pin"
DSSE = "vectors/attestations/sigstore-js/bundleV03-dsse.sigstore"
EMAIL, ISSUER = "brian@dehamer.com", "https://github.com/login/oauth"


def _updater(home: Path, url: str, bootstrap: bytes) -> Updater:
    (home / "metadata").mkdir(parents=True, exist_ok=True)
    (home / "targets").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(home / "metadata"),
        metadata_base_url=f"{url}/",
        target_base_url=f"{url}/targets/",
        target_dir=str(home / "targets"),
        bootstrap=bootstrap,
    )


def _fetch(updater: Updater) -> bytes:
    updater.refresh()
    info = updater.get_targetinfo("trusted_root.json")
    assert info is not None
    with open(updater.download_target(info), "rb") as handle:  # noqa: PTH123
        return handle.read()


def test_the_verdict_travels_into_the_gap(  # noqa: PLR0915 - one story, told in order
    exported: Exported,
    gap: Registry,
    softhsm: SoftHsm,
    tmp_path: Path,
    asset: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = Path(os.environ["APPLIANCE_STATE_DIR"])
    wall = datetime.now(UTC)
    softhsm.init_token("gap-story", user_pin=PIN)
    pkcs11.lib(softhsm.module_path).reinitialize()
    monkeypatch.setenv("COSIGN_PKCS11_PIN", PIN)
    uri = {
        label: f"pkcs11:token=gap-story;object={label}?module-path={softhsm.module_path}"
        for label in ("countersign", "tuf-root", "tuf-online")
    }
    for key in uri.values():
        assert main(["pkcs11", "keygen", "--key", key]) == 0
    assert (
        main(
            [
                "public-key",
                "--key",
                uri["countersign"],
                "--output-file",
                str(tmp_path / "release.pub"),
            ]
        )
        == 0
    )
    capsys.readouterr()

    # Verify, then load (with the HSM countersignature): the trust lands beside the images.
    verified = runner(capsys, "verify")(
        exported.archive, "--trusted-root", str(exported.root), *KEYLESS,
        "--image", exported.ref("app"),
    )  # fmt: skip
    assert verified.code == 0, verified.err
    loaded = runner(capsys, "load")(
        exported.archive, "--to", f"{gap.address}/mirror", "--allow-http-registry",
        "--trusted-root", str(exported.root), *KEYLESS, "--image", exported.ref("app"),
        "--countersign-key", uri["countersign"],
    )  # fmt: skip
    assert loaded.code == 0, loaded.err
    assert loaded.report["load"]["pushed"]["countersigned"]
    layout = tmp_path / "from-registry"
    gap.pull_layout("mirror/airlock/trust:trusted-roots", layout, "x")
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(
        (
            layout
            / "blobs/sha256"
            / index["manifests"][0]["digest"].removeprefix("sha256:")
        ).read_bytes()
    )
    (layer,) = manifest["layers"]
    in_registry = (
        layout / "blobs/sha256" / layer["digest"].removeprefix("sha256:")
    ).read_bytes()
    (kept,) = held.held_roots(state, now=wall)
    assert in_registry == kept.data

    # Publish the gap-local repository with HSM keys, "yesterday".
    repo = tmp_path / "tuf"

    def publish(now: datetime, **kw: object) -> None:
        trust_publish(TrustPublishRequest(out=repo, state_dir=state, now=now, **kw))  # type: ignore[arg-type]

    publish(
        wall - timedelta(days=1, hours=2),
        root_keys=(SignerChoice(key=uri["tuf-root"]),),
        online=SignerChoice(key=uri["tuf-online"]),
    )
    bootstrap = (repo / "root.json").read_bytes()
    js_cache = tmp_path / "js-cache"
    with static_http.serve(repo) as url:
        # Today, yesterday's one-day timestamp has expired: the clients stop.
        with pytest.raises(tuf_errors.ExpiredMetadataError):
            _updater(tmp_path / "cluster-tuf", url, bootstrap).refresh()
        stale = sigstore_js.cli_verify(asset(DSSE), mirror=url, tuf_root=repo / "root.json",
                                       cache=js_cache, email=EMAIL, issuer=ISSUER)  # fmt: skip
        assert not stale.ok
        assert "expired" in stale.said.lower()

        # The timer's refresh (online key only) the next day: both work again.
        publish(
            wall - timedelta(hours=2),
            online=SignerChoice(key=uri["tuf-online"]),
            refresh=True,
        )
        assert _fetch(_updater(tmp_path / "cluster-tuf", url, bootstrap)) == kept.data
        fresh = sigstore_js.cli_verify(asset(DSSE), mirror=url, tuf_root=repo / "root.json",
                                       cache=js_cache, email=EMAIL, issuer=ISSUER)  # fmt: skip
        assert fresh.ok, fresh.said

        # Rotate the root to a new key (signed by the old HSM key and the new one).
        new_root = tmp_path / "new-root.pem"
        new_root.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        publish(
            wall - timedelta(hours=1),
            root_keys=(SignerChoice(key=str(new_root)),),
            previous_root_keys=(SignerChoice(key=uri["tuf-root"]),),
            online=SignerChoice(key=uri["tuf-online"]),
        )
        assert json.loads((repo / "root.json").read_bytes())["signed"]["version"] == 2
        # The clients that trust root v1 (their caches, the v1 root.json) follow the chain.
        assert _fetch(_updater(tmp_path / "cluster-tuf", url, bootstrap)) == kept.data
        # sigstore-js's cache holds root v1 since its first run: it walks to v2 itself.
        again = sigstore_js.cli_verify(asset(DSSE), mirror=url, tuf_root=repo / "root.json",
                                       cache=js_cache, email=EMAIL, issuer=ISSUER)  # fmt: skip
        assert (
            json.loads(
                (js_cache / next(js_cache.iterdir()).name / "root.json").read_bytes()
            )["signed"]["version"]
            == 2
        )
        assert again.ok, again.said

    # The hand-off names the countersigning key and the prefix.
    policy = tmp_path / "cip.yaml"
    assert main(["handoff", "--countersign-key", str(tmp_path / "release.pub"), "--registry",
                 f"{gap.address}/mirror", "--format", "policy-controller", "-o", str(policy),
                 "--tuf-mirror", "http://tuf.gap:8080", "--tuf-root", str(repo / "root.json")]) == 0  # fmt: skip
    cip, trust_root = yaml.safe_load_all(policy.read_text())
    assert cip["spec"]["images"] == [{"glob": f"{gap.address}/mirror/**"}]
    assert (
        cip["spec"]["authorities"][0]["key"]["data"]
        == (tmp_path / "release.pub").read_text()
    )
    assert trust_root["spec"]["remote"]["mirror"] == "http://tuf.gap:8080"
    commands = [
        json.loads(x)["command"]
        for x in (state / "audit.jsonl").read_text().splitlines()
    ]
    assert commands.count("trust-publish") == 3
    assert "handoff" in commands
    capsys.readouterr()
