"""Trust inside an archive: a TUF capsule, or a plain trusted root, as an artifact.

The capsule ``bundle-tools trust update`` writes is a directory laid out as a
TUF repository is served (``N.root.json``, ``timestamp.json``,
``N.snapshot.json``, ``N.targets.json``, ``targets/<sha256>.<name>``). In an
archive it is one artifact (``media.TRUST_CAPSULE``) whose layers are those
files, each titled with its served path. The appliance rebuilds the
``fetch(name)`` the offline TUF replay reads through, from the archive's
bytes alone: nothing is written to disk, and nothing in the capsule is
trusted for being there: the replay starts from the appliance's own root.

A plain ``trusted_root.json`` (``media.TRUSTED_ROOT``) is carried for private
deployments and is used only if the operator passes ``--trusted-root``.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from appliance.core.archive import media
from appliance.core.archive.layout import Artifact, file_artifact
from appliance.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from appliance.core.archive.manifest import ImageManifest

# What a served TUF repository holds, and nothing else.
_SERVED = re.compile(
    r"(?:[0-9]{1,20}\.root\.json|timestamp\.json|[0-9]{1,20}\.[A-Za-z0-9._-]{1,200}\.json"
    r"|targets/(?:[A-Za-z0-9._-]{1,200}/)*[0-9a-f]{64}\.[A-Za-z0-9._-]{1,200})"
)
MAX_CAPSULE_FILES = 4096
MAX_CAPSULE_FILE_BYTES = 32 * 1024 * 1024


def check_served_name(name: str) -> None:
    """Refuse a name a served TUF repository cannot hold.

    Raises:
        InputError: absolute, ``..``, or not a TUF file name.
    """
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not _SERVED.fullmatch(name):
        msg = "not a file a served TUF repository holds"
        raise InputError(msg, where=f"trust capsule file {name[:120]!r}")


def capsule_artifact(files: Mapping[str, bytes]) -> Artifact:
    """The capsule's files as one artifact.

    Raises:
        InputError: a file name a TUF repository cannot hold.
    """
    for name in files:
        check_served_name(name)
    return file_artifact(media.TRUST_CAPSULE, files, media_type=media.CAPSULE_FILE)


def trusted_root_artifact(data: bytes) -> Artifact:
    """A plain ``trusted_root.json`` as an artifact (never trusted for being there)."""
    return file_artifact(
        media.TRUSTED_ROOT,
        {"trusted_root.json": data},
        media_type=media.SIGSTORE_TRUSTED_ROOT,
    )


def files_of(manifest: ImageManifest, blobs: Mapping[str, bytes]) -> dict[str, bytes]:
    """The named files an artifact carries, rebuilt from its blobs.

    Raises:
        InputError: a layer without a safe title, a title twice, or a blob
            the archive did not keep.
    """
    files: dict[str, bytes] = {}
    if len(manifest.layers) > MAX_CAPSULE_FILES:
        msg = f"{len(manifest.layers)} files, over the limit of {MAX_CAPSULE_FILES}"
        raise InputError(msg, where="trust capsule")
    for layer in manifest.layers:
        name = layer.annotations.get(media.TITLE, "")
        if manifest.artifact_type == media.TRUST_CAPSULE:
            check_served_name(name)
        elif name != "trusted_root.json":
            msg = "a trusted-root artifact holds trusted_root.json only"
            raise InputError(msg, where=f"trust artifact layer {name[:80]!r}")
        if name in files:
            msg = "file given twice"
            raise InputError(msg, where=f"trust capsule file {name!r}")
        data = blobs.get(layer.digest)
        if data is None:
            msg = "its blob is not in the archive"
            raise InputError(msg, where=f"trust capsule file {name!r}")
        files[name] = data
    return files


def fetcher(files: Mapping[str, bytes]) -> Callable[[str], bytes | None]:
    """``fetch(name)`` over the capsule's files, for the offline TUF replay."""

    def fetch(name: str) -> bytes | None:
        return files.get(name)

    return fetch
