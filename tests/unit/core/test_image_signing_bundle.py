"""Key-signed DSSE bundles as cosign v3 and sigstore-go write them, and sigstore-js reads them.

cosign v3 signs an attestation with a key through sigstore-go's ``sign.Bundle``
and writes ``protojson.Marshal`` of it (cosign pkg/cosign/bundle/sign.go):
the DSSE signature carries ``sig`` only, no ``keyid`` (sigstore-go
pkg/sign/content.go, ``DSSEData.Bundle``); the public-key hint is base64 of
SHA-256 over the DER SubjectPublicKeyInfo (pkg/sign/keys.go; cosign
internal/key/svkeypair.go); and an empty ``tlogEntries`` is omitted, as
protojson omits every empty repeated field. sigstore-js (tests/oracle-js) is
the independent verifier. Negative cases first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core import image_signing
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import VerificationError
from appliance.core.policy import KeyPolicy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers import sigstore_js
from tests.helpers.sigstore_stack import SigstoreStack

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
IMAGE = "sha256:" + "cd" * 32
OTHER = "sha256:" + "ef" * 32
KEY = ec.generate_private_key(ec.SECP256R1())
STATEMENT = image_signing.statement(
    name="registry.test/app",
    image_digest=IMAGE,
    predicate_type="https://slsa.dev/provenance/v1",
    predicate={"buildType": "test"},
)


def _bundle(key: ec.EllipticCurvePrivateKey = KEY, payload: bytes = STATEMENT) -> bytes:
    signature = key.sign(image_signing.to_sign(payload), ec.ECDSA(hashes.SHA256()))
    return image_signing.dsse_bundle(STATEMENT, signature, KEY.public_key())


def _pem(tmp_path: Path, key: ec.EllipticCurvePrivateKey = KEY) -> Path:
    path = tmp_path / "key.pub"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _js(tmp_path: Path, bundle: bytes, **kwargs: object) -> sigstore_js.Verdict:
    path = tmp_path / "bundle.sigstore.json"
    path.write_bytes(bundle)
    return sigstore_js.verify(
        path,
        kwargs.pop("key", None) or _pem(tmp_path),  # type: ignore[arg-type]
        subject=kwargs.pop("subject", IMAGE),  # type: ignore[arg-type]
    )


def _ours(bundle: bytes, *, digest: str = IMAGE, now: datetime = NOW) -> object:
    return verify_bundle(
        Bundle.from_bytes(bundle),
        artifact=Artifact.from_digest("sha256", bytes.fromhex(digest[7:])),
        trust=TrustMaterial.from_bytes(
            SigstoreStack(now=now).trusted_root_json(), source="t", tuf_backed=False
        ),
        policy=KeyPolicy(key=KEY.public_key()),
        now=now,
        insecure_ignore_tlog=True,
    )


def test_sigstore_js_refuses_a_signature_over_another_statement(
    tmp_path: Path,
) -> None:
    other = STATEMENT.replace(b"buildType", b"buildTypo")
    verdict = _js(tmp_path, _bundle(payload=other))
    assert not verdict.ok, verdict.said


def test_sigstore_js_refuses_another_key(tmp_path: Path) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    verdict = _js(tmp_path, _bundle(), key=_pem(tmp_path, stranger))
    assert not verdict.ok, verdict.said


def test_sigstore_js_refuses_another_subject(tmp_path: Path) -> None:
    assert not _js(tmp_path, _bundle(), subject=OTHER).ok


def test_we_refuse_another_subject_and_another_statement() -> None:
    with pytest.raises(VerificationError):
        _ours(_bundle(), digest=OTHER)
    with pytest.raises(VerificationError):
        _ours(_bundle(payload=STATEMENT.replace(b"test", b"tset")))


def test_no_empty_tlog_entries_as_protojson_writes_it() -> None:
    material = json.loads(_bundle())["verificationMaterial"]
    assert material == {"publicKey": {"hint": material["publicKey"]["hint"]}}


def test_the_dsse_signature_has_no_keyid_as_sigstore_go_writes_it() -> None:
    (signature,) = json.loads(_bundle())["dsseEnvelope"]["signatures"]
    assert set(signature) == {"sig"}


def test_the_hint_is_sha256_of_the_der_spki_computed_by_openssl(
    tmp_path: Path,
) -> None:
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(_pem(tmp_path)), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    hint = base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert json.loads(_bundle())["verificationMaterial"]["publicKey"]["hint"] == hint


def test_sigstore_js_and_we_verify_it(tmp_path: Path) -> None:
    bundle = _bundle()
    verdict = _js(tmp_path, bundle)
    assert verdict.ok, verdict.said
    _ours(bundle)
