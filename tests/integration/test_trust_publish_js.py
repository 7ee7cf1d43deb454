"""sigstore-js in the "cluster" verifies offline with trust from the gap-local repository.

``@sigstore/cli`` (pinned in tests/oracle-js) cannot take a trusted root: it
bootstraps from the published ``root.json`` and fetches ``trusted_root.json``
through TUF (tuf-js) from ``--tuf-mirror-url``, a static loopback server over
the directory ``appliance trust publish`` wrote. The bundle is a real
public-good one (sigstore-js's own DSSE vector, tests/assets/vectors/README.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main
from tests.helpers import sigstore_js, static_http

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.network
DSSE = "vectors/attestations/sigstore-js/bundleV03-dsse.sigstore"
EMAIL, ISSUER = "brian@dehamer.com", "https://github.com/login/oauth"
STAGING = "vectors/bundles/staging/bundle_v3.txt"


def _published(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "root.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out = tmp_path / "repo"
    assert main(["trust", "publish", "--out", str(out), "--root-key", str(pem)]) == 0
    return out


def test_sigstore_js_verifies_a_public_good_bundle_with_trust_from_the_gap(
    tmp_path: Path, asset: Callable[[str], Path]
) -> None:
    repo = _published(tmp_path)
    cache = tmp_path / "js-cache"
    with static_http.serve(repo) as url:
        verdict = sigstore_js.cli_verify(
            asset(DSSE),
            mirror=url,
            tuf_root=repo / "root.json",
            cache=cache,
            email=EMAIL,
            issuer=ISSUER,
        )
    assert verdict.ok, verdict.said
    # Then with the server gone: the cluster keeps verifying from its TUF cache
    # (kept per mirror URL, so the same URL, now answering nothing).
    again = sigstore_js.cli_verify(
        asset(DSSE),
        mirror=url,
        tuf_root=repo / "root.json",
        cache=cache,
        force_cache=True,
        email=EMAIL,
        issuer=ISSUER,
    )
    assert again.ok, again.said


def test_sigstore_js_refuses_a_bundle_of_a_root_the_appliance_has_not_verified(
    tmp_path: Path, asset: Callable[[str], Path]
) -> None:
    """A staging bundle: its CA is in no root the appliance holds, so none reaches the cluster."""
    repo = _published(tmp_path)
    with static_http.serve(repo) as url:
        verdict = sigstore_js.cli_verify(
            asset(STAGING + ".sigstore"),
            blob=asset(STAGING),
            mirror=url,
            tuf_root=repo / "root.json",
            cache=tmp_path / "js-cache",
            email="william@yossarian.net",
            issuer="https://github.com/login/oauth",
        )
    assert not verdict.ok
    assert "CERTIFICATE_ERROR" in verdict.said


def test_sigstore_js_refuses_a_tampered_trusted_root(
    tmp_path: Path, asset: Callable[[str], Path]
) -> None:
    repo = _published(tmp_path)
    (target,) = (repo / "targets").glob("????????*.trusted_root.json")
    target.write_bytes(target.read_bytes().replace(b"tlogs", b"tlogz"))
    with static_http.serve(repo) as url:
        verdict = sigstore_js.cli_verify(
            asset(DSSE),
            mirror=url,
            tuf_root=repo / "root.json",
            cache=tmp_path / "js-cache",
            email=EMAIL,
            issuer=ISSUER,
        )
    assert not verdict.ok
    assert "TUF" in verdict.said or "hash" in verdict.said.lower()


def test_sigstore_js_refuses_another_signer(
    tmp_path: Path, asset: Callable[[str], Path]
) -> None:
    repo = _published(tmp_path)
    with static_http.serve(repo) as url:
        verdict = sigstore_js.cli_verify(
            asset(DSSE),
            mirror=url,
            tuf_root=repo / "root.json",
            cache=tmp_path / "js-cache",
            email="mallory@example.com",
            issuer=ISSUER,
        )
    assert not verdict.ok
    assert "UNTRUSTED_SIGNER" in verdict.said or "identity" in verdict.said.lower()
