"""Certificates that do not parse cleanly are refused at the boundary.

cryptography parses extensions lazily and raises exceptions of its own
(``DuplicateExtension``, ``UnsupportedGeneralNameType``) that are not
``ValueError``: the review found both ending in "internal error". The leaves
here are re-signed by the test CA after a surgical DER edit (asn1crypto), so
that only the one defect is present.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cli.main import main
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError
from appliance.core.policy import IdentityPolicy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.sigstore_stack import DEFAULT_ISSUER, SigstoreStack
from tests.helpers.sigstore_stack.rekor import b64

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DATA = b"x"
IDENTITY = "dev@airlock.test"


def _resigned(stack: SigstoreStack, edit: Callable[[bytes], bytes]) -> bytes:
    """The stack's bundle with its leaf's TBS edited and re-signed by the CA."""
    signed = stack.sign_blob(DATA, identity=IDENTITY)
    assert signed.certificate is not None
    tbs_der = edit(signed.certificate.tbs_certificate_bytes)
    signature = stack.ca.intermediate_key.sign(tbs_der, ec.ECDSA(hashes.SHA384()))
    original = asn1_x509.Certificate.load(
        signed.certificate.public_bytes(serialization.Encoding.DER)
    )
    rebuilt = asn1_x509.Certificate(
        {
            # Loaded, never re-encoded: dump() keeps these exact bytes.
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": original["signature_algorithm"],
            "signature_value": signature,
        }
    )
    doc = signed.bundle()
    doc["verificationMaterial"]["certificate"]["rawBytes"] = b64(rebuilt.dump())
    return json.dumps(doc).encode()


def _duplicate_extension(tbs_der: bytes) -> bytes:
    tbs = asn1_x509.TbsCertificate.load(tbs_der)
    extensions = tbs["extensions"]
    extensions.append(extensions[0].copy())
    dumped: bytes = tbs.dump(force=True)
    return dumped


def _edi_party_san(tbs_der: bytes) -> bytes:
    # The SAN GeneralNames { rfc822Name "dev@airlock.test" } swapped, byte for
    # byte, for one of the same length: { ediPartyName { partyName [1]
    # UTF8String "edi-party-ab" } }. asn1crypto cannot build this CHOICE.
    email = bytes.fromhex("30128110") + IDENTITY.encode()
    edi = bytes.fromhex("3012a510a10e0c0c") + b"edi-party-ab"
    assert len(email) == len(edi) == 20
    assert tbs_der.count(email) == 1
    return tbs_der.replace(email, edi)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_duplicate_extension, "DuplicateExtension"),
        (_edi_party_san, "UnsupportedGeneralNameType"),
    ],
    ids=["duplicate-extension", "edi-party-name-san"],
)
def test_malformed_leaf_is_an_input_error(
    sigstore_stack: SigstoreStack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[bytes], bytes],
    needle: str,
) -> None:
    bundle = _resigned(sigstore_stack, edit)
    trust = TrustMaterial.from_bytes(
        sigstore_stack.trusted_root_json(), source="s", tuf_backed=False
    )
    with pytest.raises(InputError, match=needle):
        verify_bundle(
            Bundle.from_bytes(bundle),
            artifact=Artifact(DATA),
            trust=trust,
            policy=IdentityPolicy(identity="dev@airlock.test", issuer=DEFAULT_ISSUER),
            now=sigstore_stack.now,
        )
    (tmp_path / "b.json").write_bytes(bundle)
    (tmp_path / "root.json").write_bytes(sigstore_stack.trusted_root_json())
    (tmp_path / "a").write_bytes(DATA)
    code = main(
        [
            "verify-blob",
            str(tmp_path / "a"),
            "--bundle",
            str(tmp_path / "b.json"),
            "--trusted-root",
            str(tmp_path / "root.json"),
            "--certificate-identity",
            "dev@airlock.test",
            "--certificate-oidc-issuer",
            DEFAULT_ISSUER,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "internal error" not in err
    assert needle in err
