"""Image references normalised as docker does (distribution/reference)."""

from __future__ import annotations

import pytest

from appliance.core.archive.reference import parse_reference
from appliance.core.errors import InputError

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
