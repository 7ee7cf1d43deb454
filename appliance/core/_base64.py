"""Base64 on the verifier's hot path: the standard library's, or pybase64's for long input.

CPython's ``binascii`` decodes a character at a time (about 3.5 ns a
character: 20 us for the 5.7 KB of a Rekor entry's body, some 38 us of a
DSSE bundle's parse, on our benchmark host). ``pybase64`` (libbase64's
SIMD codecs) decodes the same body in 1.3 us; its call costs more than
``binascii``'s for short input, so fields under :data:`_LONG_TEXT`
characters (digests, signatures, key ids) stay with ``binascii``.

``pybase64`` decides nothing alone. :func:`decode` is exactly
``binascii.a2b_base64(text, strict_mode=True)``: text ``pybase64`` refuses
goes to ``binascii``, which decides (it accepts a few spellings
``pybase64`` does not, such as padding after a full quantum); a property
test (tests/unit/core/test_base64.py) holds that whatever ``pybase64``
accepts, ``binascii`` accepts and decodes to the same bytes. And every long
field a bundle carries is bound by a signature or a hash over its decoded
bytes (the leaf's by its issuer, a body by the log's tree, a payload by the
envelope's signature): a decoder that erred could only fail a bundle.
"""

from __future__ import annotations

import binascii

import pybase64

# Where pybase64's call starts to pay (measured: decoding 172 characters,
# 0.47 us against binascii's 0.54; encoding 128 bytes, 0.21 against 0.23).
_LONG_TEXT = 256
_LONG_DATA = 192


def decode(text: str) -> bytes:
    """``binascii.a2b_base64(text, strict_mode=True)``, faster for long text.

    Raises:
        binascii.Error: not strict standard base64 (``binascii``'s verdict).
        ValueError: ``text`` is not ASCII.
    """
    if len(text) >= _LONG_TEXT:
        try:
            return pybase64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass  # binascii decides, and says why
    return binascii.a2b_base64(text, strict_mode=True)


def encode(data: bytes) -> bytes:
    """``binascii.b2a_base64(data, newline=False)``, faster for long data."""
    if len(data) >= _LONG_DATA:
        return pybase64.b64encode(data)
    return binascii.b2a_base64(data, newline=False)
