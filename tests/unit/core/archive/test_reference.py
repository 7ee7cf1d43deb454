"""Image references normalised as docker does (distribution/reference)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.archive.plan import Target
from appliance.core.archive.reference import (
    check_push_target,
    parse_reference,
    shown_target,
)
from appliance.core.errors import InputError, Reason

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "normalised", "api_host"),
    [
        ("alpine", "docker.io/library/alpine:latest", "registry-1.docker.io"),
        ("alpine:3.20", "docker.io/library/alpine:3.20", "registry-1.docker.io"),
        ("org/app", "docker.io/org/app:latest", "registry-1.docker.io"),
        ("docker.io/alpine", "docker.io/library/alpine:latest", "registry-1.docker.io"),
        ("ghcr.io/org/app:v1", "ghcr.io/org/app:v1", "ghcr.io"),
        ("localhost/app", "localhost/app:latest", "localhost"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t", "localhost:5000"),
        ("127.0.0.1:5000/x@" + DIGEST, "127.0.0.1:5000/x@" + DIGEST, "127.0.0.1:5000"),
        ("reg.example/app:v1@" + DIGEST, "reg.example/app:v1@" + DIGEST, "reg.example"),
        ("a_b/c__d/e-f.g", "docker.io/a_b/c__d/e-f.g:latest", "registry-1.docker.io"),
        ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000"),
    ],
)
def test_normalised_as_docker_does(text: str, normalised: str, api_host: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == normalised
    assert ref.api_host == api_host


@pytest.mark.parametrize(
    "text",
    [
        "",
        " alpine",
        "Alpine",
        "org//app",
        "app:",
        "app:" + "t" * 129,
        "app:-tag",
        "app@sha256:" + "AB" * 32,
        "app@sha512:" + "ab" * 64,
        "app@sha256:abc",
        "reg.example/",
        "reg.example:99999999/app",
        "app/../etc",
        "a b",
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(InputError, match="not an image reference"):
        parse_reference(text)


def test_digest_and_tag_helpers() -> None:
    ref = parse_reference("reg.example/app:v1")
    assert str(ref.at(DIGEST)) == f"reg.example/app@{DIGEST}"
    assert str(ref.with_tag("sha256-ab.sig")) == "reg.example/app:sha256-ab.sig"
    assert ref.name == "reg.example/app"


@pytest.mark.parametrize(
    "text",
    [
        "localhost",
        "reg.example",
        "reg.example:5000/mirror",
        "127.0.0.1:5000/a/b-c/d_e/f.g/h__i",
        "[::1]:5000/gap",
        "REG.EXAMPLE/mirror",  # hosts are not case-sensitive
    ],
)
def test_push_targets_accepted(text: str) -> None:
    check_push_target(text)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("reg.example/foo:bar", "no tag"),
        ("reg.example/foo/bar:v1", "no tag"),
        ("reg.example/foo@" + DIGEST, "no digest"),
        ("reg.example/Foo", "'Foo'"),
        ("reg.example/a/../b", "'..'"),
        ("reg.example/a/./b", "'.'"),
        ("reg.example//a", "empty component"),
        ("reg.example/a//b", "empty component"),
        ("reg.example/a/", "empty component"),
        ("reg.example/", "empty component"),
        ("reg.example/a-", "'a-'"),
        ("reg.example/a___b", "'a___b'"),
        ("reg.example/a\x1bb", "'a\\x1bb'"),
        ("reg.example/a b", "spaces"),
        ("reg.example/a\n", "spaces"),
        ("", "empty"),
        ("reg.example/" + "a" * 250, "255"),
        ("reg.example:99999/a", "port 99999"),
        ("reg.example:0/a", "port 0"),
        ("reg_example/a", "not a registry host"),
        ("mirror/app", "with a dot or a port"),
        ("registry", "with a dot or a port"),
        ("reg.example:/a", "not a registry host"),
        ("user@reg.example/a", "credentials do not belong"),
    ],
)
def test_push_targets_refused_naming_the_fault(text: str, named: str) -> None:
    with pytest.raises(InputError, match="expected HOST") as caught:
        check_push_target(text)
    assert named in caught.value.diagnostics()
    assert caught.value.where is not None
    assert caught.value.where.startswith("--to ")
    with pytest.raises(InputError):
        Target.parse(text)


_COMPONENTS = st.from_regex(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", fullmatch=True)
# Prefixes as an operator might type them: good components, some with a
# tag, a digest or a stray character after them, and bad components.
_SUFFIXES = st.sampled_from([":v1", "@" + DIGEST, ":", "@", "A", " ", "\x00", "/"])
_PREFIXES = st.lists(
    st.one_of(
        _COMPONENTS,
        st.tuples(_COMPONENTS, _SUFFIXES).map("".join),
        st.sampled_from(["", ".", "..", "_", "-", "Z"]),
    ),
    max_size=4,
).map("/".join)


@given(prefix=_PREFIXES, path=st.lists(_COMPONENTS, min_size=1, max_size=3))
def test_every_accepted_target_yields_valid_repositories(
    prefix: str, path: list[str]
) -> None:
    """Whatever --to is accepted, every repository pushed under it is in the grammar."""
    text = f"reg.example:5000/{prefix}" if prefix else "reg.example:5000"
    try:
        target = Target.parse(text)
    except InputError:
        return
    exported = "/".join(path)
    pushed = parse_reference(
        f"{target.host}/{target.repository(f'up.example/{exported}')}"
    )
    assert pushed.registry == "reg.example:5000"
    assert pushed.repository == f"{target.prefix}/{exported}".lstrip("/")
    assert (pushed.tag, pushed.digest) == ("latest", None)


@pytest.mark.parametrize(
    "text",
    [
        "user:s3cret@registry.gap:5000",
        "user:s3cret@registry.gap:5000/mirror",
        "s3cret@registry.gap",
        "a:b@c:s3cret@registry.gap/x",
    ],
)
def test_a_password_in_the_registry_name_is_refused_and_never_repeated(
    text: str,
) -> None:
    with pytest.raises(InputError) as caught:
        check_push_target(text)
    assert caught.value.reason is Reason.USAGE
    assert "s3cret" not in caught.value.diagnostics()
    assert "--registry-username" in caught.value.diagnostics()
    assert "s3cret" not in shown_target(text)


def test_a_target_without_credentials_is_shown_as_given() -> None:
    assert shown_target("registry.gap:5000/mirror") == "registry.gap:5000/mirror"
    assert shown_target("registry.gap/a@b") == "registry.gap/a@b"
