"""Compare a log entry's body with the bundle it came in (docs/verification.md §7).

A genuine log entry about *other* material proves nothing (CVE-2022-36056):
the digest, the signature and the signer in the body must be exactly the
bundle's. Supported kinds: hashedrekord 0.0.1 and 0.0.2, dsse 0.0.1, intoto
0.0.1 and 0.0.2. The intoto and dsse envelope hashes cover the submitted
envelope bytes, which a bundle does not preserve; like sigstore-python and
sigstore-go, we compare everything else.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.core import _base64, _json, keys
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.bundle import DsseEnvelope
    from appliance.core.keys import PublicKey

SUPPORTED = frozenset(
    {
        ("hashedrekord", "0.0.1"),
        ("hashedrekord", "0.0.2"),
        ("dsse", "0.0.1"),
        ("intoto", "0.0.1"),
        ("intoto", "0.0.2"),
    }
)
_V2_HASHES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """Who the bundle says signed: a leaf certificate, or a bare key.

    ``encoded`` is the certificate's DER, or the key's DER SPKI: what a body's
    verifier must decode to.
    """

    certificate: x509.Certificate | None
    key: PublicKey
    encoded: bytes = b""

    @classmethod
    def of(
        cls,
        certificate: x509.Certificate | None,
        key: PublicKey,
        *,
        der: bytes | None = None,
    ) -> Signer:
        """The signer, with its encoding computed once.

        ``der`` is the exact bytes ``certificate`` was parsed from (the
        bundle's): a body naming those bytes names this certificate, and
        re-encoding the parsed certificate (a fifth of a millisecond's
        budget) is then needed only when a body spells it differently
        (:func:`_signer_matches`).
        """
        if certificate is None:
            encoded = keys.spki_der(key)
        elif der is not None:
            encoded = der
        else:
            encoded = certificate.public_bytes(serialization.Encoding.DER)
        return cls(certificate=certificate, key=key, encoded=encoded)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signed:
    """What the bundle says was signed, for comparison with the body.

    Attributes:
        digests: hashlib name to digest of the signed message (the artifact,
            or for DSSE under Rekor v2, the PAE bytes).
        signature: the raw signature.
        envelope: the DSSE envelope, for dsse and intoto entries.
    """

    digests: dict[str, bytes]
    signature: bytes
    envelope: DsseEnvelope | None


def _mismatch(field: str) -> VerificationError:
    return VerificationError(
        f"log entry does not match the bundle: {field}",
        reason=Reason.TLOG_ENTRY_INVALID,
        where="tlog entry body",
    )


def _pem_body(pem_or_der: bytes) -> bytes | None:
    """The DER inside a single-block PEM, or None if it is not plainly one."""
    lines = pem_or_der.strip().split(b"\n")
    if len(lines) < 3 or not (  # noqa: PLR2004 - header, body, footer
        lines[0].startswith(b"-----BEGIN ") and lines[-1].startswith(b"-----END ")
    ):
        return None
    try:
        return base64.b64decode(
            b"".join(line.strip() for line in lines[1:-1]), validate=True
        )
    except (binascii.Error, ValueError):
        return None


def _signer_matches(signer: Signer, pem_or_der: bytes) -> bool:
    """Tell whether this encoded certificate or key names the bundle's signer."""
    want = signer.encoded or (
        signer.certificate.public_bytes(serialization.Encoding.DER)
        if signer.certificate is not None
        else keys.spki_der(signer.key)
    )
    # Fast path: the body's PEM decodes to exactly the signer's bytes. Any
    # other shape goes through the full parsers below, which decide.
    if pem_or_der == want or _pem_body(pem_or_der) == want:
        return True
    if signer.certificate is not None:
        canonical = signer.certificate.public_bytes(serialization.Encoding.DER)
        if pem_or_der == canonical or _pem_body(pem_or_der) == canonical:
            return True
        try:
            return (
                x509.load_pem_x509_certificate(pem_or_der).public_bytes(
                    serialization.Encoding.DER
                )
                == canonical
            )
        except ValueError:
            return False
    try:
        return keys.spki_der(keys.load_pem(pem_or_der, where="tlog entry body")) == want
    except InputError:
        return False


def _standard_pem_b64(signer: Signer) -> str:
    """Base64 of the signer's PEM as clients submit it (64-column lines).

    What a body's ``publicKey``/``verifier`` field holds in practice: a body
    holding exactly this text names the signer, and the comparison costs an
    encoding (cheap) instead of two base64 decodings of a PEM certificate.
    """
    der = signer.encoded
    label = b"CERTIFICATE" if signer.certificate is not None else b"PUBLIC KEY"
    text = _base64.encode(der)
    # Lines of 64 columns, each ending in a newline (RFC 7468 §2): cut in
    # one C call (a slice per line in Python cost half of this function).
    lines = _pem_lines(len(text)).unpack(text)
    pem = b"".join(
        (
            b"-----BEGIN " + label + b"-----\n",
            b"\n".join(lines),
            b"\n" if lines else b"",
            b"-----END " + label + b"-----\n",
        )
    )
    return _base64.encode(pem).decode("ascii")


# The longest base64 text whose line layout is remembered: real leaves are
# 1-3 KB of base64, keys less. A longer one (a bundle may carry a leaf of
# megabytes) gets its layout built for that call and dropped, so that no
# length a bundle chooses keeps memory beyond its verification.
_REMEMBERED_LAYOUT = 8192


def _pem_lines(length: int) -> struct.Struct:
    """Cuts ``length`` bytes of base64 into 64-column lines, the last shorter.

    One layout per length, remembered for the lengths of real certificates
    and keys (:data:`_REMEMBERED_LAYOUT`): a certificate's DER length varies
    little, a key's not at all.
    """
    if length <= _REMEMBERED_LAYOUT:
        return _remembered_pem_lines(length)
    return _layout(length)


@functools.lru_cache(maxsize=64)
def _remembered_pem_lines(length: int) -> struct.Struct:
    return _layout(length)


def _layout(length: int) -> struct.Struct:
    full, rest = divmod(length, 64)
    return struct.Struct("64s" * full + (f"{rest}s" if rest else ""))


def _names_signer(signer: Signer, value: object, field: str) -> bool:
    """Whether a body's base64 certificate or key field names the signer.

    Exactly :func:`_signer_matches` of the decoded field: text equal to the
    standard encoding decodes to a PEM whose body is the signer's bytes;
    any other text is decoded and decided there.
    """
    if signer.encoded and value == _standard_pem_b64(signer):
        return True
    return _signer_matches(signer, _b64(value, field))


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise _mismatch(f"{field} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _mismatch(f"{field} is not base64") from exc


def _get(doc: Any, *path: str) -> Any:  # noqa: ANN401 - walks untyped JSON
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            raise _mismatch(f"{'.'.join(path)} is missing")
        doc = doc[key]
    return doc


def _hex_hash(doc: Any, field: str, expected: dict[str, bytes]) -> None:  # noqa: ANN401
    algorithm, value = _get(doc, "algorithm"), _get(doc, "value")
    if (
        not isinstance(algorithm, str)
        or algorithm not in expected
        or not isinstance(value, str)
    ):
        raise _mismatch(f"{field} uses an unexpected algorithm {algorithm!r}")
    if value.lower() != expected[algorithm].hex():
        raise _mismatch(field)


def check_body(
    body: bytes, *, kind: str, version: str, signer: Signer, signed: Signed
) -> None:
    """Check that ``body`` records exactly this signer, signature and digest.

    Raises:
        VerificationError: the body describes other material, or is of a kind
            we cannot compare (reason ``tlog-entry-invalid``).
    """
    if _is_as_logged(body, kind=kind, version=version, signer=signer, signed=signed):
        return
    try:
        doc = _json.obj(_json.loads(body, what="tlog entry body"), "tlog entry body")
    except InputError as exc:
        raise _mismatch("body is not a JSON object") from exc
    if (doc.get("kind"), doc.get("apiVersion")) != (kind, version):
        raise _mismatch(
            f"body is {doc.get('kind')}/{doc.get('apiVersion')}, entry says {kind}/{version}"
        )
    if (kind, version) not in SUPPORTED:
        msg = f"unsupported log entry kind {kind}/{version}"
        raise VerificationError(
            msg, reason=Reason.UNSUPPORTED_FORMAT, where="tlog entry"
        )
    spec = _get(doc, "spec")
    if kind == "hashedrekord" and version == "0.0.1":
        _hashedrekord_v1(spec, signer, signed)
    elif kind == "hashedrekord":
        _hashedrekord_v2(spec, signer, signed)
    elif kind == "dsse":
        _dsse(spec, signer, signed)
    else:
        _intoto(spec, version, signer, signed)


# What Rekor v1 logs for a hashedrekord 0.0.1 or dsse 0.0.1 entry: the
# submitted entry in RFC 8785 form (members sorted, no whitespace), which
# for these kinds is the members below in this order.
_HASHEDREKORD_V1 = (
    b'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"',
    b'","value":"',
    b'"}},"signature":{"content":"',
    b'","publicKey":{"content":"',
    b'"}}}}',
)
_DSSE_V1 = (
    b'{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"',
    b'"},"payloadHash":{"algorithm":"sha256","value":"',
    b'"},"signatures":[{"signature":"',
    b'","verifier":"',
    b'"}]}}',
)
# Rekor v2's hashedrekord 0.0.2 for a certificate; between the two, the
# verifier's keyDetails (an enum name the comparison does not read).
_HASHEDREKORD_V2 = (
    b'{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"',
    b'","digest":"',
    b'"},"signature":{"content":"',
    b'","verifier":{"keyDetails":"',
    b'","x509Certificate":{"rawBytes":"',
    b'"}}}}}}',
)
_HEX = frozenset(b"0123456789abcdef")
_SHA256_HEX = 64
_ENUM_NAME = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_LONGEST_ENUM_NAME = 64


def _fills(body: bytes, head: bytes, tail: bytes) -> bytes | None:
    """The bytes between ``head`` and ``tail`` if ``body`` is exactly head + them + tail."""
    if len(body) < len(head) + len(tail) or not (
        body.startswith(head) and body.endswith(tail)
    ):
        return None
    return body[len(head) : len(body) - len(tail)]


def _is_as_logged(
    body: bytes, *, kind: str, version: str, signer: Signer, signed: Signed
) -> bool:
    """Whether ``body`` is, byte for byte, what Rekor logs for this bundle.

    A client submits the signature and digest as standard base64 and
    lowercase hex, and the signer as a 64-column PEM (what
    :func:`_standard_pem_b64` writes); Rekor logs the entry in RFC 8785
    form. A body equal to those bytes records exactly this signer,
    signature and digest, so it is what the field-by-field comparison
    accepts, without parsing it (14-17 us a bundle went to that). For
    dsse, the envelope's hash (of the submitted envelope bytes, which a
    bundle does not keep, and which the comparison does not read) may be
    any 64 lowercase hex digits; for Rekor v2's hashedrekord 0.0.2
    (:func:`_is_as_logged_v2`), the key's details any enum name. Any other
    spelling, and every other kind, goes through the comparison, which
    decides.
    """
    if not signer.encoded:
        return False
    if kind == "hashedrekord" and version == "0.0.2":
        return _is_as_logged_v2(body, signer=signer, signed=signed)
    if version != "0.0.1":
        return False
    envelope = signed.envelope
    if kind == "hashedrekord" and envelope is None:
        head, value, content, key, tail = _HASHEDREKORD_V1
        pem = _standard_pem_b64(signer).encode("ascii")
        signature = _base64.encode(signed.signature)
        return any(
            body
            == b"".join(
                (
                    head,
                    name.encode(),
                    value,
                    digest.hex().encode(),
                    content,
                    signature,
                    key,
                    pem,
                    tail,
                )
            )
            for name, digest in signed.digests.items()
        )
    if kind == "dsse" and envelope is not None and len(envelope.signatures) == 1:
        head, payload, sig, verifier, tail = _DSSE_V1
        rest = b"".join(
            (
                payload,
                hashlib.sha256(envelope.payload).hexdigest().encode(),
                sig,
                _base64.encode(envelope.signatures[0].sig),
                verifier,
                _standard_pem_b64(signer).encode("ascii"),
                tail,
            )
        )
        hole = _fills(body, head, rest)
        return hole is not None and len(hole) == _SHA256_HEX and _HEX.issuperset(hole)
    return False


def _is_as_logged_v2(body: bytes, *, signer: Signer, signed: Signed) -> bool:
    """:func:`_is_as_logged` for Rekor v2's hashedrekord 0.0.2 over a certificate."""
    if signer.certificate is None:
        return False
    head, digest_at, content, details, certificate, tail = _HASHEDREKORD_V2
    rest = b"".join((certificate, _base64.encode(signer.encoded), tail))
    signature = _base64.encode(signed.signature)
    for name, algorithm in _V2_HASHES.items():
        digest = signed.digests.get(algorithm)
        if digest is None:
            continue
        start = b"".join(
            (
                head,
                name.encode(),
                digest_at,
                _base64.encode(digest),
                content,
                signature,
                details,
            )
        )
        hole = _fills(body, start, rest)
        if (
            hole is not None
            and 0 < len(hole) <= _LONGEST_ENUM_NAME
            and _ENUM_NAME.issuperset(hole)
        ):
            return True
    return False


def _hashedrekord_v1(spec: Any, signer: Signer, signed: Signed) -> None:  # noqa: ANN401
    if signed.envelope is not None:
        raise _mismatch("a DSSE envelope cannot be logged as hashedrekord 0.0.1")
    _hex_hash(_get(spec, "data", "hash"), "artifact digest", signed.digests)
    if _b64(_get(spec, "signature", "content"), "signature") != signed.signature:
        raise _mismatch("signature")
    if not _names_signer(
        signer, _get(spec, "signature", "publicKey", "content"), "public key"
    ):
        raise _mismatch("signing certificate or key")


def _hashedrekord_v2(spec: Any, signer: Signer, signed: Signed) -> None:  # noqa: ANN401
    inner = _get(spec, "hashedRekordV002")
    algorithm = _V2_HASHES.get(_get(inner, "data", "algorithm"))
    if algorithm is None or algorithm not in signed.digests:
        raise _mismatch("digest algorithm")
    if _b64(_get(inner, "data", "digest"), "digest") != signed.digests[algorithm]:
        raise _mismatch("artifact digest")
    if _b64(_get(inner, "signature", "content"), "signature") != signed.signature:
        raise _mismatch("signature")
    verifier = _get(inner, "signature", "verifier")
    if "x509Certificate" in verifier:
        encoded = _b64(_get(verifier, "x509Certificate", "rawBytes"), "certificate")
        if signer.certificate is None or not _signer_matches(signer, encoded):
            raise _mismatch("signing certificate")
    elif "publicKey" in verifier:
        encoded = _b64(_get(verifier, "publicKey", "rawBytes"), "public key")
        if signer.certificate is not None or not _signer_matches(signer, encoded):
            raise _mismatch("signing key")
    else:
        raise _mismatch("verifier")


def _envelope(signed: Signed) -> DsseEnvelope:
    if signed.envelope is None:
        raise _mismatch("a message signature cannot be logged as an envelope entry")
    return signed.envelope


def _dsse(spec: Any, signer: Signer, signed: Signed) -> None:  # noqa: ANN401
    envelope = _envelope(signed)
    _hex_hash(
        _get(spec, "payloadHash"),
        "payload digest",
        {"sha256": hashlib.sha256(envelope.payload).digest()},
    )
    entries = _get(spec, "signatures")
    if not isinstance(entries, list) or len(entries) != len(envelope.signatures):
        raise _mismatch("number of signatures")
    # In signature order; among equal signatures the order does not matter,
    # since every logged verifier must name the signer.
    logged = sorted(
        (
            (_b64(_get(e, "signature"), "signature"), _get(e, "verifier"))
            for e in entries
        ),
        key=lambda pair: pair[0],
    )
    for (sig, verifier), ours in zip(
        logged, sorted(s.sig for s in envelope.signatures), strict=True
    ):
        if sig != ours:
            raise _mismatch("envelope signature")
        if not _names_signer(signer, verifier, "verifier"):
            raise _mismatch("signing certificate or key")


def _intoto(spec: Any, version: str, signer: Signer, signed: Signed) -> None:  # noqa: ANN401
    envelope = _envelope(signed)
    content = _get(spec, "content")
    _hex_hash(
        _get(content, "payloadHash"),
        "payload digest",
        {"sha256": hashlib.sha256(envelope.payload).digest()},
    )
    if version == "0.0.1":
        if not _names_signer(signer, _get(spec, "publicKey"), "public key"):
            raise _mismatch("signing certificate or key")
        return
    logged_env = _get(content, "envelope")
    if _get(logged_env, "payloadType") != envelope.payload_type:
        raise _mismatch("payload type")
    entries = _get(logged_env, "signatures")
    if not isinstance(entries, list) or len(entries) != len(envelope.signatures):
        raise _mismatch("number of signatures")
    for entry, ours in zip(entries, envelope.signatures, strict=True):
        # intoto 0.0.2 double-encodes: base64 of the base64 signature text.
        once = _b64(_get(entry, "sig"), "signature")
        try:
            sig = base64.b64decode(once, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _mismatch("signature is not double base64") from exc
        if sig != ours.sig:
            raise _mismatch("envelope signature")
        if not _names_signer(signer, _get(entry, "publicKey"), "public key"):
            raise _mismatch("signing certificate or key")
