"""The thing a signature is about: the artifact's bytes, or only its digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from appliance.core.errors import InputError

_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact known by its bytes (all digests) or by one digest."""

    data: bytes | None = None
    given: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_digest(cls, algorithm: str, digest: bytes) -> Artifact:
        """An artifact known only by ``algorithm:digest``.

        Raises:
            InputError: unknown algorithm, or a digest of the wrong length.
        """
        if _LENGTHS.get(algorithm) != len(digest):
            msg = f"a {algorithm} digest must be {_LENGTHS.get(algorithm, '?')} bytes"
            raise InputError(msg)
        return cls(None, {algorithm: digest})

    def digest(self, algorithm: str) -> bytes | None:
        """The digest under ``algorithm``, if it is known or computable."""
        if algorithm in self.given:
            return self.given[algorithm]
        if self.data is not None and algorithm in _LENGTHS:
            return hashlib.new(algorithm, self.data).digest()
        return None

    def digests(self) -> dict[str, bytes]:
        """Every digest known or computable."""
        known = dict(self.given)
        if self.data is not None:
            for name in _LENGTHS:
                if name not in known:
                    known[name] = hashlib.new(name, self.data).digest()
        return known
