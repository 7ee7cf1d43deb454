"""The signing certificate: Fulcio profile, path at signing time, SCTs, identity.

Path validation is RFC 5280 by ``cryptography``'s verifier with the time set to
each verified signing time (the "hybrid model", docs/verification.md §10.1). The chain a
bundle carries is never trusted: paths are built only from the trusted root.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import (
    VerificationError as X509VerificationError,
)

from appliance.core import keys
from appliance.core._memo import by_identity
from appliance.core.errors import InputError, Reason, VerificationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from appliance.core.trust import TrustedAuthority, TrustMaterial

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_PRE_CERTIFICATE = x509.certificate_transparency.LogEntryType.PRE_CERTIFICATE

FULCIO = "1.3.6.1.4.1.57264.1"
ISSUER_V1 = ObjectIdentifier(f"{FULCIO}.1")
ISSUER_V2 = ObjectIdentifier(f"{FULCIO}.8")
OTHERNAME_SAN = ObjectIdentifier(f"{FULCIO}.7")
PRECERT_SIGNING = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.4")
# Fulcio extensions: .2-.6 hold raw strings, .8 and up DER UTF8Strings.
_RAW_EXTENSIONS = frozenset(str(n) for n in range(1, 7))  # OID arcs: no leading zeros
_FULCIO_ARC = FULCIO + "."


def load_certificate(der: bytes, *, where: str) -> x509.Certificate:
    """Parse a DER certificate, extensions included.

    ``cryptography`` parses extensions lazily; touching them here means a
    damaged certificate is refused at the boundary, not deep in a check.

    Raises:
        InputError: not a DER X.509 certificate with well-formed extensions.
    """
    return load_leaf(der, where=where)[0]


def load_leaf(der: bytes, *, where: str) -> tuple[x509.Certificate, object]:
    """:func:`load_certificate`, with the public key it parsed (not parsed twice).

    Raises:
        InputError: not a DER X.509 certificate with well-formed extensions.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = cert.extensions
        key = cert.public_key()
        _ = cert.not_valid_before_utc, cert.not_valid_after_utc
    except (
        ValueError,
        UnsupportedAlgorithm,
        x509.DuplicateExtension,  # an extension given twice (RFC 5280 §4.2)
        x509.UnsupportedGeneralNameType,  # e.g. an ediPartyName SAN
        x509.InvalidVersion,  # not v1-v3 (RFC 5280 §4.1.2.1); not a ValueError
    ) as exc:
        msg = f"not a well-formed X.509 certificate ({type(exc).__name__}: {exc})"
        raise InputError(msg, where=where) from exc
    return cert, key


_E = TypeVar("_E", bound=x509.ExtensionType)

Extensions = dict[ObjectIdentifier, x509.ExtensionType]


def extensions_of(cert: x509.Certificate) -> Extensions:
    """``cert``'s parsed extensions by OID, for the checks of one verification.

    ``cryptography``'s own lookup walks the list for each extension asked
    for (a Fulcio leaf has some 27, the SCT list last); the leaf's checks
    ask for six, so the map is built once, from the bundle's certificate,
    for the one verification (never kept beyond it). The OIDs are unique:
    ``cryptography`` refuses a certificate with an extension given twice.
    """
    extensions = cert.extensions
    try:
        # ``Extension`` is a plain Python class whose ``oid`` and ``value``
        # properties return these attributes; read directly, the map costs
        # half as much (27 extensions, two property calls each). A release
        # that renames them takes the public spelling below.
        return {ext._oid: ext._value for ext in extensions}  # noqa: SLF001
    except AttributeError:
        return {ext.oid: ext.value for ext in extensions}


def _extension(
    cert: x509.Certificate, kind: type[_E], extensions: Extensions | None = None
) -> _E:
    """The parsed value of ``cert``'s extension of ``kind``.

    Looked up by the class's OID, not by ``isinstance`` over every
    extension (a Fulcio leaf has some 25): ``cryptography`` parsed each
    extension it knows into its class when :func:`load_certificate` touched
    them, so the extension with that OID is of that class. ``extensions``:
    the map :func:`extensions_of` made of ``cert``, when the caller has it.

    Raises:
        x509.ExtensionNotFound: the certificate has no such extension.
    """
    if extensions is None:
        value: object = cert.extensions.get_extension_for_oid(kind.oid).value
    else:
        value = extensions.get(kind.oid)
        if value is None:
            msg = f"No {kind.oid} extension was found"
            raise x509.ExtensionNotFound(msg, kind.oid)
    if not isinstance(value, kind):  # not reached: the OID decides the class
        msg = f"extension {kind.oid.dotted_string} is not a {kind.__name__}"
        raise x509.ExtensionNotFound(msg, kind.oid)
    return value


def _is_ca(cert: x509.Certificate, extensions: Extensions | None = None) -> bool:
    if extensions is not None:
        # A leaf usually has no basicConstraints: asked of the map, not by
        # raising and catching ExtensionNotFound on every bundle.
        constraints = extensions.get(x509.BasicConstraints.oid)
        return isinstance(constraints, x509.BasicConstraints) and constraints.ca
    try:
        return bool(_extension(cert, x509.BasicConstraints, extensions).ca)
    except x509.ExtensionNotFound:
        return False


def check_leaf_profile(
    leaf: x509.Certificate, *, extensions: Extensions | None = None
) -> None:
    """The Fulcio leaf profile: not a CA, digitalSignature, codeSigning.

    ``leaf`` comes from :func:`load_certificate`, so its extensions are
    already parsed and well-formed; ``extensions``: their map
    (:func:`extensions_of`), if the caller made it.

    Raises:
        VerificationError: the certificate is not a code-signing leaf.
    """
    if _is_ca(leaf, extensions):
        raise VerificationError(
            "signing certificate is a CA",
            reason=Reason.CERTIFICATE_INVALID,
            where="certificate",
        )
    try:
        usage = _extension(leaf, x509.KeyUsage, extensions)
        eku = _extension(leaf, x509.ExtendedKeyUsage, extensions)
    except x509.ExtensionNotFound as exc:
        raise VerificationError(
            f"signing certificate lacks {exc.oid.dotted_string}",
            reason=Reason.CERTIFICATE_INVALID,
            where="certificate",
        ) from exc
    if not usage.digital_signature:
        raise VerificationError(
            "key usage lacks digitalSignature",
            reason=Reason.CERTIFICATE_INVALID,
            where="certificate",
        )
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise VerificationError(
            "extended key usage lacks codeSigning",
            reason=Reason.CERTIFICATE_INVALID,
            where="certificate",
        )


_CA_POLICY = ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
)
# Fulcio leaves carry codeSigning, not serverAuth/clientAuth: the EKU is
# checked by check_leaf_profile instead of the client verifier's default.
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
)


def _valid_at(cert: x509.Certificate, when: datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def verify_chain(
    leaf: x509.Certificate, *, trust: TrustMaterial, times: Sequence[datetime]
) -> TrustedAuthority:
    """Validate the leaf's path to a Fulcio CA trusted at *each* of ``times``.

    ``cryptography``'s RFC 5280 path validation is the one place a path is
    validated, at the first time. What depends on the time (the CA's window
    in the trusted root, and every certificate's own validity, inclusive) is
    then checked again at each other time for that same path; only if that
    path does not hold at a time is a path at that time searched afresh. The
    signatures and extensions it checked do not change with the time.

    Returns:
        The Fulcio CA that issued the leaf, as validated at the first time.

    Raises:
        VerificationError: at some time, no CA valid then issued this leaf,
            or a certificate on the path is not valid then.
    """
    ca = _chain_at(leaf, trust=trust, when=times[0])
    for when in times[1:]:
        if not (
            ca.valid_for.contains(when)
            and all(_valid_at(cert, when) for cert in (leaf, *ca.certificates))
        ):
            _chain_at(leaf, trust=trust, when=when)
    return ca


@by_identity(maxsize=64)
def _anchored(anchor: x509.Certificate) -> PolicyBuilder:
    """A policy builder anchored at one CA certificate of the trusted root.

    Built once per trust anchor (trust material, loaded once; the builder is
    immutable): only the time, the bundle's, is set per verification.
    """
    return (
        PolicyBuilder()
        .store(Store([anchor]))
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
    )


def _chain_at(
    leaf: x509.Certificate, *, trust: TrustMaterial, when: datetime
) -> TrustedAuthority:
    """Validate the leaf's path to a Fulcio CA trusted at ``when``.

    Each CA chain in the trusted root was checked link by link when the trust
    material was built (:mod:`appliance.core.trust`), so the path is anchored
    at the CA's issuing certificate: one signature per bundle, not one per
    link. Every certificate of that chain must still be valid at ``when``.
    """
    errors: list[str] = []
    cas = trust.fulcio_at(when)
    if not cas:
        msg = f"no Fulcio CA in the trusted root is valid at {when:%Y-%m-%dT%H:%M:%SZ}"
        raise VerificationError(msg, reason=Reason.CHAIN_UNTRUSTED, where="certificate")
    for ca in cas:
        if not all(_valid_at(cert, when) for cert in ca.certificates):
            errors.append(
                f"{ca.uri or 'CA'}: a CA certificate is not valid at that time"
            )
            continue
        verifier = _anchored(ca.certificates[0]).time(when).build_client_verifier()
        try:
            verifier.verify(leaf, [])
        except (
            X509VerificationError,
            x509.UnsupportedGeneralNameType,
            ValueError,
        ) as exc:
            errors.append(str(exc))
            continue
        return ca
    msg = f"no trusted path at {when:%Y-%m-%dT%H:%M:%SZ}: {'; '.join(errors)}"
    raise VerificationError(msg, reason=Reason.CHAIN_UNTRUSTED, where="certificate")


def verify_sct(
    leaf: x509.Certificate,
    issuer: TrustedAuthority,
    *,
    trust: TrustMaterial,
    extensions: Extensions | None = None,
) -> None:
    """Verify at least one embedded SCT from a trusted CT log (RFC 6962 §3.2).

    SCTs from unknown logs, or stamped outside their log's window, do not
    count. ``issuer`` is the CA that issued the leaf (from
    :func:`verify_chain`); the hash of the key an SCT names was computed once,
    when the trust material was built.

    Raises:
        VerificationError: no embedded SCT verifies (reason ``sct-invalid``).
    """
    try:
        scts = _extension(
            leaf, x509.PrecertificateSignedCertificateTimestamps, extensions
        )
    except x509.ExtensionNotFound as exc:
        raise VerificationError(
            "certificate has no embedded SCT",
            reason=Reason.SCT_INVALID,
            where="certificate",
        ) from exc
    issuer_key_hash = issuer.sct_issuer_key_hash
    tbs = leaf.tbs_precertificate_bytes
    problems: list[str] = []
    for sct in scts:
        log = trust.ctlog(sct.log_id)
        if log is None:
            problems.append(f"SCT from unknown log {sct.log_id.hex()[:16]}")
            continue
        stamped = sct.timestamp.replace(tzinfo=UTC)  # cryptography gives naive UTC
        if not log.valid_for.contains(stamped):
            problems.append(
                f"SCT from {log.base_url} stamped outside the log's validity"
            )
            continue
        if sct.entry_type != _PRE_CERTIFICATE:
            problems.append("SCT is not over a precertificate")
            continue
        # Integer arithmetic: a float product can land one millisecond short.
        millis = (stamped - _EPOCH) // _MILLISECOND
        extension_bytes = sct.extension_bytes
        signed = b"".join(  # one copy of the TBS, not one per concatenation
            (
                struct.pack("!BBQH", sct.version.value, 0, millis, 1),
                issuer_key_hash,
                len(tbs).to_bytes(3, "big"),
                tbs,
                struct.pack("!H", len(extension_bytes)),
                extension_bytes,
            )
        )
        try:
            keys.verify(log.key, sct.signature, signed, what="SCT")
        except VerificationError:
            problems.append(f"SCT from {log.base_url} does not verify")
            continue
        return
    raise VerificationError(
        "; ".join(problems) or "no SCT", reason=Reason.SCT_INVALID, where="certificate"
    )


def sct_issuer_key_hash(chain: Sequence[x509.Certificate]) -> bytes:
    """SHA-256 of the SPKI an SCT over a leaf issued by ``chain[0]`` names.

    RFC 6962 §3.2: the issuer's key, unless the issuer is a dedicated
    precertificate-signing CA (EKU ``1.3.6.1.4.1.11129.2.4.4``), whose own
    issuer's key is named instead.
    """
    issuer = chain[0]
    try:
        if (
            PRECERT_SIGNING in _extension(issuer, x509.ExtendedKeyUsage)
            and len(chain) > 1
        ):
            issuer = chain[1]
    except x509.ExtensionNotFound:
        pass
    return hashlib.sha256(
        issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()


def _utf8_der(value: bytes) -> str | None:
    # A DER UTF8String: tag 0x0C, definite length in its shortest form
    # (X.690 §10.1: the short form below 128, else the long form with no
    # leading zero byte). BER's other spellings of a length (0x80, the
    # indefinite form, read as an empty string) are not DER: None.
    if len(value) < 2 or value[0] != 0x0C:  # noqa: PLR2004
        return None
    length, offset = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        digits = value[2 : 2 + count]
        if not digits or digits[0] == 0 or len(digits) != count:
            return None
        length, offset = int.from_bytes(digits, "big"), 2 + count
        if length < 0x80:  # noqa: PLR2004 - the short form's range
            return None
    body = value[offset:]
    if len(body) != length:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _claim_text(suffix: str, raw: bytes) -> str | None:
    """A Fulcio claim's text: raw UTF-8 for .1-.6, a DER UTF8String from .8 on."""
    if suffix in _RAW_EXTENSIONS:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return _utf8_der(raw)


class Claims(Mapping[str, str]):
    """A leaf's Fulcio claims, OID suffix (``"9"``, ``"12"``) to text, read when first asked.

    Most verifications ask for none of them (an identity policy reads the SAN
    and the issuer, which :func:`identity_of` decodes and checks eagerly);
    decoding the twenty-odd others up front was a tenth of the work around a
    bundle's public-key operations. The raw values are kept (a few hundred
    bytes; never the leaf or its parsed extensions, which a verdict must not
    hold on to), decoded once on first use. An unreadable claim is absent,
    exactly as when every claim was decoded eagerly: a policy demanding it
    fails. Equal to any mapping with the same items; pickles as its raw
    values (a verdict crosses a worker's pipe).
    """

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: dict[str, bytes]) -> None:
        """Hold ``raw`` (suffix to the extension's raw value), undecoded."""
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _claims(self) -> dict[str, str]:
        decoded = self._decoded
        if decoded is None:
            decoded = {
                suffix: text
                for suffix, raw in self._raw.items()
                if (text := _claim_text(suffix, raw)) is not None
            }
            self._decoded = decoded  # a race only decodes twice, to the same
        return decoded

    def __getitem__(self, suffix: str) -> str:
        """The claim's text (KeyError: absent or unreadable)."""
        return self._claims()[suffix]

    def __iter__(self) -> Iterator[str]:
        """The suffixes of the readable claims."""
        return iter(self._claims())

    def __len__(self) -> int:
        """How many claims are readable."""
        return len(self._claims())

    def __repr__(self) -> str:
        """As the dict of readable claims."""
        return repr(self._claims())

    def __reduce__(self) -> tuple[type[Claims], tuple[dict[str, bytes]]]:
        """Pickle the raw values: the copy decodes them when it is asked."""
        return (Claims, (dict(self._raw),))


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who a Fulcio certificate says signed: SAN values, issuer, other claims."""

    sans: tuple[str, ...]
    issuer: str | None
    extensions: Mapping[str, str]  # Fulcio OID suffix ("9", "12", ...) to value


@functools.lru_cache(maxsize=256)
def _fulcio_suffix(oid: ObjectIdentifier) -> str | None:
    """The arc after Fulcio's (``"8"`` for ``1.3.6.1.4.1.57264.1.8``), or None.

    A pure function of the OID, remembered: a leaf carries some twenty
    Fulcio extensions, always the same few OIDs.
    """
    dotted = oid.dotted_string
    return dotted[len(_FULCIO_ARC) :] if dotted.startswith(_FULCIO_ARC) else None


# The other general names cryptography parses a SAN into, each its own class: a
# SAN is read in one pass by exact class (``isinstance`` against these ABC
# subclasses is a Python-level check per name and per class asked for).
_SAN_OTHER_KINDS = frozenset(
    {x509.DNSName, x509.DirectoryName, x509.IPAddress, x509.RegisteredID}
)


def _sans(leaf: x509.Certificate, extensions: Extensions) -> list[str]:
    """The SAN's e-mail addresses, then its URIs, then its Fulcio othernames (.7).

    What the library's reading (:func:`_sans_by_type`) gives, in that order:
    the e-mail and URI values, then each othername of Fulcio's arc .7 whose
    value is a DER UTF8String. Read in one pass by exact class; a name of
    any other class (a subclass, or one registered into an ABC: no parse
    makes either) takes the library's reading. Nothing here registers a
    general-name class into another's ABC, which ``isinstance`` would follow.
    """
    try:
        names = _extension(leaf, x509.SubjectAlternativeName, extensions)
    except x509.ExtensionNotFound:
        return []
    emails: list[str] = []
    uris: list[str] = []
    others: list[str] = []
    for name in names:
        kind = type(name)
        if kind is x509.RFC822Name:
            emails.append(name.value)
        elif kind is x509.UniformResourceIdentifier:
            uris.append(name.value)
        elif kind is x509.OtherName:
            text = _utf8_der(name.value) if name.type_id == OTHERNAME_SAN else None
            if text is not None:
                others.append(text)
        elif kind not in _SAN_OTHER_KINDS:
            return _sans_by_type(names)
    return [*emails, *uris, *others]


def _sans_by_type(names: x509.SubjectAlternativeName) -> list[str]:
    """:func:`_sans` through the library's ``get_values_for_type`` (``isinstance``)."""
    sans: list[str] = []
    sans.extend(names.get_values_for_type(x509.RFC822Name))
    sans.extend(names.get_values_for_type(x509.UniformResourceIdentifier))
    sans.extend(
        t
        for o in names.get_values_for_type(x509.OtherName)
        if o.type_id == OTHERNAME_SAN and (t := _utf8_der(o.value)) is not None
    )
    return sans


def _raw_claims(extensions: Extensions) -> dict[str, bytes]:
    """Each Fulcio extension's raw value, by the arc after Fulcio's.

    Exactly the class cryptography gives an extension it does not know (a
    type test, not ``isinstance``'s walk of the ABC's registry): a standard
    extension is never a Fulcio claim. ``UnrecognizedExtension`` keeps its
    bytes in ``_value``, which its ``value`` property returns; read directly,
    in one comprehension over some twenty claims. A release that renames it
    takes the public spelling.
    """
    unrecognized = x509.UnrecognizedExtension
    try:
        return {
            suffix: value._value  # noqa: SLF001
            for oid, value in extensions.items()
            if type(value) is unrecognized
            and (suffix := _fulcio_suffix(oid)) is not None
        }
    except AttributeError:
        return {
            suffix: value.value
            for oid, value in extensions.items()
            if type(value) is unrecognized
            and (suffix := _fulcio_suffix(oid)) is not None
        }


def identity_of(
    leaf: x509.Certificate, *, extensions: Extensions | None = None
) -> Identity:
    """Read the signer's identity from a Fulcio leaf.

    The SAN values and the issuer are decoded and checked here; the other
    claims are kept raw and decoded when first read (:class:`Claims`).
    ``extensions``: the leaf's map (:func:`extensions_of`), if the caller
    made it.

    Raises:
        VerificationError: the issuer extensions disagree or are malformed.
    """
    if extensions is None:
        extensions = extensions_of(leaf)
    sans = _sans(leaf, extensions)
    raw = _raw_claims(extensions)
    issuers: list[str | None] = []
    for suffix in ("1", "8"):
        claim = raw.get(suffix)
        text = None if claim is None else _claim_text(suffix, claim)
        if claim is not None and text is None:
            # A damaged issuer claim must not fall back to the other OID:
            # the certificate names no issuer we can read, so it fails.
            msg = f"certificate issuer extension {_FULCIO_ARC}{suffix} is malformed"
            raise VerificationError(
                msg, reason=Reason.CERTIFICATE_INVALID, where="certificate"
            )
        issuers.append(text)
    v1, v2 = issuers
    if v1 is not None and v2 is not None and v1 != v2:
        # Our choice (docs/verification.md §10.3): two issuers that disagree name no one.
        msg = f"certificate names two different OIDC issuers: {v2!r} and {v1!r}"
        raise VerificationError(msg, reason=Reason.ISSUER_MISMATCH, where="certificate")
    return Identity(
        sans=tuple(sans), issuer=v2 if v2 is not None else v1, extensions=Claims(raw)
    )
