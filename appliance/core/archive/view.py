"""Read an archive's contents by what its entries are: the ledger, trust, images.

Pure views over :class:`~appliance.core.archive.intake.Contents`, for the
appliance's verifier and the exporter's ``inspect`` alike.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from appliance.core.archive import capsule, media
from appliance.core.archive.layout import Kind
from appliance.core.archive.ledger import Ledger
from appliance.core.archive.manifest import Descriptor, ImageManifest
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.archive.intake import Contents


_ROOT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # appliance/trust/held.py


def entries(contents: Contents, kind: str) -> list[Descriptor]:
    """``index.json`` entries of one kind, in order."""
    return [
        e for e in contents.index.manifests if e.annotations.get(media.KIND) == kind
    ]


def _single_layer(
    contents: Contents, entry: Descriptor, what: str, *, read: bool = True
) -> tuple[ImageManifest, bytes]:
    """The one-layer artifact ``entry`` names, and its layer's bytes (``b""`` unless ``read``)."""
    manifest = contents.manifests.get(entry.digest)
    if not isinstance(manifest, ImageManifest) or len(manifest.layers) != 1:
        msg = f"the {what} entry is not a one-layer artifact"
        raise InputError(msg, where="index.json")
    if not read:
        return manifest, b""
    data = contents.documents.get(manifest.layers[0].digest)
    if data is None:
        msg = f"the {what} is not in the archive"
        raise VerificationError(msg, reason=Reason.DIGEST_MISMATCH, where="archive")
    return manifest, data


def ledger(contents: Contents) -> tuple[Ledger, Descriptor]:
    """The export ledger, and its entry.

    Raises:
        InputError: no ledger, two, or one that does not parse.
    """
    found = entries(contents, Kind.LEDGER)
    if len(found) != 1:
        msg = f"an archive carries exactly one ledger; this one has {len(found)}"
        raise InputError(msg, where="index.json")
    manifest, _ = _single_layer(contents, found[0], "ledger", read=False)
    if manifest.artifact_type != media.LEDGER:
        msg = "the ledger entry is not a ledger artifact"
        raise InputError(msg, where="index.json")
    # Parsed by the intake as it arrived (the usual case), or parsed now.
    parsed = contents.ledgers.get(manifest.layers[0].digest)
    if parsed is None:
        _, data = _single_layer(contents, found[0], "ledger")
        parsed = Ledger.from_bytes(data)
    if isinstance(parsed, InputError):
        raise parsed
    return parsed, found[0]


def trust_files(contents: Contents) -> tuple[str, dict[str, bytes]] | None:
    """``(artifact type, files)`` of the trust the archive carries, if any.

    Trusted for nothing: the capsule is replayed from the appliance's own
    root; a plain trusted root is used only on the operator's say-so.

    Raises:
        InputError: more than one trust entry, or a malformed one.
    """
    found = [
        e
        for e in entries(contents, Kind.TRUST)
        if media.TRUST_NAME not in e.annotations
    ]
    if not found:
        return None
    if len(found) > 1:
        msg = "an archive carries at most one trust entry"
        raise InputError(msg, where="index.json")
    manifest = contents.manifests.get(found[0].digest)
    if not isinstance(manifest, ImageManifest) or manifest.artifact_type not in (
        media.TRUST_CAPSULE,
        media.TRUSTED_ROOT,
    ):
        msg = "the trust entry is neither a TUF capsule nor a trusted root"
        raise InputError(msg, where="index.json")
    return manifest.artifact_type, capsule.files_of(manifest, contents.documents)


def named_capsules(contents: Contents) -> dict[str, dict[str, bytes]]:
    """The further capsules an archive carries, by the named root they continue.

    The name is unsigned: it only picks the held root a capsule is replayed
    from (appliance/trust/archive.py), so a wrong one can only fail.

    Raises:
        InputError: a name twice, a malformed name or entry.
    """
    found: dict[str, dict[str, bytes]] = {}
    for entry in entries(contents, Kind.TRUST):
        name = entry.annotations.get(media.TRUST_NAME)
        if name is None:
            continue
        if not _ROOT_NAME.fullmatch(name) or name == "public-good" or name in found:
            msg = f"trust entry named {name[:60]!r}: not a root name, public-good, or given twice"
            raise InputError(msg, where="index.json")
        manifest = contents.manifests.get(entry.digest)
        if not isinstance(manifest, ImageManifest) or manifest.artifact_type != (
            media.TRUST_CAPSULE
        ):
            msg = f"the trust entry named {name} is not a TUF capsule"
            raise InputError(msg, where="index.json")
        found[name] = capsule.files_of(manifest, contents.documents)
    return found


def accounted(
    contents: Contents, ledger_entry: Descriptor, ledger_: Ledger
) -> set[str]:
    """Every blob the ledger accounts for: what it lists, and the ledger itself."""
    own = {ledger_entry.digest}
    manifest = contents.manifests.get(ledger_entry.digest)
    if manifest is not None:
        own.update(c.digest for c in manifest.children)
    return own | {c.digest for c in ledger_.contents}
