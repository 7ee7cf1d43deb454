"""Turn the ``ARTIFACT`` argument into an :class:`~appliance.core.artifact.Artifact`.

``sha256:<64 hex>`` and ``sha512:<128 hex>`` are taken as digests only when
they have exactly that form *and* no file of that name exists; anything else
is a file path. Files are hashed in one streaming pass.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from appliance.core.artifact import Artifact
from appliance.core.errors import InputError

_DIGEST = re.compile(r"^(sha256):([0-9a-f]{64})$|^(sha512):([0-9a-f]{128})$")
_CHUNK_BYTES = 1024 * 1024
# Small artifacts are kept in memory too: pure Ed25519 needs the bytes.
_KEEP_BYTES = 16 * 1024 * 1024


def read_artifact(
    argument: str, *, algorithms: tuple[str, ...] = ("sha256",)
) -> tuple[Artifact, str]:
    """Return the artifact and a label for reports.

    Args:
        argument: a file path, or a ``sha256:``/``sha512:`` digest.
        algorithms: the digests to compute for a file, in one pass (only
            what the bundle can use: each one is a full pass over the data).

    Raises:
        InputError: neither a well-formed digest nor a readable file.
    """
    match = _DIGEST.match(argument)
    if match and not Path(argument).exists():
        algorithm = match.group(1) or match.group(3)
        hex_digest = match.group(2) or match.group(4)
        return Artifact.from_digest(algorithm, bytes.fromhex(hex_digest)), argument
    path = Path(argument)
    hashers = {name: hashlib.new(name) for name in algorithms}
    kept = bytearray()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                for hasher in hashers.values():
                    hasher.update(chunk)
                if len(kept) <= _KEEP_BYTES:
                    kept += chunk
    except OSError as exc:
        hint = (
            " (a digest must be sha256:<64 hex> or sha512:<128 hex>)"
            if ":" in argument
            else ""
        )
        raise InputError(
            f"cannot read artifact: {exc.strerror}{hint}", where=argument
        ) from exc
    data = bytes(kept) if len(kept) <= _KEEP_BYTES else None
    return Artifact(data, {name: h.digest() for name, h in hashers.items()}), str(path)
