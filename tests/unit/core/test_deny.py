"""``[[deny]]`` entries: what the policy accepts, every refusal naming its line, and what each entry matches."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core import keys
from appliance.core.certs import Identity
from appliance.core.deny import DenyKind, DenyList, parse_serial
from appliance.core.errors import InputError, Reason
from appliance.core.policyfile import PolicySpec
from appliance.core.report import TimeSource, VerificationResult

if TYPE_CHECKING:
    from appliance.core.deny import Denial

RULES = """\
version = 1

[[rules]]
match = ["**"]

  [[rules.signers]]
  identity = "release@acme.example"
  issuer = "https://issuer.example"
"""
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
LOG_ID = bytes.fromhex("c0" * 32)
SIGNED = datetime(2026, 11, 1, 12, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1()).public_key()
PEM = KEY.public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _spec(deny: str) -> PolicySpec:
    return PolicySpec.from_toml(
        (RULES + textwrap.dedent(deny)).encode(), source="policy.toml"
    )


def _denials(deny: str) -> tuple[Denial, ...]:
    return _spec(deny).deny_list(lambda _: PEM).entries


def _result(
    *,
    when: datetime | None = SIGNED,
    san: str | None = "release@acme.example",
    key: bool = False,
) -> VerificationResult:
    return VerificationResult(
        signer=san or "key",
        issuer=None if key else "https://issuer.example",
        signing_time=when,
        time_source=TimeSource.TRANSPARENCY_LOG if when else TimeSource.NONE,
        log_index=7,
        log_url="https://rekor.example",
        bundle_version="0.3",
        content="dsse",
        identity=None
        if key or san is None
        else Identity(sans=(san,), issuer="https://issuer.example", extensions={}),
        key_id=keys.key_id(KEY) if key else None,
        log_entries=((LOG_ID, 7),),
        certificate_serials=() if key else (0x1234, 0xBEEF),
    )


ENTRIES = {
    "digest": f'digest = "{DIGEST}"',
    "identity": 'identity = "release@acme.example"\nissuer = "https://issuer.example"',
    "identity_regexp": 'identity_regexp = "@acme\\\\.example$"\nissuer_regexp = "^https://issuer"',
    "key": 'key = "keys/stolen.pub"',
    "key_id": f'key_id = "{keys.key_id(KEY).hex()}"',
    "log": f'log = "{LOG_ID.hex()}:7"',
    "leaf_serial": 'certificate_serial = "12:34"',
    "ca_serial": 'certificate_serial = "0xBEEF"',
}
KINDS = {
    "digest": DenyKind.DIGEST,
    "identity": DenyKind.IDENTITY,
    "identity_regexp": DenyKind.IDENTITY,
    "key": DenyKind.KEY,
    "key_id": DenyKind.KEY,
    "log": DenyKind.LOG,
    "leaf_serial": DenyKind.CERTIFICATE_SERIAL,
    "ca_serial": DenyKind.CERTIFICATE_SERIAL,
}


def _entry(name: str, since: str = "") -> str:
    dated = f"\nsince = {since}" if since else ""
    return f'\n[[deny]]\n{ENTRIES[name]}\nreason = "CVE-2026-1234"{dated}\n'


def _denied(entries: tuple[Denial, ...], name: str) -> Denial | None:
    result = _result(key=name.startswith("key"))
    return DenyList(entries=entries).signature(result, subject=DIGEST)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_kind_undated_denies_its_signature(name: str) -> None:
    entries = _denials(_entry(name))
    assert [e.kind for e in entries] == [KINDS[name]]
    assert entries[0].where == "policy.toml:10"
    if name == "digest":
        # Undated, a digest fails the image itself, whatever signed it.
        assert DenyList(entries=entries).image([OTHER, DIGEST]) is entries[0]
        assert _denied(entries, name) is None
        return
    denial = _denied(entries, name)
    assert denial is entries[0]
    assert denial.describe() == (
        f"deny entry policy.toml:10 ({KINDS[name].value}): CVE-2026-1234"
    )
    assert DenyList(entries=entries).image([DIGEST]) is None


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_kind_dated_after_the_signature_lets_it_count(name: str) -> None:
    entries = _denials(_entry(name, since="2026-11-30T00:00:00Z"))
    assert entries[0].since == datetime(2026, 11, 30, tzinfo=UTC)
    assert _denied(entries, name) is None
    assert DenyList(entries=entries).image([DIGEST]) is None


@pytest.mark.parametrize("name", sorted(ENTRIES))
@pytest.mark.parametrize("since", ["2026-10-01T00:00:00Z", "2026-11-01T12:00:00Z"])
def test_each_kind_dated_at_or_before_the_signature_denies_it(
    name: str, since: str
) -> None:
    entries = _denials(_entry(name, since=since))
    assert _denied(entries, name) is entries[0]
    assert "since" in entries[0].describe()


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_a_signature_without_a_verified_time_falls_under_a_dated_entry(
    name: str,
) -> None:
    entries = _denials(_entry(name, since="2030-01-01T00:00:00Z"))
    result = _result(when=None, key=name.startswith("key"))
    assert DenyList(entries=entries).signature(result, subject=DIGEST) is entries[0]


@pytest.mark.parametrize(
    "entry",
    [
        f'digest = "{OTHER}"',
        'identity = "other@acme.example"\nissuer = "https://issuer.example"',
        'identity = "release@acme.example"\nissuer = "https://other.example"',
        'identity_regexp = "@evil\\\\.example$"\nissuer = "https://issuer.example"',
        f'key_id = "{"00" * 32}"',
        f'log = "{LOG_ID.hex()}:8"',
        f'log = "{"c1" * 32}:7"',
        'certificate_serial = "1235"',
    ],
)
def test_an_entry_naming_someone_else_denies_nothing(entry: str) -> None:
    text = f'\n[[deny]]\n{entry}\nreason = "r"\nsince = 2020-01-01T00:00:00Z\n'
    deny = DenyList(entries=_denials(text))
    assert deny.signature(_result(), subject=DIGEST) is None
    assert deny.signature(_result(key=True), subject=DIGEST) is None
    assert deny.image([DIGEST]) is None


def test_an_identity_entry_never_names_a_key_signature() -> None:
    deny = DenyList(entries=_denials(_entry("identity")))
    assert deny.signature(_result(key=True), subject=DIGEST) is None


@pytest.mark.parametrize(
    ("entry", "line", "words"),
    [
        ('digest = "sha256:ab"\nreason = "r"', 11, "64 lowercase hex"),
        (f'digest = "{DIGEST}"', 10, "needs a reason"),
        (f'digest = "{DIGEST}"\nreason = ""', 12, "empty"),
        (
            f'digest = "{DIGEST}"\nkey_id = "{"00" * 32}"\nreason = "r"',
            13,
            "exactly one",
        ),
        ('reason = "r"', 11, "exactly one"),
        ('identity = "a@b"\nreason = "r"', 11, "exactly one of issuer"),
        ('issuer = "https://i"\nreason = "r"', 12, "exactly one"),
        (
            f'digest = "{DIGEST}"\nissuer = "https://i"\nreason = "r"',
            12,
            "issuer belongs",
        ),
        (
            'identity = "a"\nidentity_regexp = "a"\nissuer = "i"\nreason = "r"',
            11,
            "not both",
        ),
        ('identity_regexp = "("\nissuer = "i"\nreason = "r"', 11, "regular expression"),
        ('key = "a.pub"\nkey_id = "ab"\nreason = "r"', 11, "not both"),
        ('key_id = "abcd"\nreason = "r"', 11, "64 hex"),
        ('log = "abc:1"\nreason = "r"', 11, "log id in hex"),
        ('log = "abcd"\nreason = "r"', 11, "log id in hex"),
        ('log = "abcd:-1"\nreason = "r"', 11, "log id in hex"),
        ('certificate_serial = "zz"\nreason = "r"', 11, "hex"),
        ('certificate_serial = 12\nreason = "r"', 11, "must be a string"),
        (f'digest = "{DIGEST}"\nreason = "r"\nsince = 2026-11-30', 13, "offset"),
        (
            f'digest = "{DIGEST}"\nreason = "r"\nsince = 2026-11-30T00:00:00',
            13,
            "offset",
        ),
        (f'digest = "{DIGEST}"\nreason = "r"\nsince = "2026-11-30"', 13, "offset"),
        (f'digest = "{DIGEST}"\nreason = "r"\nwhy = "x"', 13, "unknown key 'why'"),
    ],
)
def test_refusals_name_the_line(entry: str, line: int, words: str) -> None:
    with pytest.raises(InputError) as caught:
        _spec(f"\n[[deny]]\n{entry}\n")
    assert caught.value.reason is Reason.USAGE
    assert caught.value.where == f"policy.toml:{line}"
    assert words in caught.value.message


def test_a_deny_key_file_that_is_not_a_key_names_the_entry() -> None:
    spec = _spec(_entry("key"))
    with pytest.raises(InputError) as caught:
        spec.deny_list(lambda _: b"not a key")
    assert caught.value.where == "policy.toml:10"


def test_the_second_entry_is_found_on_its_own_line() -> None:
    with pytest.raises(InputError) as caught:
        _spec(_entry("digest") + '\n[[deny]]\nlog = "zz:1"\nreason = "r"\n')
    assert caught.value.where == "policy.toml:15"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('revocation_keys = "a.pub"\n', "list of PEM"),
        ('revocation_keys = [""]\n', "list of PEM"),
        ('max_revocation_age = "7d"\n', "needs revocation_keys"),
        ('revocation_keys = ["a.pub"]\nmax_revocation_age = 7\n', "duration"),
        ('revocation_keys = ["a.pub"]\nmax_revocation_age = "7 days"\n', "duration"),
        ('deny = "everything"\n', "[[deny]] tables"),
    ],
)
def test_feed_settings_refusals(text: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        PolicySpec.from_toml(
            (text + RULES.replace("version = 1\n", "")).encode(), source="p"
        )
    assert words in caught.value.message
    assert caught.value.where in {"p:1", "p:2"}


def test_feed_settings_parse() -> None:
    spec = PolicySpec.from_toml(
        (
            'revocation_keys = ["sec.pub"]\nmax_revocation_age = "7d"\n'
            + RULES.replace("version = 1\n", "")
        ).encode(),
        source="p",
    )
    assert spec.revocation_keys == ("sec.pub",)
    assert spec.max_revocation_age is not None
    assert spec.max_revocation_age.days == 7


@pytest.mark.parametrize(
    ("text", "value"),
    [("12:34", 0x1234), ("0xBEEF", 0xBEEF), ("beef", 0xBEEF), ("0" * 40, 0)],
)
def test_serials(text: str, value: int) -> None:
    assert parse_serial(text) == value


@pytest.mark.parametrize("text", ["", "0x", "g1", "1" * 65, ":"])
def test_bad_serials(text: str) -> None:
    assert parse_serial(text) is None
