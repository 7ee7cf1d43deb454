"""Every one-byte damage of a real Fulcio leaf is parsed or refused as input, never a traceback.

``load_leaf`` is the boundary where a bundle's certificate is parsed; the
exceptions ``cryptography`` raises for bad certificates are not all
``ValueError`` (``InvalidVersion`` is a bare ``Exception``), so each must be
named there, or a damaged certificate escapes as a traceback.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import pytest
from cryptography import x509

from appliance.core.bundle import Bundle
from appliance.core.certs import load_leaf
from appliance.core.errors import InputError

VECTORS = Path(__file__).parents[2] / "assets" / "vectors"


def _first_leaf() -> bytes:
    for path in sorted(VECTORS.rglob("*.json")):
        with contextlib.suppress(InputError, OSError, ValueError):
            certificate = Bundle.from_bytes(path.read_bytes()).certificate
            if certificate is not None:
                return certificate
    msg = "no bundle with a certificate in the vectors"
    raise AssertionError(msg)


LEAF = _first_leaf()


def test_a_leaf_of_an_unknown_x509_version_is_an_input_error() -> None:
    at = LEAF.index(b"\xa0\x03\x02\x01\x02") + 4  # [0] EXPLICIT INTEGER 2 (v3)
    damaged = LEAF[:at] + b"\x03" + LEAF[at + 1 :]
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_certificate(damaged)  # what cryptography raises
    with pytest.raises(InputError, match="InvalidVersion") as caught:
        load_leaf(damaged, where="bundle certificate")
    assert caught.value.where == "bundle certificate"


def test_every_one_byte_damage_is_parsed_or_an_input_error() -> None:
    refused = 0
    for at in range(len(LEAF)):
        for flip in (0x01, 0x80):
            damaged = LEAF[:at] + bytes((LEAF[at] ^ flip,)) + LEAF[at + 1 :]
            try:
                with warnings.catch_warnings():  # e.g. a serial made negative
                    warnings.simplefilter("ignore")
                    load_leaf(damaged, where="bundle certificate")
            except InputError:
                refused += 1
    assert refused > len(LEAF) // 2  # most damage to a DER certificate is refused
