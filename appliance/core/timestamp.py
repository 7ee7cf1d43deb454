"""RFC 3161 signed timestamps against the trusted root's timestamp authorities.

``rfc3161-client`` parses the response and checks the CMS signature, the TSA
certificate chain at ``genTime``, the timeStamping EKU and the message imprint
(docs/verification.md §8). Here we add what it leaves to its caller: the trusted
root's validity window for the TSA, inclusive at both ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from appliance.core.errors import Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.trust import TrustedAuthority, TrustMaterial


def _verify_with(
    authority: TrustedAuthority, response: object, signature: bytes
) -> None:
    from rfc3161_client import VerificationError as TsaVerificationError  # noqa: PLC0415
    from rfc3161_client import VerifierBuilder  # noqa: PLC0415

    certs = authority.certificates
    min_chain = 2  # a signing certificate and a root, at the least
    if len(certs) < min_chain:
        msg = "TSA chain in the trusted root is incomplete"
        raise TsaVerificationError(msg)
    builder = (
        VerifierBuilder().tsa_certificate(certs[0]).add_root_certificate(certs[-1])
    )
    for intermediate in certs[1:-1]:
        builder = builder.add_intermediate_certificate(intermediate)
    builder.build().verify_message(response, signature)  # type: ignore[arg-type]


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
        response = decode_timestamp_response(stamp)
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
