"""The trusted-root model: real roots parse; malformed ones are refused whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers.vectors import PUBLIC_GOOD_ROOT, VECTORS
from trustroot.model import TimeRange, TrustedRoot, TrustRootFormatError, parse_time

PG = json.loads(PUBLIC_GOOD_ROOT.read_bytes())


def test_public_good_root() -> None:
    root = TrustedRoot.from_bytes(PUBLIC_GOOD_ROOT.read_bytes())
    assert [log.host for log in root.tlogs] == [
        "rekor.sigstore.dev",
        "log2025-1.rekor.sigstore.dev",
    ]
    assert root.tlogs[0].log_id.hex().startswith("c0d23d6a")
    assert root.tlogs[0].valid_for.start == datetime(
        2021, 1, 12, 11, 53, 27, tzinfo=UTC
    )
    assert len(root.certificate_authorities) == 2
    assert root.certificate_authorities[0].valid_for.end == datetime(
        2022, 12, 31, 23, 59, 59, 999000, tzinfo=UTC
    )
    assert len(root.ctlogs) == 2
    assert len(root.timestamp_authorities) == 1
    assert (
        root.sha256
        == "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"
    )


def test_staging_root() -> None:
    root = TrustedRoot.from_bytes(
        (VECTORS / "trust" / "staging" / "trusted_root.json").read_bytes()
    )
    assert all(log.valid_for.start for log in root.tlogs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-01-12T11:53:27Z", datetime(2021, 1, 12, 11, 53, 27, tzinfo=UTC)),
        (
            "2022-12-31T23:59:59.999Z",
            datetime(2022, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        ),
        (
            "2022-12-31T23:59:59.123456789Z",
            datetime(2022, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
        ),
        (
            "2021-12-18T13:28:12.99008-06:00",
            datetime(2021, 12, 18, 19, 28, 12, 990080, tzinfo=UTC),
        ),
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    assert parse_time(text, where="t") == expected


@pytest.mark.parametrize(
    "text",
    [
        "2021-01-12",
        "2021-01-12 11:53:27Z",
        "yesterday",
        "",
        "2021-01-12T11:53:27.1234567890Z",
        1610452407,
        None,
    ],
)
def test_bad_timestamps(text: object) -> None:
    with pytest.raises(TrustRootFormatError):
        parse_time(text, where="t")


def test_windows_are_inclusive_at_both_ends() -> None:
    start, end = (
        datetime(2023, 1, 1, tzinfo=UTC),
        datetime(2023, 7, 12, 15, 56, 36, tzinfo=UTC),
    )
    window = TimeRange(start=start, end=end)
    assert window.contains(start)
    assert window.contains(end)
    assert not window.contains(datetime(2022, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert not window.contains(datetime(2023, 7, 12, 15, 56, 37, tzinfo=UTC))
    assert TimeRange(start=start, end=None).contains(datetime(2100, 1, 1, tzinfo=UTC))


def _edit(path: list[Any], value: Any) -> bytes:
    doc = json.loads(json.dumps(PG))
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (
            ["mediaType"],
            "application/vnd.dev.sigstore.trustedroot+json;version=9",
            "media type",
        ),
        (["mediaType"], ["not", "a", "string"], "media type"),
        (["tlogs", 0, "publicKey", "validFor", "start"], KeyError, "no start"),
        (["tlogs", 0, "publicKey", "validFor"], KeyError, "expected an object"),
        (
            ["tlogs", 0, "publicKey", "validFor", "end"],
            "2020-01-01T00:00:00Z",
            "ends before it starts",
        ),
        (["tlogs", 0, "publicKey", "rawBytes"], "not base64!", "invalid base64"),
        (["tlogs", 0, "logId", "keyId"], "", "base64"),
        (["tlogs", 0, "baseUrl"], KeyError, "baseUrl"),
        (["tlogs"], {"a": 1}, "expected a list"),
        (
            ["certificateAuthorities", 1, "certChain", "certificates"],
            [],
            "no certificates",
        ),
        (["certificateAuthorities", 1, "validFor", "start"], "not a time", "RFC 3339"),
        (["ctlogs", 0], "a string", "expected an object"),
    ],
)
def test_malformed_roots_are_refused(path: list[Any], value: Any, needle: str) -> None:
    with pytest.raises(TrustRootFormatError, match=needle):
        TrustedRoot.from_bytes(_edit(path, value))


@pytest.mark.parametrize("data", [b"", b"[]", b"null", b"{", b"\xff\xfe", b'"string"'])
def test_not_a_json_object(data: bytes) -> None:
    with pytest.raises(TrustRootFormatError):
        TrustedRoot.from_bytes(data)
