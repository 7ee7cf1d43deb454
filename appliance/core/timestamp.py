"""RFC 3161 signed timestamps against the trusted root's timestamp authorities.

``rfc3161-client`` parses the response and checks the CMS signature, the TSA
certificate chain at ``genTime``, the timeStamping EKU and the message imprint
(docs/verification.md §8). Here we add what it leaves to its caller: the trusted
root's validity window for the TSA, inclusive at both ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import Encoding

from appliance.core._memo import by_identity
from appliance.core.errors import Reason, VerificationError

if TYPE_CHECKING:
    from cryptography import x509
    from rfc3161_client import SignedData, SignerInfo, TimeStampResponse
    from rfc3161_client.verify import Verifier

    from appliance.core.trust import TrustedAuthority, TrustMaterial


@by_identity(maxsize=64)
def _verifier(authority: TrustedAuthority) -> Verifier:
    """``rfc3161-client``'s verifier for one TSA of the trusted root.

    Built from trust material only (no nonce, no policy: nothing of a
    bundle's), so once per TSA rather than once per timestamp.
    """
    from rfc3161_client import VerificationError as TsaVerificationError  # noqa: PLC0415
    from rfc3161_client import VerifierBuilder  # noqa: PLC0415

    certs = authority.certificates
    min_chain = 2  # a signing certificate and a root, at the least
    if len(certs) < min_chain:
        msg = "TSA chain in the trusted root is incomplete"
        raise TsaVerificationError(msg)
    held = [_EncodedOnce(cert) for cert in certs]
    builder = VerifierBuilder().tsa_certificate(held[0]).add_root_certificate(held[-1])  # type: ignore[arg-type]
    for intermediate in held[1:-1]:
        builder = builder.add_intermediate_certificate(intermediate)  # type: ignore[arg-type]
    return builder.build()


class _EncodedOnce:
    """A trusted root's TSA certificate, its DER and names read once.

    ``rfc3161-client``'s verifier hands its trusted certificates to OpenSSL
    as DER on every timestamp, asking ``cryptography`` to encode each again
    (10 us a certificate: it writes the parsed structure out afresh), and
    compares the token's signer with the TSA's issuer and serial, which
    ``cryptography`` builds anew on each read. The verifier is built once
    per TSA (:func:`_verifier`) with these instead: the same values, read
    when the verifier is built; every other read, and the comparison with
    the token's certificate, is the certificate's own.
    """

    __slots__ = ("_certificate", "_der", "issuer", "serial_number")

    def __init__(self, certificate: x509.Certificate) -> None:
        self._certificate = certificate
        self._der = certificate.public_bytes(Encoding.DER)
        self.issuer = certificate.issuer
        self.serial_number = certificate.serial_number

    def public_bytes(self, encoding: Encoding) -> bytes:
        """The certificate's encoding: DER as encoded once, others afresh."""
        if encoding is Encoding.DER:
            return self._der
        return self._certificate.public_bytes(encoding)

    def __getattr__(self, name: str) -> object:
        return getattr(self._certificate, name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _EncodedOnce):
            other = other._certificate
        return self._certificate == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._certificate)


class _SignedDataOnce:
    """A token's SignedData with its certificates and signer infos read once."""

    __slots__ = ("_signer_infos", "certificates")

    def __init__(self, signed_data: SignedData) -> None:
        self.certificates = signed_data.certificates
        self._signer_infos = signed_data.signer_infos

    @property
    def signer_infos(self) -> set[SignerInfo]:
        # A fresh set on each read, as the parser gives: the verifier pops
        # from the one it gets.
        return set(self._signer_infos)


_SEQUENCE = 0x30
_MAX_LENGTH_OCTETS = 4  # a stamp is bounded far below 4 GiB


def _sequence_at(data: bytes, at: int) -> tuple[int, int] | None:
    """(start, end) of the contents of the DER SEQUENCE whose tag is at ``at``.

    None when there is no definite-length SEQUENCE there lying within ``data``.
    """
    if at + 2 > len(data) or data[at] != _SEQUENCE:
        return None
    first = data[at + 1]
    if first < 0x80:  # noqa: PLR2004 - X.690 §8.1.3.4: the short form
        start, length = at + 2, first
    else:
        count = first & 0x7F
        start = at + 2 + count
        if not 0 < count <= _MAX_LENGTH_OCTETS or start > len(data):
            return None
        length = int.from_bytes(data[at + 2 : start], "big")
    end = start + length
    return (start, end) if end <= len(data) else None


def token_of(stamp: bytes) -> bytes | None:
    """The ``timeStampToken`` of a ``TimeStampResp`` (RFC 3161 §2.4.2), as its bytes.

    ``TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken
    TimeStampToken OPTIONAL }``: the token is what follows the status, up to
    the end. ``rfc3161-client`` gives the token by writing out again what its
    parser read (a twentieth of a millisecond); its parser accepts DER only,
    whose encoding of a value is unique, so for a response it parses these
    bytes are the same (a test holds the two equal on every stamp we have).
    None when the response is not plainly so (no token, trailing bytes):
    the caller then asks the library.
    """
    outer = _sequence_at(stamp, 0)
    if outer is None or outer[1] != len(stamp):
        return None
    status = _sequence_at(stamp, outer[0])
    if status is None:
        return None
    token = _sequence_at(stamp, status[1])
    if token is None or token[1] != len(stamp):
        return None
    return stamp[status[1] :]


class _ResponseOnce:
    """A parsed timestamp response whose parts are each decoded once.

    ``rfc3161-client``'s verifier reads ``signed_data`` four times and
    ``tst_info`` up to five, and every read decodes the same bytes afresh
    (a tenth of a millisecond per timestamp). The verifier is handed this
    instead: the same values, read once per timestamp, every check of the
    verifier still made. Any attribute it may read that is not here fails
    the verification, closed (:func:`verify_timestamp`).
    """

    __slots__ = ("_token", "signed_data", "status", "tst_info")

    def __init__(self, response: TimeStampResponse, stamp: bytes) -> None:
        self.status = response.status
        self.tst_info = response.tst_info
        self.signed_data = _SignedDataOnce(response.signed_data)
        token = token_of(stamp)
        self._token = response.time_stamp_token() if token is None else token

    def time_stamp_token(self) -> bytes:
        """The token's DER, as the response gives it."""
        return self._token


def _verify_with(
    authority: TrustedAuthority, response: _ResponseOnce, signature: bytes
) -> None:
    _verifier(authority).verify_message(response, signature)  # type: ignore[arg-type]


def verify_timestamp(
    stamp: bytes, *, signature: bytes, trust: TrustMaterial, where: str
) -> datetime:
    """Verify one RFC 3161 timestamp over ``signature``; return its ``genTime``.

    ``rfc3161-client`` parses lazily: a malformed token may only fail when a
    field is first read. Every call into it is therefore inside one boundary,
    and any failure there means "not verified", never an internal error.

    Raises:
        VerificationError: no trusted TSA, valid at ``genTime``, vouches for it
            (reason ``timestamp-invalid``).
    """
    # Imported here, not at module level: it costs ~40 ms at start-up and
    # most bundles (Rekor v1, with a SET) carry no timestamp at all.
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415

    if not trust.tsas:
        msg = (
            "bundle carries a timestamp but the trusted root has no timestamp authority"
        )
        raise VerificationError(msg, reason=Reason.TIMESTAMP_INVALID, where=where)
    try:
        response = _ResponseOnce(decode_timestamp_response(stamp), stamp)
        gen_time = response.tst_info.gen_time
        gen_time = (
            gen_time.replace(tzinfo=UTC)
            if gen_time.tzinfo is None
            else gen_time.astimezone(UTC)
        )
    except Exception as exc:  # rfc3161-client's parse boundary (see docstring)
        msg = f"not a well-formed RFC 3161 timestamp response ({type(exc).__name__}: {exc})"
        raise VerificationError(
            msg, reason=Reason.TIMESTAMP_INVALID, where=where
        ) from exc
    problems = []
    for authority in trust.tsas:
        try:
            _verify_with(authority, response, signature)
        except Exception as exc:  # noqa: BLE001 - any failure: this TSA does not vouch
            problems.append(f"{authority.uri or 'TSA'}: {exc}")
            continue
        if not authority.valid_for.contains(gen_time):
            problems.append(
                f"{authority.uri or 'TSA'}: stamp time {gen_time:%Y-%m-%dT%H:%M:%SZ} is outside its validity in the trusted root"
            )
            continue
        return gen_time
    msg = "; ".join(problems)
    raise VerificationError(msg, reason=Reason.TIMESTAMP_INVALID, where=where)
