"""A leaf's Fulcio claims, decoded when first read, mean what decoding them all at once meant.

:func:`appliance.core.certs.identity_of` decodes the SAN and the issuer
claims (.1, .8) eagerly and keeps the others raw (:class:`certs.Claims`). The
rules pinned here: every real certificate in the vectors gives the claims an
independent decoder (asn1crypto) reads; an unreadable claim is absent, and a
policy demanding it fails; a damaged issuer claim still fails the identity at
once, whichever of the two it is; a verdict's claims survive a worker's pipe.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto.core import UTF8String
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ObjectIdentifier

from appliance.core import certs
from appliance.core.errors import Reason, VerificationError
from appliance.core.extensions import demands
from appliance.core.policy import IdentityPolicy
from tests.helpers.sigstore_stack.fulcio import der_utf8
from tests.helpers.vectors import VECTORS

FULCIO = "1.3.6.1.4.1.57264.1"
SAN = "dev@airlock.test"
ISSUER = "https://oidc.airlock.test"
_KEY = ec.generate_private_key(ec.SECP256R1())


def _leaf(claims: dict[str, bytes]) -> x509.Certificate:
    """A self-signed leaf with ``claims`` (suffix to raw value) as Fulcio extensions."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")]))
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(minutes=10))
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(SAN)]), critical=True
        )
    )
    for suffix, raw in claims.items():
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier(f"{FULCIO}.{suffix}"), raw),
            critical=False,
        )
    return builder.sign(_KEY, hashes.SHA256())


GOOD = {"1": ISSUER.encode(), "8": der_utf8(ISSUER)}


def _independent(leaf: x509.Certificate) -> dict[str, str]:
    """The readable Fulcio claims, decoded by asn1crypto (not our DER reader)."""
    claims: dict[str, str] = {}
    for ext in leaf.extensions:
        dotted = ext.oid.dotted_string
        if not dotted.startswith(FULCIO + "."):
            continue
        suffix = dotted[len(FULCIO) + 1 :]
        raw = ext.value.value
        try:
            if int(suffix) <= 6:  # .1-.6 are raw strings (Fulcio OID docs)
                claims[suffix] = raw.decode("utf-8")
                continue
            parsed = UTF8String.load(raw, strict=True)
            claims[suffix] = parsed.native
        except (ValueError, TypeError, UnicodeDecodeError):
            continue
    return claims


def _real_leaves() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(VECTORS.rglob("*.sigstore*")):
        try:
            doc = json.loads(path.read_bytes())
            raw = doc["verificationMaterial"]["certificate"]["rawBytes"]
        except (ValueError, KeyError, TypeError):
            continue
        found.append((str(path.relative_to(VECTORS)), base64.b64decode(raw)))
    return found


REAL = _real_leaves()


# -- negatives -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\x13\x05https",  # PrintableString, not UTF8String
        b"\x0c\x10short",  # length beyond the value
        b"\x0c\x02\xff\xfe",  # not UTF-8
        b"",
        b"\x0c\x80",  # BER's indefinite length: once read as an empty issuer
        b"\x0c\x81\x05https",  # a long form for a short length: not DER
        b"\x0c\x82\x00\x05https",  # a leading zero length byte: not DER
        b"\x0c\x81",  # a long form with its length byte missing
    ],
)
@pytest.mark.parametrize("suffix", ["1", "8"])
def test_a_damaged_issuer_claim_fails_at_once(suffix: str, raw: bytes) -> None:
    claims = dict(GOOD)
    # .1 is a raw string: only bytes that are not UTF-8 damage it.
    claims[suffix] = raw if suffix == "8" else b"\xff\xfe" + raw
    with pytest.raises(
        VerificationError, match=rf"{FULCIO}\.{suffix} is malformed"
    ) as caught:
        certs.identity_of(_leaf(claims))
    assert caught.value.reason is Reason.CERTIFICATE_INVALID


def test_disagreeing_issuer_claims_name_no_one() -> None:
    leaf = _leaf({"1": b"https://evil.example", "8": der_utf8(ISSUER)})
    with pytest.raises(VerificationError) as caught:
        certs.identity_of(leaf)
    assert caught.value.reason is Reason.ISSUER_MISMATCH


@pytest.mark.parametrize(
    ("suffix", "raw"),
    [
        ("12", b"\x13\x05https"),  # PrintableString
        ("12", b"\x0c\x05http"),  # shorter than its length
        ("9", b"\x0c\x02\xff\xfe"),  # not UTF-8
        ("5", b"\xff"),  # a raw claim that is not UTF-8
        ("11", b""),
        ("12", b"\x0c\x80"),  # BER's indefinite length
        ("12", b"\x0c\x81\x05https"),  # not the shortest length form
    ],
)
def test_an_unreadable_claim_is_absent_and_a_demand_for_it_fails(
    suffix: str, raw: bytes
) -> None:
    identity = certs.identity_of(_leaf({**GOOD, suffix: raw}))
    assert suffix not in identity.extensions
    assert identity.extensions.get(suffix) is None
    with pytest.raises(KeyError):
        identity.extensions[suffix]
    policy = IdentityPolicy(identity=SAN, issuer=ISSUER, extensions={suffix: "x"})
    with pytest.raises(VerificationError) as caught:
        policy.verify(identity)
    assert caught.value.reason is Reason.POLICY_UNSATISFIED


def test_a_demand_on_an_unreadable_repository_fails() -> None:
    identity = certs.identity_of(_leaf({**GOOD, "12": b"\x13\x05https"}))
    policy = IdentityPolicy(
        identity=SAN, issuer=ISSUER, demands=demands("repo", "https", where="t")
    )
    with pytest.raises(VerificationError) as caught:
        policy.verify(identity)
    assert caught.value.reason is Reason.POLICY_UNSATISFIED


def test_claims_outside_fulcio_arc_are_not_claims() -> None:
    leaf = _leaf({**GOOD, "9": der_utf8("https://ci.example")})
    # A sibling arc (.10 of the parent) and a longer one that merely starts alike.
    other = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(_KEY.public_key())
        .serial_number(2)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .add_extension(
            x509.UnrecognizedExtension(
                ObjectIdentifier("1.3.6.1.4.1.57264.10"), der_utf8("x")
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(
                ObjectIdentifier("1.3.6.1.4.1.572641.1.9"), der_utf8("y")
            ),
            critical=False,
        )
        .sign(_KEY, hashes.SHA256())
    )
    assert dict(certs.identity_of(other).extensions) == {}
    assert dict(certs.identity_of(leaf).extensions) == {
        "1": ISSUER,
        "8": ISSUER,
        "9": "https://ci.example",
    }


# -- positives -------------------------------------------------------------------


def test_the_vectors_hold_real_leaves() -> None:
    assert len(REAL) >= 20  # guards the parametrisation below


@pytest.mark.parametrize(("name", "der"), REAL, ids=[n for n, _ in REAL])
def test_real_leaves_give_what_an_independent_decoder_reads(
    name: str, der: bytes
) -> None:
    leaf = x509.load_der_x509_certificate(der)
    try:
        identity = certs.identity_of(leaf)
    except VerificationError:
        pytest.skip(f"{name}: its issuer claims are refused (other tests pin why)")
    expected = _independent(leaf)
    assert dict(identity.extensions) == expected
    assert identity.extensions == expected  # a Mapping equals a dict of its items
    assert expected == identity.extensions
    assert len(identity.extensions) == len(expected)
    assert identity.issuer == expected.get("8", expected.get("1"))


@pytest.mark.parametrize(("name", "der"), REAL[:5], ids=[n for n, _ in REAL[:5]])
def test_claims_cross_a_pipe_and_read_the_same(name: str, der: bytes) -> None:
    identity = certs.identity_of(x509.load_der_x509_certificate(der))
    unread = pickle.loads(pickle.dumps(identity))  # noqa: S301 - our own bytes
    assert unread == identity, name
    read = dict(identity.extensions)  # decoded before the copy
    copied = pickle.loads(pickle.dumps(identity))  # noqa: S301 - our own bytes
    assert dict(copied.extensions) == read == dict(unread.extensions)
    assert repr(copied.extensions) == repr(read)


def test_a_long_claim_in_the_shortest_long_form_is_read() -> None:
    value = "https://github.com/" + "a" * 200  # over 127 bytes: the long form
    raw = b"\x0c\x81" + bytes([len(value)]) + value.encode()
    identity = certs.identity_of(_leaf({**GOOD, "12": raw}))
    assert identity.extensions["12"] == value
    assert der_utf8(value) == raw  # what an encoder writes, byte for byte


# -- the one-pass readers, held to the library's own --------------------------


def _san_leaf(names: list[x509.GeneralName]) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")]))
        .public_key(_KEY.public_key())
        .serial_number(3)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName(names), critical=True)
        .sign(_KEY, hashes.SHA256())
    )


_OTHERNAME = ObjectIdentifier(f"{FULCIO}.7")
MIXED: list[x509.GeneralName] = [
    x509.UniformResourceIdentifier(
        "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main"
    ),
    x509.DNSName("ci.example"),
    x509.OtherName(_OTHERNAME, der_utf8("first-other")),
    x509.RFC822Name("b@example.com"),
    x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
    x509.OtherName(_OTHERNAME, b"\x13\x05https"),  # not a UTF8String: no name
    x509.OtherName(ObjectIdentifier("1.2.3.4"), der_utf8("another arc")),
    x509.RFC822Name("a@example.com"),
    x509.OtherName(_OTHERNAME, der_utf8("")),  # an empty name is still one
    x509.DirectoryName(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "d")])),
    x509.RegisteredID(ObjectIdentifier("1.2.3.5")),
    x509.UniformResourceIdentifier("https://second.example"),
]


class _Email(x509.RFC822Name):
    """A subclass, as no parse makes: the one pass hands it to the library."""


@pytest.mark.parametrize(("name", "der"), REAL, ids=[n for n, _ in REAL])
def test_one_pass_readers_agree_with_the_library_on_real_leaves(
    name: str, der: bytes
) -> None:
    leaf = x509.load_der_x509_certificate(der)
    extensions = certs.extensions_of(leaf)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert certs._sans(leaf, extensions) == certs._sans_by_type(san), name
    by_property = {
        suffix: ext.value.value
        for ext in leaf.extensions
        if isinstance(ext.value, x509.UnrecognizedExtension)
        and (suffix := certs._fulcio_suffix(ext.oid)) is not None
    }
    assert certs._raw_claims(extensions) == by_property, name


def test_every_kind_of_san_is_read_in_the_library_s_order() -> None:
    leaf = _san_leaf(MIXED)
    sans = certs._sans(leaf, certs.extensions_of(leaf))
    assert sans == certs._sans_by_type(
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    assert sans == [
        "b@example.com",
        "a@example.com",
        "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
        "https://second.example",
        "first-other",
        "",
    ]


def test_a_san_of_an_unknown_class_takes_the_library_s_reading() -> None:
    san = x509.SubjectAlternativeName(
        [x509.DNSName("x.example"), _Email("s@example.com")]
    )
    leaf = _san_leaf([x509.DNSName("unused.example")])
    extensions = {x509.SubjectAlternativeName.oid: san}
    assert certs._sans(leaf, extensions) == ["s@example.com"]  # type: ignore[arg-type]


def test_no_san_is_no_name() -> None:
    leaf = _leaf({})
    assert certs._sans(leaf, {}) == []
    assert certs._raw_claims({}) == {}


class _Renamed:
    """An unrecognized extension as a release that renamed ``_value`` would make it."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    @property
    def value(self) -> bytes:
        return self.raw


def test_claims_read_by_the_public_name_when_the_private_one_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(x509, "UnrecognizedExtension", _Renamed)
    extensions = {
        ObjectIdentifier(f"{FULCIO}.9"): _Renamed(b"raw"),
        ObjectIdentifier("1.2.3.4"): _Renamed(b"not a claim"),
    }
    assert certs._raw_claims(extensions) == {"9": b"raw"}  # type: ignore[arg-type]
