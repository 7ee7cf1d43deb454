"""Signed notes and tlog checkpoints (C2SP signed-note, tlog-checkpoint).

A checkpoint is trusted when a signature line whose name and 4-byte key hint
match the log verifies over the note text, and its origin line names that
log. Per C2SP signed-note, lines from unknown keys (witness cosignatures,
other logs) are ignored in any order, but a line that claims the log's name
and key hint and does *not* verify rejects the whole note. As in Go's
``golang.org/x/mod/sumdb/note``, a note may carry at most
:data:`MAX_SIGNATURES` signature lines.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core import keys
from appliance.core.errors import Reason, VerificationError

if TYPE_CHECKING:
    from appliance.core.keys import PublicKey

_DASH = "\u2014 "
_HINT_BYTES = 4
MAX_SIGNATURES = 100  # golang.org/x/mod/sumdb/note: "too many signatures"
_MAX_SIZE_DIGITS = 19  # a tree size is an int64 (C2SP tlog-checkpoint)
_MAX_INT64 = 2**63 - 1
# A Rekor v1 origin is "<host> - <tree ID>" (docs/verification.md §6); v2's is the host.
_SHARD_SUFFIX = re.compile(r" - [0-9]{1,20}$")
# C2SP signed-note: the text "MUST NOT contain any ASCII control characters
# other than newline" (an escape sequence in an origin or extension line would
# otherwise reach the operator's terminal from signed-but-foreign bytes).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# A key name holds no Unicode space and no "+" (C2SP signed-note). For str
# patterns, ``\s`` is exactly ``str.isspace`` (both are CPython's
# Py_UNICODE_ISSPACE); a test holds the two equal on every code point. One
# regex search instead of a generator over the name's characters (1.6 us).
_SPACE_OR_PLUS = re.compile(r"[\s+]")


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
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _fail(f"{len(lines)} signature lines, over the limit of {MAX_SIGNATURES}")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise _fail(f"malformed signature line {line[:40]!r}")
        name, _, encoded = line[len(_DASH) :].rpartition(" ")
        raw = _b64(encoded, "signature line")
        if not name or len(raw) <= _HINT_BYTES:
            raise _fail("signature line too short")
        # C2SP signed-note: a key name is non-empty and holds neither Unicode
        # spaces nor "+" (_SPACE_OR_PLUS).
        if _SPACE_OR_PLUS.search(name) is not None:
            raise _fail("signature line's key name holds a space or '+'")
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
        try:
            signed = text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: not Unicode text
            raise _fail("checkpoint text is not valid Unicode") from exc
        if _CONTROL.search(text) is not None:
            raise _fail("checkpoint text holds an ASCII control character")
        signatures = _signature_lines(sig_block)
        lines = text[:-1].split("\n")
        min_lines = 3  # origin, size, root hash
        if len(lines) < min_lines or not lines[0]:
            raise _fail("checkpoint lacks its origin, size or root hash line")
        size_text = lines[1]
        if not (
            size_text.isascii()
            and size_text.isdigit()
            and len(size_text) <= _MAX_SIZE_DIGITS
            and (size_text == "0" or not size_text.startswith("0"))
        ):
            raise _fail(f"checkpoint size is not a decimal int64: {size_text[:20]!r}")
        size = int(size_text)
        if size > _MAX_INT64:
            raise _fail("checkpoint size is out of range")
        root_hash = _b64(lines[2], "checkpoint root hash")
        if len(root_hash) != 32:  # noqa: PLR2004 - SHA-256
            raise _fail("checkpoint root hash is not 32 bytes")
        return cls(
            origin=lines[0],
            size=size,
            root_hash=root_hash,
            extensions=tuple(lines[3:]),
            text=signed,
            signatures=tuple(signatures),
        )

    def verify(self, key: PublicKey, *, names: frozenset[str], hint: bytes) -> None:
        """Verify the note under the log's key, found by signer name and key hint.

        Args:
            key: the log's public key.
            names: the names the log signs under (its host, or host:port).
            hint: the log's key id; its first 4 bytes are the note key hint.

        Raises:
            VerificationError: the origin names another log, no line is from
                this key, or a line from this key does not verify.
        """
        label = "/".join(sorted(names))
        if not any(
            self.origin == name
            or (
                self.origin.startswith(name)
                and _SHARD_SUFFIX.fullmatch(self.origin[len(name) :])
            )
            for name in names
        ):
            raise _fail(
                f"checkpoint origin {self.origin[:80]!r} does not name the log {label}"
            )
        candidates = [
            sig
            for n, h, sig in self.signatures
            if n in names and h == hint[:_HINT_BYTES]
        ]
        if not candidates:
            raise _fail(
                f"no signature from {label} (key hint {hint[:_HINT_BYTES].hex()})"
            )
        for signature in candidates:
            try:
                keys.verify(key, signature, self.text, what="checkpoint")
            except VerificationError as exc:
                # C2SP signed-note: a signature from a known key that does not
                # verify rejects the note; a later good line cannot redeem it.
                raise _fail(
                    f"checkpoint signature from {label} does not verify"
                ) from exc
