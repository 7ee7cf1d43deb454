"""Sigstore bundles (v0.1, v0.2, v0.3) parsed into frozen values.

:meth:`Bundle.from_bytes` performs the structural checks of a bundle before any
cryptography (docs/bundle.md §5): known media type, exactly one content and one
key-material variant, version-specific rules for proofs and promises, entry
counts within limits, proof shape. It verifies nothing cryptographic; that is
:mod:`appliance.core.verifier`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from appliance.core import _json
from appliance.core.errors import InputError
from appliance.core.limits import DEFAULT_LIMITS, Limits
from trustroot.strict_json import ProtoMessage


class BundleVersion(StrEnum):
    """Supported bundle format versions."""

    V0_1 = "0.1"
    V0_2 = "0.2"
    V0_3 = "0.3"


_MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": BundleVersion.V0_1,
    "application/vnd.dev.sigstore.bundle+json;version=0.2": BundleVersion.V0_2,
    "application/vnd.dev.sigstore.bundle+json;version=0.3": BundleVersion.V0_3,
    "application/vnd.dev.sigstore.bundle.v0.3+json": BundleVersion.V0_3,
}
HASH_ALGORITHMS = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}

# protobuf-specs sigstore_bundle.proto, sigstore_rekor.proto, sigstore_common.proto
# and envelope.proto, by proto field name. Unknown fields are refused, as Go's
# protojson refuses them: a field we do not read must not pass unseen.
_BUNDLE = ProtoMessage(
    "media_type", "verification_material", "dsse_envelope", "message_signature"
)
_MATERIAL = ProtoMessage(
    "public_key",
    "x509_certificate_chain",
    "certificate",
    "tlog_entries",
    "timestamp_verification_data",
)
_KEY_HINT = ProtoMessage("hint")
_CHAIN = ProtoMessage("certificates")
_CERTIFICATE = ProtoMessage("raw_bytes")
_ENTRY = ProtoMessage(
    "log_index",
    "log_id",
    "kind_version",
    "integrated_time",
    "inclusion_promise",
    "inclusion_proof",
    "canonicalized_body",
)
_LOG_ID = ProtoMessage("key_id")
_KIND_VERSION = ProtoMessage("kind", "version")
_PROMISE = ProtoMessage("signed_entry_timestamp")
_PROOF = ProtoMessage("log_index", "root_hash", "tree_size", "hashes", "checkpoint")
_CHECKPOINT = ProtoMessage("envelope")
_TIMESTAMPS = ProtoMessage("rfc3161_timestamps")
_TIMESTAMP = ProtoMessage("signed_timestamp")
_MESSAGE_SIGNATURE = ProtoMessage("message_digest", "signature")
_HASH_OUTPUT = ProtoMessage("algorithm", "digest")
_ENVELOPE = ProtoMessage("payload", "payloadType", "signatures")
_SIGNATURE = ProtoMessage("sig", "keyid")


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusionProof:
    """A Merkle inclusion proof and the checkpoint it is anchored to."""

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlogEntry:
    """A transparency log entry as a bundle carries it."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int  # 0 when absent (Rekor v2)
    signed_entry_timestamp: bytes | None
    inclusion_proof: InclusionProof | None
    canonicalized_body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSignature:
    """A signature over an artifact's digest."""

    digest_algorithm: str | None  # hashlib name, when the bundle states a digest
    digest: bytes | None
    signature: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DsseSignature:
    """One DSSE signature; ``keyid`` is unauthenticated and never trusted."""

    sig: bytes
    keyid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DsseEnvelope:
    """A DSSE envelope with its payload decoded."""

    payload: bytes
    payload_type: str
    signatures: tuple[DsseSignature, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """A structurally valid Sigstore bundle."""

    media_type: str
    version: BundleVersion
    certificate: bytes | None  # the leaf, DER
    extra_certificates: tuple[
        bytes, ...
    ]  # v0.1/v0.2 chain after the leaf: never trusted
    public_key_hint: str | None
    tlog_entries: tuple[TlogEntry, ...]
    rfc3161_timestamps: tuple[bytes, ...]
    content: MessageSignature | DsseEnvelope
    # What the RFC 3161 stamps cover when it is not the signature: cosign's
    # legacy ``.att`` layers stamp the DSSE envelope bytes (docs/cosign.md §6).
    stamped: bytes | None = None

    @property
    def signature(self) -> bytes:
        """The raw signature bytes (what a bundle's RFC 3161 stamps cover)."""
        if isinstance(self.content, MessageSignature):
            return self.content.signature
        return self.content.signatures[0].sig

    @property
    def timestamped(self) -> bytes:
        """The bytes whose digest each RFC 3161 stamp's message imprint must be."""
        return self.signature if self.stamped is None else self.stamped

    @classmethod
    def from_bytes(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Bundle:
        """Parse a ``*.sigstore.json`` bundle.

        Raises:
            InputError: not a structurally valid bundle of a supported version.
        """
        if len(data) > limits.max_bundle_bytes:
            msg = f"bundle is {len(data)} bytes, over the {limits.max_bundle_bytes}-byte limit"
            raise InputError(msg)
        doc = _json.message(_json.loads(data, what="bundle"), _BUNDLE, "bundle")
        media_type = doc.get("mediaType")
        version = _MEDIA_TYPES.get(media_type) if isinstance(media_type, str) else None
        if version is None:
            msg = f"unsupported bundle media type {str(media_type)[:80]!r}"
            raise InputError(msg, where="bundle.mediaType")
        material = _json.message(
            doc.get("verificationMaterial"), _MATERIAL, "bundle.verificationMaterial"
        )
        certificate, extra, hint = _key_material(material, version)
        entries = tuple(
            _tlog_entry(
                _json.message(e, _ENTRY, f"tlogEntries[{i}]"),
                f"tlogEntries[{i}]",
                version,
                limits,
            )
            for i, e in enumerate(
                _json.member_list(material, "tlogEntries", "verificationMaterial")
            )
        )
        if len(entries) > limits.max_tlog_entries:
            msg = f"{len(entries)} log entries, over the limit of {limits.max_tlog_entries}"
            raise InputError(msg, where="bundle.verificationMaterial.tlogEntries")
        if len({(e.log_id, e.log_index) for e in entries}) != len(entries):
            msg = "duplicate log entries"
            raise InputError(msg, where="bundle.verificationMaterial.tlogEntries")
        stamps = _timestamps(material, limits)
        return cls(
            media_type=str(media_type),
            version=version,
            certificate=certificate,
            extra_certificates=extra,
            public_key_hint=hint,
            tlog_entries=entries,
            rfc3161_timestamps=stamps,
            content=_content(doc),
        )


def _key_material(
    material: dict[str, Any], version: BundleVersion
) -> tuple[bytes | None, tuple[bytes, ...], str | None]:
    where = "bundle.verificationMaterial"
    variants = [
        k
        for k in ("publicKey", "x509CertificateChain", "certificate")
        if material.get(k) is not None
    ]
    if len(variants) != 1:
        msg = f"expected exactly one of publicKey, x509CertificateChain, certificate; found {variants or 'none'}"
        raise InputError(msg, where=where)
    kind = variants[0]
    if kind == "publicKey":
        key = _json.message(material["publicKey"], _KEY_HINT, f"{where}.publicKey")
        return None, (), _json.opt_string(key, "hint", f"{where}.publicKey") or ""
    if kind == "certificate":
        cert = _json.message(
            material["certificate"], _CERTIFICATE, f"{where}.certificate"
        )
        return (
            _json.b64(cert.get("rawBytes"), f"{where}.certificate.rawBytes"),
            (),
            None,
        )
    if version is BundleVersion.V0_3:
        # sigstore-go rejects chains from v0.3 on: the leaf stands alone.
        msg = "a v0.3 bundle must carry a single certificate, not a chain"
        raise InputError(msg, where=f"{where}.x509CertificateChain")
    chain = _json.message(
        material["x509CertificateChain"], _CHAIN, f"{where}.x509CertificateChain"
    )
    certs = _json.member_list(chain, "certificates", f"{where}.x509CertificateChain")
    if not certs:
        msg = "certificate chain is empty"
        raise InputError(msg, where=f"{where}.x509CertificateChain")
    raw = tuple(
        _json.b64(
            _json.message(
                c, _CERTIFICATE, f"{where}.x509CertificateChain.certificates[{i}]"
            ).get("rawBytes"),
            f"certificates[{i}].rawBytes",
        )
        for i, c in enumerate(certs)
    )
    return raw[0], raw[1:], None


def _tlog_entry(
    entry: dict[str, Any], where: str, version: BundleVersion, limits: Limits
) -> TlogEntry:
    kind_version = _json.message(
        entry.get("kindVersion"), _KIND_VERSION, f"{where}.kindVersion"
    )
    promise = _json.opt_message(entry, "inclusionPromise", _PROMISE, where)
    proof_obj = _json.opt_message(entry, "inclusionProof", _PROOF, where)
    proof = (
        None
        if proof_obj is None
        else _inclusion_proof(proof_obj, f"{where}.inclusionProof", limits)
    )
    parsed = TlogEntry(
        # The SET signs these two as JSON numbers in RFC 8785 form, which
        # carries integers exactly only up to 2**53 - 1.
        log_index=_json.int64(entry, "logIndex", where, maximum=_json.MAX_SAFE_INTEGER),
        log_id=_json.b64(
            _json.message(entry.get("logId"), _LOG_ID, f"{where}.logId").get("keyId"),
            f"{where}.logId.keyId",
        ),
        kind=_json.string(kind_version, "kind", f"{where}.kindVersion"),
        version=_json.string(kind_version, "version", f"{where}.kindVersion"),
        integrated_time=_json.int64(
            entry, "integratedTime", where, default=0, maximum=_json.MAX_UNIX_SECONDS
        ),
        signed_entry_timestamp=None
        if promise is None
        else _json.b64(
            promise.get("signedEntryTimestamp"),
            f"{where}.inclusionPromise.signedEntryTimestamp",
        ),
        inclusion_proof=proof,
        canonicalized_body=_json.b64(
            entry.get("canonicalizedBody"), f"{where}.canonicalizedBody"
        ),
    )
    if version is BundleVersion.V0_1:
        # v0.1: the promise is required; a proof without checkpoint is ignored.
        if parsed.signed_entry_timestamp is None:
            msg = "a v0.1 bundle requires an inclusion promise (SET)"
            raise InputError(msg, where=where)
        if proof is not None and proof.checkpoint is None:
            parsed = _without_proof(parsed)
    elif proof is None or proof.checkpoint is None:
        msg = f"a v{version} bundle requires an inclusion proof with a checkpoint"
        raise InputError(msg, where=where)
    return parsed


def _without_proof(entry: TlogEntry) -> TlogEntry:
    return TlogEntry(
        log_index=entry.log_index,
        log_id=entry.log_id,
        kind=entry.kind,
        version=entry.version,
        integrated_time=entry.integrated_time,
        signed_entry_timestamp=entry.signed_entry_timestamp,
        inclusion_proof=None,
        canonicalized_body=entry.canonicalized_body,
    )


def _inclusion_proof(
    proof: dict[str, Any], where: str, limits: Limits
) -> InclusionProof:
    hashes = _json.member_list(proof, "hashes", where)
    if len(hashes) > limits.max_proof_hashes:
        msg = f"{len(hashes)} proof hashes, over the limit of {limits.max_proof_hashes}"
        raise InputError(msg, where=where)
    checkpoint = _json.opt_message(proof, "checkpoint", _CHECKPOINT, where)
    envelope = (
        None
        if checkpoint is None
        else _json.opt_string(checkpoint, "envelope", f"{where}.checkpoint")
    )
    return InclusionProof(
        log_index=_json.int64(proof, "logIndex", where),
        root_hash=_json.b64(proof.get("rootHash"), f"{where}.rootHash"),
        tree_size=_json.int64(proof, "treeSize", where),
        hashes=_json.b64_items(hashes, f"{where}.hashes"),
        checkpoint=envelope or None,
    )


def _timestamps(material: dict[str, Any], limits: Limits) -> tuple[bytes, ...]:
    where = "bundle.verificationMaterial.timestampVerificationData"
    data = _json.opt_message(
        material,
        "timestampVerificationData",
        _TIMESTAMPS,
        "bundle.verificationMaterial",
    )
    if data is None:
        return ()
    stamps = _json.member_list(data, "rfc3161Timestamps", where)
    if len(stamps) > limits.max_timestamps:
        msg = f"{len(stamps)} timestamps, over the limit of {limits.max_timestamps}"
        raise InputError(msg, where=where)
    raw = tuple(
        _json.b64(
            _json.message(s, _TIMESTAMP, f"{where}.rfc3161Timestamps[{i}]").get(
                "signedTimestamp"
            ),
            f"rfc3161Timestamps[{i}]",
        )
        for i, s in enumerate(stamps)
    )
    if len(set(raw)) != len(raw):
        msg = "duplicate timestamps"
        raise InputError(msg, where=where)
    return raw


def _content(doc: dict[str, Any]) -> MessageSignature | DsseEnvelope:
    variants = [
        k for k in ("messageSignature", "dsseEnvelope") if doc.get(k) is not None
    ]
    if len(variants) != 1:
        msg = f"expected exactly one of messageSignature, dsseEnvelope; found {variants or 'none'}"
        raise InputError(msg, where="bundle")
    if variants[0] == "messageSignature":
        sig = _json.message(
            doc["messageSignature"], _MESSAGE_SIGNATURE, "bundle.messageSignature"
        )
        digest = _json.opt_message(
            sig, "messageDigest", _HASH_OUTPUT, "bundle.messageSignature"
        )
        algorithm = None
        value = None
        if digest is not None:
            name = digest.get("algorithm")
            algorithm = HASH_ALGORITHMS.get(name) if isinstance(name, str) else None
            if algorithm is None:
                msg = f"unsupported digest algorithm {name!r}"
                raise InputError(
                    msg, where="bundle.messageSignature.messageDigest.algorithm"
                )
            value = _json.b64(
                digest.get("digest"), "bundle.messageSignature.messageDigest.digest"
            )
        return MessageSignature(
            digest_algorithm=algorithm,
            digest=value,
            signature=_json.b64(
                sig.get("signature"), "bundle.messageSignature.signature"
            ),
        )
    env = _json.message(doc["dsseEnvelope"], _ENVELOPE, "bundle.dsseEnvelope")
    sigs = _json.member_list(env, "signatures", "bundle.dsseEnvelope")
    if len(sigs) != 1:
        # The bundle format allows exactly one signature per envelope.
        msg = f"a DSSE envelope in a bundle must have exactly one signature, found {len(sigs)}"
        raise InputError(msg, where="bundle.dsseEnvelope.signatures")
    return DsseEnvelope(
        payload=_json.b64(
            env.get("payload"), "bundle.dsseEnvelope.payload", allow_empty=True
        ),
        payload_type=_json.string(env, "payloadType", "bundle.dsseEnvelope"),
        signatures=tuple(
            DsseSignature(
                sig=_json.b64(
                    signature.get("sig"), "bundle.dsseEnvelope.signatures[0].sig"
                ),
                keyid=_json.opt_string(
                    signature, "keyid", "bundle.dsseEnvelope.signatures[0]"
                )
                or "",
            )
            for signature in (
                _json.message(s, _SIGNATURE, "bundle.dsseEnvelope.signatures[0]")
                for s in sigs
            )
        ),
    )
