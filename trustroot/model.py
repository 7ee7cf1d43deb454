"""A typed model of Sigstore's ``trusted_root.json`` (protobuf-specs TrustedRoot).

Pure parsing: bytes in, frozen values out, or :class:`TrustRootFormatError`.
Keys and certificates stay as DER bytes here; turning them into key objects is
the verification core's job. This module checks *shape* (every field the
verifier relies on is present and well typed, every window has a start); it
decides nothing about trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from trustroot import strict_json
from trustroot.strict_json import ProtoMessage, StrictJSONError

TRUSTED_ROOT_MEDIA_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "application/vnd.dev.sigstore.trustedroot.v0.1+json",
        "application/vnd.dev.sigstore.trustedroot.v0.2+json",
    }
)
# protobuf Timestamp JSON: RFC 3339 with up to nine fractional digits.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)
# protobuf-specs sigstore_trustroot.proto and sigstore_common.proto, by proto name.
_ROOT = ProtoMessage(
    "media_type", "tlogs", "certificate_authorities", "ctlogs", "timestamp_authorities"
)
_LOG = ProtoMessage(
    "base_url",
    "hash_algorithm",
    "public_key",
    "log_id",
    "checkpoint_key_id",
    "operator",
)
_PUBLIC_KEY = ProtoMessage("raw_bytes", "key_details", "valid_for")
_LOG_ID = ProtoMessage("key_id")
_RANGE = ProtoMessage("start", "end")
_AUTHORITY = ProtoMessage("subject", "uri", "cert_chain", "valid_for", "operator")
_SUBJECT = ProtoMessage("organization", "common_name")
_CHAIN = ProtoMessage("certificates")
_CERTIFICATE = ProtoMessage("raw_bytes")


class TrustRootFormatError(ValueError):
    """The trusted root is not well-formed; nothing in it may be trusted."""


def parse_time(text: object, *, where: str) -> datetime:
    """Parse a protobuf JSON timestamp into an aware UTC datetime."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        msg = f"{where}: not an RFC 3339 timestamp: {text!r}"
        raise TrustRootFormatError(msg)
    date, clock, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]  # nanoseconds truncate to micros
    zone = "+00:00" if zone in {"Z", "z"} else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{micros}{zone}").astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 2023-02-30, 24:61, year 0
        msg = f"{where}: not a valid date and time: {text!r}"
        raise TrustRootFormatError(msg) from exc


def decode_b64(value: object, *, where: str) -> bytes:
    """Decode proto3-JSON bytes: standard or URL-safe base64, padded or not."""
    if not isinstance(value, str) or not value:
        msg = f"{where}: expected non-empty base64 text"
        raise TrustRootFormatError(msg)
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"{where}: invalid base64"
        raise TrustRootFormatError(msg) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeRange:
    """A validity window, inclusive at both ends; ``end`` may be open."""

    start: datetime
    end: datetime | None

    def contains(self, when: datetime) -> bool:
        """Tell whether ``when`` lies inside the window (both ends inclusive)."""
        return self.start <= when and (self.end is None or when <= self.end)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogInstance:
    """A transparency log (Rekor) or a CT log, with its key and window."""

    base_url: str
    hash_algorithm: str
    public_key: bytes  # DER SubjectPublicKeyInfo
    key_details: str
    valid_for: TimeRange
    log_id: bytes
    checkpoint_key_id: bytes | None

    @property
    def host(self) -> str:
        """The host of ``base_url``: the checkpoint origin/signer name."""
        url = self.base_url if "://" in self.base_url else f"https://{self.base_url}"
        return urlsplit(url).hostname or self.base_url

    @property
    def note_names(self) -> frozenset[str]:
        """Names a checkpoint signer of this log may use: host, or host:port."""
        url = self.base_url if "://" in self.base_url else f"https://{self.base_url}"
        parts = urlsplit(url)
        return frozenset(n for n in (parts.hostname, parts.netloc) if n)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateAuthority:
    """A Fulcio CA or a timestamp authority: its chain (DER) and window.

    For Fulcio the chain runs intermediates first and the root last; for a TSA
    the first certificate is the signing leaf.
    """

    uri: str
    common_name: str
    chain: tuple[bytes, ...]
    valid_for: TimeRange


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedRoot:
    """A parsed ``trusted_root.json``."""

    media_type: str
    tlogs: tuple[LogInstance, ...]
    ctlogs: tuple[LogInstance, ...]
    certificate_authorities: tuple[CertificateAuthority, ...]
    timestamp_authorities: tuple[CertificateAuthority, ...]
    sha256: str  # of the exact bytes parsed

    @classmethod
    def from_bytes(cls, data: bytes) -> TrustedRoot:
        """Parse ``trusted_root.json`` bytes.

        Raises:
            TrustRootFormatError: the bytes are not a well-formed trusted root.
        """
        try:
            raw = strict_json.loads(data)
            if not isinstance(raw, dict):
                msg = "trusted root is not a JSON object"
                raise TrustRootFormatError(msg)
            # A trusted root's schema grows (v0.2 added fields): unknown
            # fields are skipped, but no field may be given twice.
            doc = _ROOT.read(raw, where="trusted root", ignore_unknown=True)
        except StrictJSONError as exc:
            msg = f"trusted root is not strict JSON: {exc}"
            raise TrustRootFormatError(msg) from exc
        media_type = doc.get("mediaType")
        if (
            not isinstance(media_type, str)
            or media_type not in TRUSTED_ROOT_MEDIA_TYPES
        ):
            msg = f"unsupported trusted root media type {media_type!r}"
            raise TrustRootFormatError(msg)
        return cls(
            media_type=str(media_type),
            tlogs=tuple(
                _log(x, f"tlogs[{i}]") for i, x in enumerate(_list(doc, "tlogs"))
            ),
            ctlogs=tuple(
                _log(x, f"ctlogs[{i}]") for i, x in enumerate(_list(doc, "ctlogs"))
            ),
            certificate_authorities=tuple(
                _authority(x, f"certificateAuthorities[{i}]")
                for i, x in enumerate(_list(doc, "certificateAuthorities"))
            ),
            timestamp_authorities=tuple(
                _authority(x, f"timestampAuthorities[{i}]")
                for i, x in enumerate(_list(doc, "timestampAuthorities"))
            ),
            sha256=hashlib.sha256(data).hexdigest(),
        )


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        msg = f"{key}: expected a list"
        raise TrustRootFormatError(msg)
    return value


def _obj(
    value: object, where: str, message: ProtoMessage | None = None
) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{where}: expected an object"
        raise TrustRootFormatError(msg)
    if message is None:
        return value
    try:
        return message.read(value, where=where, ignore_unknown=True)
    except StrictJSONError as exc:
        raise TrustRootFormatError(str(exc)) from exc


def _text(obj: dict[str, Any], key: str, where: str, default: str = "") -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        msg = f"{where}.{key}: expected a string"
        raise TrustRootFormatError(msg)
    return value


def _range(value: object, where: str) -> TimeRange:
    # A window without a start would trust a key for all of history: refuse it.
    obj = _obj(value, where, _RANGE)
    if "start" not in obj:
        msg = f"{where}: validity window has no start"
        raise TrustRootFormatError(msg)
    start = parse_time(obj["start"], where=f"{where}.start")
    end = None if "end" not in obj else parse_time(obj["end"], where=f"{where}.end")
    if end is not None and end < start:
        msg = f"{where}: validity window ends before it starts"
        raise TrustRootFormatError(msg)
    return TimeRange(start=start, end=end)


def _log(value: object, where: str) -> LogInstance:
    obj = _obj(value, where, _LOG)
    key = _obj(obj.get("publicKey"), f"{where}.publicKey", _PUBLIC_KEY)
    log_id = _obj(obj.get("logId"), f"{where}.logId", _LOG_ID)
    checkpoint = obj.get("checkpointKeyId")
    base_url = obj.get("baseUrl")
    if not isinstance(base_url, str) or not base_url:
        msg = f"{where}.baseUrl: expected a URL"
        raise TrustRootFormatError(msg)
    try:
        # A URL that cannot be split (e.g. an unclosed IPv6 bracket) names no host.
        urlsplit(base_url if "://" in base_url else f"https://{base_url}").hostname  # noqa: B018
    except ValueError as exc:
        msg = f"{where}.baseUrl: not a URL: {base_url[:80]!r}"
        raise TrustRootFormatError(msg) from exc
    return LogInstance(
        base_url=base_url,
        hash_algorithm=_text(obj, "hashAlgorithm", where, "SHA2_256"),
        public_key=decode_b64(key.get("rawBytes"), where=f"{where}.publicKey.rawBytes"),
        key_details=_text(key, "keyDetails", f"{where}.publicKey"),
        valid_for=_range(key.get("validFor"), f"{where}.publicKey.validFor"),
        log_id=decode_b64(log_id.get("keyId"), where=f"{where}.logId.keyId"),
        checkpoint_key_id=None
        if checkpoint is None
        else decode_b64(
            _obj(checkpoint, f"{where}.checkpointKeyId", _LOG_ID).get("keyId"),
            where=f"{where}.checkpointKeyId",
        ),
    )


def _authority(value: object, where: str) -> CertificateAuthority:
    obj = _obj(value, where, _AUTHORITY)
    chain = _obj(obj.get("certChain"), f"{where}.certChain", _CHAIN)
    certs = chain.get("certificates")
    if not isinstance(certs, list) or not certs:
        msg = f"{where}.certChain: no certificates"
        raise TrustRootFormatError(msg)
    subject = _obj(obj.get("subject", {}), f"{where}.subject", _SUBJECT)
    return CertificateAuthority(
        uri=_text(obj, "uri", where),
        common_name=_text(subject, "commonName", f"{where}.subject"),
        chain=tuple(
            decode_b64(
                _obj(c, f"{where}.certChain.certificates[{i}]", _CERTIFICATE).get(
                    "rawBytes"
                ),
                where=f"{where}.certChain.certificates[{i}]",
            )
            for i, c in enumerate(certs)
        ),
        valid_for=_range(obj.get("validFor"), f"{where}.validFor"),
    )
