"""Bundle parsing: structure is checked before any cryptography. Mostly refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from appliance.core.bundle import Bundle, BundleVersion, DsseEnvelope, MessageSignature
from appliance.core.errors import InputError
from appliance.core.limits import Limits

if TYPE_CHECKING:
    from tests.helpers.sigstore_stack import SigstoreStack


@pytest.fixture
def v03(sigstore_stack: SigstoreStack) -> dict[str, Any]:
    return sigstore_stack.sign_blob(b"x").bundle()


def _parse(doc: Any, **kwargs: Any) -> Bundle:
    return Bundle.from_bytes(json.dumps(doc).encode(), **kwargs)


def test_v03_parses(v03: dict[str, Any]) -> None:
    bundle = _parse(v03)
    assert bundle.version is BundleVersion.V0_3
    assert isinstance(bundle.content, MessageSignature)
    assert bundle.content.digest_algorithm == "sha256"
    assert bundle.certificate is not None


def test_both_v03_media_type_spellings(v03: dict[str, Any]) -> None:
    v03["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.3"
    assert _parse(v03).version is BundleVersion.V0_3


def test_int64_as_number_and_urlsafe_base64(v03: dict[str, Any]) -> None:
    entry = v03["verificationMaterial"]["tlogEntries"][0]
    entry["logIndex"] = int(entry["logIndex"])
    entry["canonicalizedBody"] = (
        entry["canonicalizedBody"].replace("+", "-").replace("/", "_").rstrip("=")
    )
    assert _parse(v03).tlog_entries[0].log_index == int(entry["logIndex"])


def test_dsse_parses(sigstore_stack: SigstoreStack) -> None:
    bundle = _parse(sigstore_stack.attest({"a": "00" * 32}).bundle())
    assert isinstance(bundle.content, DsseEnvelope)
    assert bundle.content.payload.startswith(b'{"_type"')


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


E0 = ["verificationMaterial", "tlogEntries", 0]


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (
            ["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.4+json",
            "unsupported bundle media type",
        ),
        (["mediaType"], None, "unsupported bundle media type"),
        (["verificationMaterial"], KeyError, "expected a JSON object"),
        (["verificationMaterial", "certificate"], KeyError, "found none"),
        (
            ["verificationMaterial", "publicKey"],
            {"hint": "x"},
            "exactly one of publicKey",
        ),
        (
            ["verificationMaterial", "x509CertificateChain"],
            {"certificates": []},
            "exactly one of publicKey",
        ),
        (["verificationMaterial", "tlogEntries"], {"not": "a list"}, "expected a list"),
        ([*E0, "logIndex"], "-1", "non-negative"),
        ([*E0, "logIndex"], "1e3", "non-negative"),
        ([*E0, "logIndex"], True, "integer"),
        ([*E0, "logIndex"], str(2**63), "out of range"),
        ([*E0, "logId"], KeyError, "expected a JSON object"),
        ([*E0, "kindVersion", "kind"], "", "non-empty string"),
        ([*E0, "canonicalizedBody"], "!!!", "invalid base64"),
        ([*E0, "inclusionProof"], KeyError, "requires an inclusion proof"),
        (
            [*E0, "inclusionProof", "checkpoint"],
            KeyError,
            "requires an inclusion proof",
        ),
        ([*E0, "inclusionProof", "hashes"], ["AA=="] * 65, "over the limit"),
        (["messageSignature"], KeyError, "found none"),
        (
            ["messageSignature", "messageDigest", "algorithm"],
            "MD5",
            "unsupported digest algorithm",
        ),
        (["messageSignature", "signature"], "", "expected base64"),
        (
            ["dsseEnvelope"],
            {"payload": "", "payloadType": "t", "signatures": [{"sig": "AA=="}]},
            "exactly one of messageSignature",
        ),
    ],
)
def test_malformed_bundles_are_refused(
    v03: dict[str, Any], path: list[Any], value: Any, needle: str
) -> None:
    with pytest.raises(InputError, match=needle):
        _parse(_set(v03, path, value))


def test_v03_may_not_carry_a_chain(sigstore_stack: SigstoreStack) -> None:
    doc = sigstore_stack.sign_blob(b"x").bundle(version="0.2")
    doc["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.3+json"
    with pytest.raises(InputError, match="single certificate"):
        _parse(doc)


def test_v01_requires_a_promise(sigstore_stack: SigstoreStack) -> None:
    with pytest.raises(InputError, match="inclusion promise"):
        _parse(sigstore_stack.sign_blob(b"x").bundle(version="0.1", promise=False))


def test_v01_proof_without_checkpoint_is_ignored(sigstore_stack: SigstoreStack) -> None:
    bundle = _parse(
        sigstore_stack.sign_blob(b"x").bundle(version="0.1", checkpoint=False)
    )
    assert bundle.tlog_entries[0].inclusion_proof is None


@pytest.mark.parametrize("count", [0, 2, 3])
def test_dsse_needs_exactly_one_signature(
    sigstore_stack: SigstoreStack, count: int
) -> None:
    doc = sigstore_stack.attest({"a": "00" * 32}).bundle()
    doc["dsseEnvelope"]["signatures"] = [
        {"sig": base64.b64encode(b"s" * 8).decode(), "keyid": ""}
    ] * count
    with pytest.raises(InputError, match="exactly one signature"):
        _parse(doc)


def test_duplicate_json_keys_are_refused(v03: dict[str, Any]) -> None:
    text = json.dumps(v03)
    doubled = text.replace(
        '"mediaType":',
        '"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "mediaType":',
        1,
    )
    with pytest.raises(InputError, match="duplicate JSON key"):
        Bundle.from_bytes(doubled.encode())


def test_duplicate_entries_and_timestamps_are_refused(v03: dict[str, Any]) -> None:
    entries = v03["verificationMaterial"]["tlogEntries"]
    entries.append(dict(entries[0]))
    with pytest.raises(InputError, match="duplicate log entries"):
        _parse(v03)
    entries.pop()
    stamp = {"signedTimestamp": base64.b64encode(b"stamp").decode()}
    v03["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": [stamp, stamp]
    }
    with pytest.raises(InputError, match="duplicate timestamps"):
        _parse(v03)


def test_limits_apply(v03: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="over the 100-byte limit"):
        _parse(v03, limits=Limits(max_bundle_bytes=100))
    stamps = [
        {"signedTimestamp": base64.b64encode(bytes([i])).decode()} for i in range(3)
    ]
    v03["verificationMaterial"]["timestampVerificationData"] = {
        "rfc3161Timestamps": stamps
    }
    with pytest.raises(InputError, match="over the limit of 2"):
        _parse(v03, limits=Limits(max_timestamps=2))


@pytest.mark.parametrize(
    "data", [b"", b"null", b"[]", b"\xff", b'{"mediaType": 3}', b"{" * 100000]
)
def test_not_a_bundle(data: bytes) -> None:
    with pytest.raises(InputError):
        Bundle.from_bytes(data)


# -- proto3 JSON as Go's protojson reads it (hardening) ------------------------

REAL_V02 = (
    Path(__file__).parents[2]
    / "assets/vectors/bundles/public-good/bundle_v3_github.whl.sigstore"
)


@pytest.fixture
def real() -> dict[str, Any]:
    """A production public-good bundle (the rfc8785 wheel's release signature)."""
    doc: dict[str, Any] = json.loads(REAL_V02.read_bytes())
    return doc


@pytest.mark.parametrize(
    ("where", "alias", "value"),
    [
        ((), "dsse_envelope", {"payload": "", "payloadType": "x", "signatures": []}),
        ((), "message_signature", {"signature": "AAAA"}),
        ((), "verification_material", {}),
        ((), "media_type", "application/vnd.dev.sigstore.bundle+json;version=0.2"),
        (("verificationMaterial",), "tlog_entries", []),
        (("verificationMaterial",), "x509_certificate_chain", {"certificates": []}),
        (("verificationMaterial",), "public_key", {"hint": ""}),
        (("verificationMaterial", "tlogEntries", 0), "log_index", "1"),
        (("verificationMaterial", "tlogEntries", 0), "integrated_time", "1"),
        (("verificationMaterial", "tlogEntries", 0), "canonicalized_body", "e30="),
        (
            ("verificationMaterial", "tlogEntries", 0, "inclusionProof"),
            "tree_size",
            "9",
        ),
        (("messageSignature",), "message_digest", {"algorithm": "SHA2_256"}),
    ],
)
def test_a_field_under_both_spellings_is_refused(
    real: dict[str, Any], where: tuple[Any, ...], alias: str, value: Any
) -> None:
    """Go's protojson sees these as the same field given twice (or two members
    of one oneof); reading only the camelCase one would ignore the other."""
    node = real
    for key in where:
        node = node[key]
    node[alias] = value
    with pytest.raises(InputError, match=r"given twice|exactly one of"):
        _parse(real)


def test_proto_names_alone_are_read_as_protojson_reads_them(
    real: dict[str, Any],
) -> None:
    material = real.pop("verificationMaterial")
    material["tlog_entries"] = material.pop("tlogEntries")
    real["verification_material"] = material
    assert _parse(real).tlog_entries[0].log_index == 79605083


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ((), "messagesignature"),
        ((), "extra"),
        (("verificationMaterial",), "certificates"),
        (("verificationMaterial", "tlogEntries", 0), "logindex"),
        (("verificationMaterial", "tlogEntries", 0, "inclusionProof"), "root"),
    ],
)
def test_unknown_fields_are_refused(
    real: dict[str, Any], where: tuple[Any, ...], field: str
) -> None:
    node = real
    for key in where:
        node = node[key]
    node[field] = "x"
    with pytest.raises(InputError, match=f"unknown field '{field}'"):
        _parse(real)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("logIndex", str(2**53), "out of range"),
        ("logIndex", 2**63, "out of range"),
        ("logIndex", "1" * 4000, "expected a non-negative integer"),
        ("logIndex", "-1", "expected a non-negative integer"),
        ("logIndex", "0x10", "expected a non-negative integer"),
        ("logIndex", True, "expected an integer"),
        ("integratedTime", str(253_402_300_800), "out of range"),  # year 10000
        ("integratedTime", 1.5, "expected a non-negative integer"),
    ],
)
def test_numbers_out_of_range_are_input_errors(
    real: dict[str, Any], field: str, value: Any, needle: str
) -> None:
    real["verificationMaterial"]["tlogEntries"][0][field] = value
    with pytest.raises(InputError, match=needle):
        _parse(real)


def test_thousands_of_digits_in_a_tree_size(real: dict[str, Any]) -> None:
    text = json.dumps(real).replace(
        '"treeSize": "', '"treeSize": ' + "9" * 5000 + ', "x": "', 1
    )
    with pytest.raises(InputError, match="5000 digits"):
        Bundle.from_bytes(text.encode())


def test_nan_and_duplicates_anywhere_are_refused(real: dict[str, Any]) -> None:
    text = json.dumps(real)
    for bad in (
        text.replace('"logIndex"', '"logIndex": NaN, "x"', 1),
        text.replace('{"mediaType"', '{"mediaType": "x", "mediaType"', 1),
    ):
        with pytest.raises(InputError):
            Bundle.from_bytes(bad.encode())
