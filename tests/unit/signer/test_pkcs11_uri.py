"""RFC 7512 URIs as cosign takes them; a pin-value never shows in a repr."""

from __future__ import annotations

import pytest

from appliance.core.errors import InputError
from appliance.signer.pkcs11_uri import parse


def test_cosign_example() -> None:
    uri = parse(
        "pkcs11:token=appliance;slot-id=0;id=%01%02;object=cosign-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234"
    )
    assert (uri.token, uri.slot_id, uri.id, uri.object) == (
        "appliance",
        0,
        b"\x01\x02",
        "cosign-key",
    )
    assert uri.module_path == "/usr/lib/softhsm/libsofthsm2.so"
    assert uri.pin_value == "1234"


def test_percent_encoding_and_pin_source() -> None:
    uri = parse("pkcs11:token=my%20token;object=k%3Bey?pin-source=file:/run/pin")
    assert (uri.token, uri.object, uri.pin_source) == (
        "my token",
        "k;ey",
        "file:/run/pin",
    )


def test_pin_value_is_never_in_the_repr() -> None:
    uri = parse("pkcs11:token=t;object=o?pin-value=S3cr3t-4711")
    assert "S3cr3t-4711" not in repr(uri)
    assert "S3cr3t-4711" not in str(uri)


def test_key_uri_round_trip() -> None:
    base = parse("pkcs11:token=air lock?module-path=/usr/lib/x.so&pin-value=1234")
    written = base.for_key(label="release key", key_id=b"\x00\xff")
    assert "1234" not in written
    again = parse(written)
    assert (again.token, again.object, again.id, again.module_path) == (
        "air lock",
        "release key",
        b"\x00\xff",
        "/usr/lib/x.so",
    )


def test_vendor_attributes_are_allowed() -> None:
    assert parse("pkcs11:token=t;x-vendor=1;object=o").object == "o"


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("pkcs12:token=t", "not a PKCS#11 URI"),
        ("token=t;object=o", "not a PKCS#11 URI"),
        ("pkcs11:token=t;colour=red", "unknown path attribute"),
        ("pkcs11:token=t?module-dir=/x", "unknown query attribute"),
        ("pkcs11:token=a;token=b", "given twice"),
        ("pkcs11:token", "malformed"),
        ("pkcs11:slot-id=zero", "decimal"),
        ("pkcs11:token=t?pin-value=1&pin-source=file:/p", "not both"),
        ("pkcs11:token=%ff%fe", "not UTF-8"),
    ],
)
def test_malformed_uris(uri: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as caught:
        parse(uri)
    assert "pin-value=1" not in caught.value.diagnostics()


@pytest.mark.parametrize(
    ("uri", "needle"),
    [("pkcs11:object=o", "names no token"), ("pkcs11:token=t", "names no key")],
)
def test_key_operations_need_a_token_and_a_key(uri: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse(uri).require_object()
