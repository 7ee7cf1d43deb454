"""``WWW-Authenticate`` parsing, scopes and token lifetimes (airlock_registry.auth, #21).

The challenges are those real registries send (Docker Hub, GHCR, Quay,
Harbor, docker-registry's token and htpasswd modes); RFC 7235 §4.1 allows
several challenges in one header and quoted strings with escapes.
"""

from __future__ import annotations

import pytest

from airlock_registry.auth import (
    DEFAULT_EXPIRES_IN,
    Challenge,
    Token,
    merge_scopes,
    parse_challenges,
    repository_scope,
)


def test_docker_hub_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"'
    )
    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull",
            },
        )
    ]


def test_insufficient_scope_with_several_scopes() -> None:
    header = (
        'Bearer realm="https://t.example/token",service="r",'
        'scope="repository:a:pull,push repository:b:pull",error="insufficient_scope"'
    )
    (challenge,) = parse_challenges(header)
    assert challenge.params["error"] == "insufficient_scope"
    assert challenge.scopes == ("repository:a:pull,push", "repository:b:pull")


def test_two_challenges_in_one_header_and_a_quoted_escape() -> None:
    header = (
        'Basic realm="a \\"quoted\\" realm", Bearer realm="https://t/token",service=svc'
    )
    challenges = parse_challenges(header)
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].params["realm"] == 'a "quoted" realm'
    assert challenges[1].params == {"realm": "https://t/token", "service": "svc"}


@pytest.mark.parametrize("header", ["", "   ", "=", '"just a string"', ",,,"])
def test_nothing_usable_is_no_challenge(header: str) -> None:
    assert [
        c for c in parse_challenges(header) if c.scheme in ("basic", "bearer")
    ] == []


def test_a_scheme_without_parameters() -> None:
    assert parse_challenges("Negotiate") == [Challenge("negotiate", {})]


def test_scopes_merge_per_resource() -> None:
    merged = merge_scopes(
        (repository_scope("a", "pull"),),
        ("repository:a:push", "repository:b:pull", "registry:catalog:*", "nonsense"),
    )
    assert merged == (
        "registry:catalog:*",
        "repository:a:pull,push",
        "repository:b:pull",
    )


def test_a_token_is_renewed_before_it_ends() -> None:
    token = Token.issued("t", 300, now=1000.0)
    assert token.fresh(now=1000.0 + 239)
    assert not token.fresh(now=1000.0 + 240)  # 20 % of its life left: renew


def test_a_short_token_is_renewed_a_second_early() -> None:
    token = Token.issued("t", 3, now=0.0)
    assert token.fresh(now=1.9)
    assert not token.fresh(now=2.0)


@pytest.mark.parametrize("expires_in", [None, "soon", 0, -5, True])
def test_an_absent_or_bad_lifetime_is_the_specs_default(expires_in: object) -> None:
    token = Token.issued("t", expires_in, now=0.0)
    assert token.renew_at == DEFAULT_EXPIRES_IN * 0.8


def test_a_token_never_shows_in_its_repr() -> None:
    assert "secret-jwt" not in repr(Token.issued("secret-jwt", 60))
