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
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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
    return datetime.fromisoformat(f"{date}T{clock}.{micros}{zone}").astimezone(UTC)


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
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            msg = f"trusted root is not JSON: {exc}"
            raise TrustRootFormatError(msg) from exc
        if not isinstance(doc, dict):
            msg = "trusted root is not a JSON object"
            raise TrustRootFormatError(msg)
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


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{where}: expected an object"
        raise TrustRootFormatError(msg)
    return value


def _range(value: object, where: str) -> TimeRange:
    # A window without a start would trust a key for all of history: refuse it.
    obj = _obj(value, where)
    if "start" not in obj or obj["start"] is None:
        msg = f"{where}: validity window has no start"
        raise TrustRootFormatError(msg)
    start = parse_time(obj["start"], where=f"{where}.start")
    end = (
        None if obj.get("end") is None else parse_time(obj["end"], where=f"{where}.end")
    )
    if end is not None and end < start:
        msg = f"{where}: validity window ends before it starts"
        raise TrustRootFormatError(msg)
    return TimeRange(start=start, end=end)


def _log(value: object, where: str) -> LogInstance:
    obj = _obj(value, where)
    key = _obj(obj.get("publicKey"), f"{where}.publicKey")
    log_id = _obj(obj.get("logId"), f"{where}.logId")
    checkpoint = obj.get("checkpointKeyId")
    base_url = obj.get("baseUrl")
    if not isinstance(base_url, str) or not base_url:
        msg = f"{where}.baseUrl: expected a URL"
        raise TrustRootFormatError(msg)
    return LogInstance(
        base_url=base_url,
        hash_algorithm=str(obj.get("hashAlgorithm", "SHA2_256")),
        public_key=decode_b64(key.get("rawBytes"), where=f"{where}.publicKey.rawBytes"),
        key_details=str(key.get("keyDetails", "")),
        valid_for=_range(key.get("validFor"), f"{where}.publicKey.validFor"),
        log_id=decode_b64(log_id.get("keyId"), where=f"{where}.logId.keyId"),
        checkpoint_key_id=None
        if checkpoint is None
        else decode_b64(
            _obj(checkpoint, f"{where}.checkpointKeyId").get("keyId"),
            where=f"{where}.checkpointKeyId",
        ),
    )


def _authority(value: object, where: str) -> CertificateAuthority:
    obj = _obj(value, where)
    chain = _obj(obj.get("certChain"), f"{where}.certChain")
    certs = chain.get("certificates")
    if not isinstance(certs, list) or not certs:
        msg = f"{where}.certChain: no certificates"
        raise TrustRootFormatError(msg)
    subject = obj.get("subject") or {}
    return CertificateAuthority(
        uri=str(obj.get("uri", "")),
        common_name=str(_obj(subject, f"{where}.subject").get("commonName", "")),
        chain=tuple(
            decode_b64(
                _obj(c, f"{where}.certChain.certificates[{i}]").get("rawBytes"),
                where=f"{where}.certChain.certificates[{i}]",
            )
            for i, c in enumerate(certs)
        ),
        valid_for=_range(obj.get("validFor"), f"{where}.validFor"),
    )
