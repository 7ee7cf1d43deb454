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
from types import SimpleNamespace

import pytest
from cryptography import x509

from appliance.core.bundle import Bundle
from appliance.core.certs import extensions_of, load_leaf
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


def _leaves() -> list[bytes]:
    from tests.helpers.vectors import VECTORS  # noqa: PLC0415

    found = []
    for path in sorted(
        (VECTORS / "conformance" / "bundle-verify").glob("*/bundle.sigstore.json")
    ):
        try:
            certificate = Bundle.from_bytes(path.read_bytes()).certificate
        except InputError:
            continue
        if certificate is not None:
            found.append(certificate)
    return found


def test_the_extension_map_is_cryptography_s_public_reading() -> None:
    """``extensions_of`` reads the attributes behind ``oid`` and ``value``: the
    map is the public properties' on every leaf we have, and a release that
    renamed the attributes would get the public reading, not an error."""
    leaves = _leaves()
    assert len(leaves) > 20
    for der in leaves:
        cert = x509.load_der_x509_certificate(der)
        public = {ext.oid: ext.value for ext in cert.extensions}
        assert extensions_of(cert) == public
        assert [type(v) for v in extensions_of(cert).values()] == [
            type(v) for v in public.values()
        ]


class _Renamed:
    """An extension of a release whose attributes behind ``oid`` and ``value`` have other names."""

    def __init__(self, extension: x509.Extension[x509.ExtensionType]) -> None:
        self._extension = extension

    @property
    def oid(self) -> x509.ObjectIdentifier:
        return self._extension.oid

    @property
    def value(self) -> x509.ExtensionType:
        return self._extension.value


def test_the_extension_map_falls_back_to_the_public_names() -> None:
    cert = x509.load_der_x509_certificate(_leaves()[0])
    public = {ext.oid: ext.value for ext in cert.extensions}
    renamed = SimpleNamespace(extensions=[_Renamed(ext) for ext in cert.extensions])
    assert extensions_of(renamed) == public  # type: ignore[arg-type]
