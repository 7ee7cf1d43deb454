"""A log entry's body must name exactly the bundle's signer (CVE-2022-36056).

The comparison has a fast path (the body holds the standard base64 PEM of the
bundle's certificate) and the full decoding path behind it; these tests hold
both to the same verdicts on real bundles: the genuine body matches, the same
certificate spelled otherwise still matches, another certificate, a damaged
encoding or a missing field never does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import certs, dsse, rekor_body
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle, DsseEnvelope, DsseSignature, MessageSignature
from appliance.core.errors import Reason, VerificationError
from appliance.core.policy import IdentityPolicy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.vectors import CONFORMANCE, PUBLIC_GOOD_ROOT, VECTORS

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cryptography import x509

HASHEDREKORD = CONFORMANCE / "bundle-verify/happy-path-v0.3/bundle.sigstore.json"
DSSE = CONFORMANCE / "bundle-verify/happy-path-intoto-in-dsse-v3/bundle.sigstore.json"
REKOR2 = CONFORMANCE / "bundle-verify/rekor2-happy-path/bundle.sigstore.json"
REKOR2_DSSE = CONFORMANCE / "bundle-verify/rekor2-dsse-happy-path/bundle.sigstore.json"
LOGGED = [HASHEDREKORD, DSSE, REKOR2, REKOR2_DSSE]
LOGGED_IDS = ["hashedrekord", "dsse", "rekor2", "rekor2-dsse"]
OTHER = VECTORS / "bundles/public-good/bundle_v3_github.whl.sigstore"
DIGEST = bytes.fromhex(
    "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
)


def _parts(
    path: Path,
) -> tuple[Bundle, rekor_body.Signer, rekor_body.Signed, dict[str, Any]]:
    bundle = Bundle.from_bytes(path.read_bytes())
    assert bundle.certificate is not None
    leaf = certs.load_certificate(bundle.certificate, where="leaf")
    signer = rekor_body.Signer.of(
        leaf,
        leaf.public_key(),  # type: ignore[arg-type]
        der=bundle.certificate,
    )
    if isinstance(bundle.content, MessageSignature):
        signed = rekor_body.Signed(
            digests={"sha256": DIGEST}, signature=bundle.signature, envelope=None
        )
    else:
        assert isinstance(bundle.content, DsseEnvelope)
        # Rekor v2 logs an envelope as a hashedrekord over H(PAE).
        pae = dsse.pae(bundle.content.payload_type, bundle.content.payload)
        signed = rekor_body.Signed(
            digests={"sha256": hashlib.sha256(pae).digest()}
            if bundle.tlog_entries[0].kind == "hashedrekord"
            else {},
            signature=bundle.signature,
            envelope=bundle.content,
        )
    body = json.loads(bundle.tlog_entries[0].canonicalized_body)
    return bundle, signer, signed, body


def _check(
    bundle: Bundle,
    signer: rekor_body.Signer,
    signed: rekor_body.Signed,
    body: dict[str, Any],
) -> None:
    entry = bundle.tlog_entries[0]
    rekor_body.check_body(
        json.dumps(body).encode(),
        kind=entry.kind,
        version=entry.version,
        signer=signer,
        signed=signed,
    )


def _other_pem() -> bytes:
    other = Bundle.from_bytes(OTHER.read_bytes())
    assert other.certificate is not None
    return certs.load_certificate(other.certificate, where="other").public_bytes(
        Encoding.PEM
    )


def _wide_pem(der: bytes) -> bytes:
    # The same certificate in PEM with 76-column lines: not what clients
    # submit, but a PEM of the signer all the same.
    return (
        b"-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(der)
        + b"-----END CERTIFICATE-----\n"
    )


def _set_hashedrekord_key(body: dict[str, Any], value: object) -> None:
    body["spec"]["signature"]["publicKey"]["content"] = value


def _set_dsse_verifier(body: dict[str, Any], value: object) -> None:
    body["spec"]["signatures"][0]["verifier"] = value


CASES: list[tuple[str, Path, Callable[[dict[str, Any], object], None]]] = [
    ("hashedrekord", HASHEDREKORD, _set_hashedrekord_key),
    ("dsse", DSSE, _set_dsse_verifier),
]


@pytest.mark.parametrize(("kind", "path", "setter"), CASES, ids=[c[0] for c in CASES])
def test_the_logged_body_names_the_signer(
    kind: str, path: Path, setter: Callable[[dict[str, Any], object], None]
) -> None:
    bundle, signer, signed, body = _parts(path)
    assert bundle.tlog_entries[0].kind == kind
    _check(bundle, signer, signed, body)
    # The same certificate spelled otherwise: decided by the full path.
    assert bundle.certificate is not None
    setter(body, base64.b64encode(_wide_pem(bundle.certificate)).decode())
    _check(bundle, signer, signed, body)
    setter(body, base64.b64encode(bundle.certificate).decode())  # bare DER
    _check(bundle, signer, signed, body)


@pytest.mark.parametrize(("kind", "path", "setter"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda: base64.b64encode(_other_pem()).decode(), id="other-cert"),
        pytest.param(lambda: "not base64!", id="not-base64"),
        pytest.param(lambda: "", id="empty"),
        pytest.param(lambda: None, id="null"),
        pytest.param(lambda: 7, id="number"),
    ],
)
def test_a_body_naming_anyone_else_is_refused(
    kind: str,
    path: Path,
    setter: Callable[[dict[str, Any], object], None],
    value: Callable[[], object],
) -> None:
    bundle, signer, signed, body = _parts(path)
    assert bundle.tlog_entries[0].kind == kind
    setter(body, value())
    with pytest.raises(VerificationError) as caught:
        _check(bundle, signer, signed, body)
    assert caught.value.reason is Reason.TLOG_ENTRY_INVALID


def test_a_signer_named_by_its_re_encoding_still_matches() -> None:
    """Without the bundle's bytes, the signer is its certificate re-encoded:
    the same verdicts (the bundle's bytes only save that re-encoding)."""
    bundle, signer, signed, body = _parts(HASHEDREKORD)
    assert signer.certificate is not None
    plain = rekor_body.Signer.of(signer.certificate, signer.key)
    assert plain.encoded == signer.encoded
    _check(bundle, plain, signed, body)
    _set_hashedrekord_key(body, base64.b64encode(_other_pem()).decode())
    with pytest.raises(VerificationError):
        _check(bundle, plain, signed, body)


def test_the_whole_verification_still_refuses_a_body_about_another_signer() -> None:
    """End to end: a genuine log entry about other material proves nothing."""
    data = json.loads(HASHEDREKORD.read_bytes())
    entry = data["verificationMaterial"]["tlogEntries"][0]
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    _set_hashedrekord_key(body, base64.b64encode(_other_pem()).decode())
    entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    trust = TrustMaterial.from_bytes(
        PUBLIC_GOOD_ROOT.read_bytes(), source="t", tuf_backed=False
    )
    with pytest.raises(VerificationError) as caught:
        verify_bundle(
            Bundle.from_bytes(json.dumps(data).encode()),
            artifact=Artifact.from_digest("sha256", DIGEST),
            trust=trust,
            policy=IdentityPolicy(
                identity="https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
                issuer="https://token.actions.githubusercontent.com",
            ),
            now=datetime(2026, 11, 1, tzinfo=UTC),
        )
    # The body is covered by the proof and the SET: either the body check
    # or the log evidence refuses it, never a pass.
    assert caught.value.reason in {
        Reason.TLOG_ENTRY_INVALID,
        Reason.INCLUSION_PROOF_INVALID,
        Reason.SET_INVALID,
        Reason.SIGNATURE_INVALID,
        Reason.CHECKPOINT_INVALID,
    }


@settings(max_examples=300)
@given(der=st.binary(min_size=1, max_size=3000))
def test_the_standard_pem_text_is_the_standard_library_s_for_every_length(
    der: bytes,
) -> None:
    """The fast comparison's expected text, for any DER, is base64 of the PEM the
    standard library writes (64-column lines, RFC 7468 §2): no length cuts a
    line wrong (the lines are cut by a fixed layout per length)."""
    signer = rekor_body.Signer(certificate=_LEAF, key=_LEAF_KEY, encoded=der)
    expected = base64.b64encode(ssl.DER_cert_to_PEM_cert(der).encode()).decode()
    assert rekor_body._standard_pem_b64(signer) == expected


def test_the_standard_pem_text_of_a_key_is_cryptography_s() -> None:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    signer = rekor_body.Signer.of(None, key)
    pem = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert rekor_body._standard_pem_b64(signer) == base64.b64encode(pem).decode()


def _leaf_and_key() -> tuple[x509.Certificate, ec.EllipticCurvePublicKey]:
    bundle = Bundle.from_bytes(HASHEDREKORD.read_bytes())
    assert bundle.certificate is not None
    leaf = certs.load_certificate(bundle.certificate, where="leaf")
    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return leaf, key


_LEAF, _LEAF_KEY = _leaf_and_key()


@pytest.mark.parametrize("length", [8191, 8192 * 3 // 4 + 1, 20_000, 1_000_003])
def test_a_long_signer_s_pem_is_right_and_its_layout_not_kept(length: int) -> None:
    """A bundle chooses its leaf's length: layouts of lengths no real leaf has
    are built for the call and dropped, so no verification keeps memory."""
    der = bytes(range(256)) * (length // 256) + bytes(length % 256)
    signer = rekor_body.Signer(certificate=_LEAF, key=_LEAF_KEY, encoded=der)
    before = rekor_body._remembered_pem_lines.cache_info().currsize
    expected = base64.b64encode(ssl.DER_cert_to_PEM_cert(der).encode()).decode()
    assert rekor_body._standard_pem_b64(signer) == expected
    remembered = len(base64.b64encode(der)) <= rekor_body._REMEMBERED_LAYOUT
    grew = rekor_body._remembered_pem_lines.cache_info().currsize - before
    assert grew <= (1 if remembered else 0)


# -- a body exactly as Rekor v1 logs it is matched without parsing --------------


def _full_comparison_accepts(
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    entry_kind: tuple[str, str],
    signer: rekor_body.Signer,
    signed: rekor_body.Signed,
) -> bool:
    with monkeypatch.context() as m:
        m.setattr(rekor_body, "_is_as_logged", lambda *_, **__: False)
        try:
            rekor_body.check_body(
                body,
                kind=entry_kind[0],
                version=entry_kind[1],
                signer=signer,
                signed=signed,
            )
        except VerificationError:
            return False
    return True


@pytest.mark.parametrize("path", LOGGED, ids=LOGGED_IDS)
def test_the_logged_bytes_are_recognised_and_every_flip_goes_to_the_comparison(
    monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    """Real Rekor bodies take the byte comparison; a body it accepts is one the
    field-by-field comparison accepts too, for every byte of the body flipped
    (only a flip inside a value neither reads, the dsse envelope hash or
    Rekor v2's keyDetails, that stays in its alphabet, is still accepted)."""
    bundle, signer, signed, _ = _parts(path)
    entry = bundle.tlog_entries[0]
    genuine = entry.canonicalized_body
    kind = (entry.kind, entry.version)
    assert rekor_body._is_as_logged(
        genuine, kind=kind[0], version=kind[1], signer=signer, signed=signed
    )
    still = 0
    for index in range(len(genuine)):
        for flip in (0x01, 0x20, 0x80):
            damaged = bytearray(genuine)
            damaged[index] ^= flip
            if rekor_body._is_as_logged(
                bytes(damaged),
                kind=kind[0],
                version=kind[1],
                signer=signer,
                signed=signed,
            ):
                still += 1
                assert _full_comparison_accepts(
                    monkeypatch, bytes(damaged), kind, signer, signed
                ), f"byte {index} ^ {flip:#x}"
    if kind == ("hashedrekord", "0.0.1"):
        assert still == 0
    else:
        assert 0 < still < 64 * 3  # within the one value neither reads


def _changed(signed: rekor_body.Signed) -> list[rekor_body.Signed]:
    """The same entry's material with one thing about it changed."""
    envelope = signed.envelope
    if envelope is None:
        return [
            rekor_body.Signed(
                digests={"sha256": bytes(32)}, signature=signed.signature, envelope=None
            ),
            rekor_body.Signed(
                digests={"sha384": bytes(48)}, signature=signed.signature, envelope=None
            ),
            rekor_body.Signed(
                digests=signed.digests, signature=signed.signature[:-1], envelope=None
            ),
        ]

    def with_envelope(payload: bytes, sig: bytes) -> rekor_body.Signed:
        signature = DsseSignature(sig=sig, keyid="")
        return rekor_body.Signed(
            digests={},
            signature=sig,
            envelope=DsseEnvelope(
                payload=payload,
                payload_type=envelope.payload_type,
                signatures=(signature,),
            ),
        )

    return [
        with_envelope(envelope.payload + b" ", envelope.signatures[0].sig),
        with_envelope(envelope.payload, envelope.signatures[0].sig[:-1]),
        rekor_body.Signed(digests={}, signature=signed.signature, envelope=None),
    ]


@pytest.mark.parametrize("path", LOGGED, ids=LOGGED_IDS)
def test_the_logged_bytes_of_other_material_are_not_recognised(
    monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    """Another signer, digest, signature or payload: not the logged bytes (and
    the comparison refuses the body too); another kind or version: never."""
    bundle, signer, signed, _ = _parts(path)
    entry = bundle.tlog_entries[0]
    body = entry.canonicalized_body
    kind = (entry.kind, entry.version)
    other = certs.load_certificate(
        Bundle.from_bytes(OTHER.read_bytes()).certificate or b"", where="other"
    )
    someone = rekor_body.Signer.of(other, other.public_key())  # type: ignore[arg-type]
    cases = [(someone, signed)] + [(signer, what) for what in _changed(signed)]
    for who, what in cases:
        assert not rekor_body._is_as_logged(
            body, kind=kind[0], version=kind[1], signer=who, signed=what
        )
        assert not _full_comparison_accepts(monkeypatch, body, kind, who, what)
    kinds = [("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2"), ("intoto", "0.0.1")]
    kinds += [("dsse", "0.0.1"), ("dsse", "0.0.2")]
    for other_kind in (k for k in kinds if k != kind):
        assert not rekor_body._is_as_logged(
            body,
            kind=other_kind[0],
            version=other_kind[1],
            signer=signer,
            signed=signed,
        )
