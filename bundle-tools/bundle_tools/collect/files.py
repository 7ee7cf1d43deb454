"""Files (``[[files]]`` of an image set) carried as OCI artifacts, with their signatures as referrers.

Each file becomes one artifact manifest (docs/image-sets.md §7): the empty
config, ``artifactType`` :data:`media.FILE_ARTIFACT`, one layer holding the
file's bytes titled with its name (``org.opencontainers.image.title``, as
oras names files) and, for a file signed through a checksum file, that file
as a second layer. The signature travels as an OCI 1.1 referrer of the
artifact, as cosign v3 attaches bundles to images: one layer, the Sigstore
bundle. A cosign key signature (``cosign sign-blob --key``: the base64
signature alone) is carried as the key-signed v0.3 bundle that says the same
thing (a message signature over the SHA-256, no log entry), so the appliance
verifies every file with one verifier.

Nothing here checks a signature: the exporter carries what it was given and
the appliance judges it (``--verify-with`` judges before writing).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from airlock_io import inputs
from appliance.core.archive import media
from appliance.core.archive.layout import Kind
from appliance.core.archive.ledger import FileEntry
from appliance.core.archive.manifest import Descriptor, Manifest, digest_of, parse
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from pathlib import Path

    from bundle_tools.imageset import FileSpec, Location

MAX_FILE_BYTES: Final = 1024 * 1024 * 1024  # files are held in memory once
MAX_SIGNATURE_BYTES: Final = inputs.MAX_BUNDLE_BYTES
_TIMEOUT: Final = (10.0, 300.0)
_EMPTY: Final = {"mediaType": media.EMPTY, "digest": media.EMPTY_DIGEST, "size": 2}


@dataclass
class CarriedFile:
    """One file's artifact and referrer: index entries, manifests and blobs."""

    entry: FileEntry
    entries: list[Descriptor] = field(default_factory=list)
    manifests: dict[str, Manifest] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)  # manifests and blobs
    roles: dict[str, str] = field(default_factory=dict)


def read_location(
    location: Location,
    *,
    base: Path,
    what: str,
    max_bytes: int,
    ca: Path | None = None,
) -> bytes:
    """The bytes at a local path (relative to ``base``) or an https URL.

    ``ca``: the only CAs trusted for the URL (``--files-ca``); default the system's.

    Raises:
        InputError: unreadable, unreachable, not 200, or over ``max_bytes``.
    """
    if not location.url:
        return inputs.read_file(base / location.text, what=what, max_bytes=max_bytes)
    import requests  # noqa: PLC0415 - only for sets that name URLs

    try:
        with requests.get(
            location.text,
            timeout=_TIMEOUT,
            stream=True,
            allow_redirects=True,
            verify=True if ca is None else str(ca),
        ) as response:
            if response.status_code != 200:  # noqa: PLR2004
                msg = f"cannot fetch {what}: HTTP {response.status_code}"
                raise InputError(
                    msg, where=location.text, reason=Reason.INPUT_UNREADABLE
                )
            if not response.url.startswith("https://"):
                msg = f"cannot fetch {what}: redirected off TLS"
                raise InputError(
                    msg, where=location.text, reason=Reason.INPUT_UNREADABLE
                )
            data = bytearray()
            for piece in response.iter_content(64 * 1024):
                data += piece
                if len(data) > max_bytes:
                    msg = f"{what} is over the {max_bytes}-byte limit"
                    raise InputError(
                        msg, where=location.text, reason=Reason.LIMIT_EXCEEDED
                    )
            return bytes(data)
    except requests.exceptions.SSLError as exc:
        msg = f"cannot fetch {what}: TLS failed ({type(exc).__name__}); name a private CA with --files-ca"
        raise InputError(
            msg, where=location.text, reason=Reason.INPUT_UNREADABLE
        ) from exc
    except requests.exceptions.RequestException as exc:
        msg = f"cannot fetch {what} ({type(exc).__name__})"
        raise InputError(
            msg, where=location.text, reason=Reason.INPUT_UNREADABLE
        ) from exc


def key_signature_bundle(signature_text: bytes, *, sha256: bytes, where: str) -> bytes:
    """The key-signed v0.3 bundle for a ``cosign sign-blob --key`` signature over SHA-256 ``sha256``.

    The public-key hint is left empty: the exporter does not know the key,
    and the appliance takes keys from its policy only.

    Raises:
        InputError: the signature file is not base64.
    """
    try:
        signature = base64.b64decode(signature_text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "not a cosign signature (base64 of the signature bytes)"
        raise InputError(msg, where=where, reason=Reason.MALFORMED_INPUT) from exc
    if not signature:
        msg = "the signature is empty"
        raise InputError(msg, where=where, reason=Reason.MALFORMED_INPUT)
    bundle = {
        "mediaType": media.BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": ""}},
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": base64.b64encode(sha256).decode(),
            },
            "signature": base64.b64encode(signature).decode(),
        },
    }
    return json.dumps(bundle, indent=2, sort_keys=True).encode() + b"\n"


def _manifest(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def carry(spec: FileSpec, *, base: Path, ca: Path | None = None) -> CarriedFile:
    """Read ``spec``'s file and signature and lay them out as an artifact and its referrer.

    Raises:
        InputError: something unreadable, or a bundle that is not one.
    """
    data = read_location(
        spec.file, base=base, what="file", max_bytes=MAX_FILE_BYTES, ca=ca
    )
    signed = data
    checksums = None
    if spec.checksums is not None:
        checksums = read_location(
            spec.checksums,
            base=base,
            what="checksum file",
            max_bytes=inputs.MAX_POLICY_BYTES,
            ca=ca,
        )
        signed = checksums
    signature = read_location(
        spec.signature,
        base=base,
        what="signature",
        max_bytes=MAX_SIGNATURE_BYTES,
        ca=ca,
    )
    if spec.signature_form == "key-signature":
        signature = key_signature_bundle(
            signature, sha256=hashlib.sha256(signed).digest(), where=str(spec.signature)
        )
    try:
        bundle = Bundle.from_bytes(signature)
    except InputError as exc:
        raise InputError(
            exc.diagnostics(),
            where=f"{spec.signature} ({spec.source})",
            reason=exc.reason,
        ) from exc
    bundle_type = (
        bundle.media_type
        if bundle.media_type.startswith(media.BUNDLE_PREFIX)
        else media.BUNDLE_V03
    )
    # The ledger's entry is completed below, once the artifact's digest is known.
    entry = FileEntry(
        name=spec.name,
        digest=media.EMPTY_DIGEST,
        blob=digest_of(data),
        size=len(data),
        source=str(spec.file),
        form=spec.form,
        checksums=None if checksums is None else digest_of(checksums),
    )
    out = CarriedFile(entry=entry)
    layers = [
        {
            "mediaType": media.FILE_CONTENT,
            "digest": digest_of(data),
            "size": len(data),
            "annotations": {media.TITLE: spec.name},
        }
    ]
    out.raw[digest_of(data)] = data
    out.roles[digest_of(data)] = "file"
    if checksums is not None and spec.checksums is not None:
        layers.append(
            {
                "mediaType": media.CHECKSUMS,
                "digest": digest_of(checksums),
                "size": len(checksums),
                "annotations": {
                    media.TITLE: spec.checksums.text.rstrip("/").rsplit("/", 1)[-1]
                },
            }
        )
        out.raw[digest_of(checksums)] = checksums
        out.roles[digest_of(checksums)] = "checksums"
    artifact = _manifest(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": media.FILE_ARTIFACT,
            "config": _EMPTY,
            "layers": layers,
        }
    )
    referrer = _manifest(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": bundle_type,
            "config": _EMPTY,
            "layers": [
                {
                    "mediaType": bundle_type,
                    "digest": digest_of(signature),
                    "size": len(signature),
                }
            ],
            "subject": {
                "mediaType": media.OCI_MANIFEST,
                "digest": digest_of(artifact),
                "size": len(artifact),
            },
        }
    )
    out.raw[media.EMPTY_DIGEST] = b"{}"
    out.roles[media.EMPTY_DIGEST] = "config"
    out.raw[digest_of(signature)] = signature
    out.roles[digest_of(signature)] = "bundle"
    for name, doc in (
        (f"file {spec.name}", artifact),
        (f"bundle of {spec.name}", referrer),
    ):
        out.raw[digest_of(doc)] = doc
        out.roles[digest_of(doc)] = "manifest"
        out.manifests[digest_of(doc)] = parse(
            doc, media_type=media.OCI_MANIFEST, where=name
        )
    out.entries = [
        Descriptor(
            media_type=media.OCI_MANIFEST,
            digest=digest_of(artifact),
            size=len(artifact),
            artifact_type=media.FILE_ARTIFACT,
            annotations={media.KIND: Kind.FILE, media.TITLE: spec.name},
        ),
        Descriptor(
            media_type=media.OCI_MANIFEST,
            digest=digest_of(referrer),
            size=len(referrer),
            artifact_type=bundle_type,
            annotations={media.KIND: Kind.REFERRER, media.SUBJECT: digest_of(artifact)},
        ),
    ]
    out.entry = dataclasses.replace(entry, digest=digest_of(artifact))
    return out
