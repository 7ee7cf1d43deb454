"""RFC 3161 stamps: a damaged token is "not verified", however late it fails.

rfc3161-client parses lazily, so a token can decode and still fail when a
field is first read. Every byte of a real staging token is flipped in turn;
the verifier must answer each one with a verification error, never an
exception of the library's own.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from appliance.core import timestamp
from appliance.core.errors import Reason, TrustRootError, VerificationError
from appliance.core.timestamp import verify_timestamp
from appliance.core.trust import TrustMaterial
from tests.helpers.vectors import CONFORMANCE

CASE = CONFORMANCE / "bundle-verify" / "rekor2-happy-path"
BUNDLE = json.loads((CASE / "bundle.sigstore.json").read_bytes())
TOKEN = base64.b64decode(
    BUNDLE["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0][
        "signedTimestamp"
    ]
)
SIGNATURE = base64.b64decode(BUNDLE["messageSignature"]["signature"])
TRUST = TrustMaterial.from_bytes(
    (CASE / "trusted_root.json").read_bytes(), source="t", tuf_backed=False
)


ORIGINAL = verify_timestamp(TOKEN, signature=SIGNATURE, trust=TRUST, where="t")


def test_the_real_token_verifies() -> None:
    assert ORIGINAL.tzinfo is UTC
    assert datetime(2026, 1, 1, tzinfo=UTC) > ORIGINAL


@pytest.mark.parametrize("offset", range(8))
def test_every_flipped_byte_is_a_clean_refusal(offset: int) -> None:
    for index in range(offset, len(TOKEN), 8):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(TOKEN)
            damaged[index] ^= flip
            try:
                when = verify_timestamp(
                    bytes(damaged), signature=SIGNATURE, trust=TRUST, where="t"
                )
            except VerificationError as exc:
                reason = exc.reason
                assert reason is Reason.TIMESTAMP_INVALID
                continue
            # A flip the TSA's signature does not cover (the unsigned status
            # text, say) may still verify: then with the very same genTime.
            assert when == ORIGINAL, f"byte {index} ^ {flip:#x} changed the time"


@pytest.mark.parametrize("length", [0, 1, 2, 10, 100, len(TOKEN) // 2, len(TOKEN) - 1])
def test_truncated_tokens(length: int) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_timestamp(TOKEN[:length], signature=SIGNATURE, trust=TRUST, where="t")
    assert caught.value.reason is Reason.TIMESTAMP_INVALID


@pytest.mark.parametrize(
    "signature",
    [SIGNATURE, SIGNATURE[:-1], SIGNATURE + b"\x00", b"", b"another signature"],
)
def test_the_read_once_response_decides_as_the_library_does(signature: bytes) -> None:
    """The verifier is handed each part of the response decoded once: its
    verdict is the library's own on the response as parsed, for the stamped
    signature and for any other bytes (message imprint mismatch)."""
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415

    authority = TRUST.tsas[0]
    try:
        timestamp._verifier(authority).verify_message(
            decode_timestamp_response(TOKEN), signature
        )
    except Exception:  # noqa: BLE001 - whatever the library raises
        library_verified = False
    else:
        library_verified = True
    assert library_verified is (signature == SIGNATURE)
    if library_verified:
        assert (
            verify_timestamp(TOKEN, signature=signature, trust=TRUST, where="t")
            == ORIGINAL
        )
    else:
        with pytest.raises(VerificationError) as caught:
            verify_timestamp(TOKEN, signature=signature, trust=TRUST, where="t")
        assert caught.value.reason is Reason.TIMESTAMP_INVALID


def _stamps() -> list[bytes]:
    from tests.helpers.vectors import VECTORS  # noqa: PLC0415

    found: list[bytes] = []
    for path in sorted(VECTORS.rglob("*.json")):
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            continue
        material = doc.get("verificationMaterial") if isinstance(doc, dict) else None
        data = (material or {}).get("timestampVerificationData") or {}
        found.extend(
            base64.b64decode(s["signedTimestamp"])
            for s in data.get("rfc3161Timestamps") or []
        )
    return found


STAMPS = _stamps()


def test_the_token_sliced_is_the_token_the_library_writes() -> None:
    """``token_of`` hands pkcs7 verification the response's own bytes; on every
    real stamp they are exactly what rfc3161-client writes out of its parse."""
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415

    compared = 0
    for stamp in STAMPS:
        try:
            theirs = decode_timestamp_response(stamp).time_stamp_token()
        except ValueError:
            # Not DER (one conformance stamp's certificates are out of SET
            # OF order): the library refuses it, and so does verify_timestamp.
            with pytest.raises(VerificationError):
                verify_timestamp(stamp, signature=SIGNATURE, trust=TRUST, where="t")
            continue
        assert timestamp.token_of(stamp) == theirs
        compared += 1
    assert compared > 20  # the conformance suite's and ours


def test_a_damaged_response_is_sliced_as_the_library_reads_it_or_not_at_all() -> None:
    """Every byte of the response's framing (its header, the status, the
    token's header) flipped: whatever the library still parses, the slice is
    its token, or there is none and the library's own is used."""
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415

    sliced = 0
    for index in range(64):
        for flip in (0x01, 0x02, 0x40, 0x80, 0xFF):
            damaged = bytearray(TOKEN)
            damaged[index] ^= flip
            ours = timestamp.token_of(bytes(damaged))
            try:
                theirs = decode_timestamp_response(bytes(damaged)).time_stamp_token()
            except ValueError:
                theirs = None  # unparsed: verify_timestamp refuses it first
            if ours is not None and theirs is not None:
                sliced += 1
                assert ours == theirs, f"byte {index} ^ {flip:#x}"
    assert sliced > 0  # flips of the status value still parse: compared above


@pytest.mark.parametrize(
    "stamp",
    [b"", b"\x30", b"\x30\x00", b"\x30\x80", b"\x31\x03\x30\x01\x00", TOKEN + b"\x00"],
)
def test_what_is_not_plainly_a_response_is_not_sliced(stamp: bytes) -> None:
    assert timestamp.token_of(stamp) is None


def _library_verifier(authority: object) -> object:
    """rfc3161-client's verifier for ``authority``, as its README builds one."""
    from rfc3161_client import VerifierBuilder  # noqa: PLC0415

    certs = authority.certificates  # type: ignore[attr-defined]
    builder = (
        VerifierBuilder().tsa_certificate(certs[0]).add_root_certificate(certs[-1])
    )
    for intermediate in certs[1:-1]:
        builder = builder.add_intermediate_certificate(intermediate)
    return builder.build()


def _verdict(verifier: object, stamp: bytes, signature: bytes) -> str:
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415

    try:
        verifier.verify_message(decode_timestamp_response(stamp), signature)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - whatever the library raises
        return f"{type(exc).__name__}: {exc}"
    return "verified"


def test_the_verifier_holding_encoded_certificates_decides_as_the_library() -> None:
    """Its trusted certificates' DER, issuer and serial are read once
    (``_EncodedOnce``): on every conformance stamp, under every TSA the
    conformance roots name (the stamp's own, others, and ones that are not
    its signer), the verdict and its message are the library's own."""
    roots = {}
    for path in sorted((CONFORMANCE / "bundle-verify").glob("*/trusted_root.json")):
        try:
            roots[path] = TrustMaterial.from_bytes(
                path.read_bytes(), source="t", tuf_backed=False
            )
        except TrustRootError:
            continue  # a case about a broken root: nothing to verify under it
    authorities = {
        a.certificates[0].fingerprint(hashes.SHA256()): a
        for t in roots.values()
        for a in t.tsas
    }
    verified = refused = 0
    for path in roots:
        bundle = json.loads((path.parent / "bundle.sigstore.json").read_bytes())
        material = bundle["verificationMaterial"].get("timestampVerificationData") or {}
        content = (
            bundle.get("messageSignature") or bundle["dsseEnvelope"]["signatures"][0]
        )
        signature = base64.b64decode(content.get("signature") or content["sig"])
        for entry in material.get("rfc3161Timestamps") or []:
            stamp = base64.b64decode(entry["signedTimestamp"])
            for authority in authorities.values():
                ours = _verdict(timestamp._verifier(authority), stamp, signature)
                assert ours == _verdict(_library_verifier(authority), stamp, signature)
                verified += ours == "verified"
                refused += ours != "verified"
    assert verified > 5
    assert refused > 20


def test_encoded_once_is_its_certificate() -> None:
    cert, other = TRUST.tsas[0].certificates[0], TRUST.tsas[0].certificates[-1]
    held = timestamp._EncodedOnce(cert)
    assert held == cert
    assert held == timestamp._EncodedOnce(cert)
    assert held != other
    assert not held != cert  # noqa: SIM202 - the library asks with !=
    assert hash(held) == hash(cert)
    assert held.public_bytes(Encoding.DER) == cert.public_bytes(Encoding.DER)
    assert held.public_bytes(Encoding.PEM) == cert.public_bytes(Encoding.PEM)
    assert (held.issuer, held.serial_number) == (cert.issuer, cert.serial_number)
    assert held.subject == cert.subject
