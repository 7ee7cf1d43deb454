"""SemVer 2.0.0 tags and ranges (bundle_tools.semver): strict, and totally ordered."""

from __future__ import annotations

import pytest

from appliance.core.errors import InputError, Reason
from bundle_tools.semver import parse_range, parse_version

# semver.org §11.4's own example, in ascending precedence.
PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "v1.0.1",
    "1.10.0",
    "2.0.0",
]


def test_precedence_is_semver_org_s_example() -> None:
    versions = [parse_version(t) for t in PRECEDENCE]
    assert all(v is not None for v in versions)
    assert sorted(versions[5:] + versions[:5]) == versions  # type: ignore[type-var]


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "1.2",
        "1",
        "01.2.3",
        "1.02.3",
        "1.2.3.4",
        "1.2.3-",
        "1.2.3-01",
        "1.2.3+",
        "V1.2.3",
        "vv1.2.3",
        " 1.2.3",
        "1.2.3\n",
        "sha256-abc.sig",
        "1.2.3-rc..1",
        "1" * 300 + ".0.0",
    ],
)
def test_what_is_not_semver_is_not_a_version(tag: str) -> None:
    assert parse_version(tag) is None


def test_build_metadata_does_not_change_precedence_but_ties_are_ordered() -> None:
    a, b = parse_version("1.2.3+a"), parse_version("1.2.3+b")
    assert a is not None
    assert b is not None
    assert a.precedence() == b.precedence()
    assert a < b  # by the tag text: every ordering total, every export reproducible


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (">=1.4, <2", ["1.4.0", "v1.4.0", "1.9.99"], ["1.3.9", "2.0.0", "1.5.0-rc.1"]),
        ("=1.4", ["1.4.0", "1.4.0+build"], ["1.4.1", "1.3.0"]),
        ("==1.4.2", ["1.4.2"], ["1.4.3"]),
        (">1.0.0", ["1.0.1"], ["1.0.0", "0.9.0"]),
        ("<=1.2", ["1.2.0", "0.0.1"], ["1.2.1"]),
        ("< 1", ["0.9.9"], ["1.0.0"]),
    ],
)
def test_ranges(text: str, inside: list[str], outside: list[str]) -> None:
    rng = parse_range(text, where="set.toml:3")
    for tag in inside:
        version = parse_version(tag)
        assert version is not None
        assert rng.contains(version), tag
    for tag in outside:
        version = parse_version(tag)
        assert version is not None
        assert not rng.contains(version), tag


def test_prereleases_only_when_asked_for() -> None:
    rng = parse_range(">=1.5.0-rc.1, <2", where="x")
    rc = parse_version("1.5.0-rc.2")
    assert rc is not None
    assert not rng.contains(rc)
    assert rng.contains(rc, prereleases=True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "1.4",
        "~1.4",
        "^1.4",
        ">=1.4 <2",
        ">=x",
        ">=1.4,",
        "=>1",
        ">=01",
        ",".join(["<9"] * 9),
        ">=" + "1" * 300,
    ],
)
def test_bad_ranges_are_usage_errors_naming_the_line(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_range(text, where="set.toml:7")
    assert caught.value.reason == Reason.USAGE
    assert caught.value.where == "set.toml:7"
