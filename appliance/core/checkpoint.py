"""Signed notes and tlog checkpoints (C2SP signed-note, tlog-checkpoint).

A checkpoint is trusted when one signature line whose name and 4-byte key hint
match the log verifies over the note text. Lines from unknown keys (witness
cosignatures, other origins) are ignored, in any order.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core import keys
from appliance.core.errors import Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.keys import PublicKey

_DASH = "\u2014 "
_HINT_BYTES = 4


def _fail(message: str) -> VerificationError:
    return VerificationError(
        message, reason=Reason.CHECKPOINT_INVALID, where="checkpoint"
    )


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(f"{what} is not base64") from exc


def _signature_lines(block: str) -> tuple[tuple[str, bytes, bytes], ...]:
    """Parse ``— <name> <b64(hint || signature)>`` lines (C2SP signed-note)."""
    if not block.endswith("\n"):
        raise _fail("signature block does not end with a newline")
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise _fail(f"malformed signature line {line[:40]!r}")
        name, _, encoded = line[len(_DASH) :].rpartition(" ")
        raw = _b64(encoded, "signature line")
        if not name or len(raw) <= _HINT_BYTES:
            raise _fail("signature line too short")
        signatures.append((name, raw[:_HINT_BYTES], raw[_HINT_BYTES:]))
    if not signatures:
        raise _fail("signed note has no signature")
    return tuple(signatures)


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A parsed checkpoint body and its signature lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...]
    text: bytes  # the signed bytes, final newline included
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (name, 4-byte hint, signature)

    @classmethod
    def from_text(cls, envelope: str) -> Checkpoint:
        """Parse a signed note holding a checkpoint.

        Raises:
            VerificationError: the note or the checkpoint is malformed.
        """
        text, sep, sig_block = envelope.rpartition("\n\n")
        if not sep or not text:
            raise _fail("signed note has no blank line before its signatures")
        text += "\n"
        signatures = _signature_lines(sig_block)
        lines = text[:-1].split("\n")
        min_lines = 3  # origin, size, root hash
        if len(lines) < min_lines or not lines[0]:
            raise _fail("checkpoint lacks its origin, size or root hash line")
        if not (lines[1].isascii() and lines[1].isdigit()):
            raise _fail(f"checkpoint size is not a number: {lines[1][:20]!r}")
        root_hash = _b64(lines[2], "checkpoint root hash")
        if len(root_hash) != 32:  # noqa: PLR2004 - SHA-256
            raise _fail("checkpoint root hash is not 32 bytes")
        return cls(
            origin=lines[0],
            size=int(lines[1]),
            root_hash=root_hash,
            extensions=tuple(lines[3:]),
            text=text.encode(),
            signatures=tuple(signatures),
        )

    def verify(self, key: PublicKey, *, names: frozenset[str], hint: bytes) -> None:
        """Verify the note under the log's key, found by signer name and key hint.

        Raises:
            VerificationError: no line from this key, or its signature fails.
        """
        candidates = [
            sig
            for n, h, sig in self.signatures
            if n in names and h == hint[:_HINT_BYTES]
        ]
        name = "/".join(sorted(names))
        if not candidates:
            raise _fail(
                f"no signature from {name} (key hint {hint[:_HINT_BYTES].hex()})"
            )
        for signature in candidates:
            try:
                keys.verify(key, signature, self.text, what="checkpoint")
            except VerificationError:
                continue
            return
        raise _fail(f"checkpoint signature from {name} does not verify")
