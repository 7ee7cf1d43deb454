"""Registry authentication: ``WWW-Authenticate`` challenges, scopes, and bearer tokens per the distribution token spec.

The token dance (distribution "Token Authentication Specification", and its
"Token Scope and Access" and "OAuth2 Token Authentication" pages):

1. a request without (or with an insufficient) token is answered ``401``
   with ``WWW-Authenticate: Bearer realm="…",service="…",scope="…"`` and,
   when a token was sent but lacks access, ``error="insufficient_scope"``
   (RFC 6750 §3.1);
2. the client asks the realm for a token for exactly the scopes it needs
   (``GET realm?service=S&scope=A&scope=B``, with basic credentials if it has
   any, anonymously otherwise; or ``POST`` grant_type=refresh_token with an
   identity token, the OAuth2 flow);
3. the answer holds ``token`` (or ``access_token``), ``expires_in`` (default
   60 s) and ``issued_at``.

A token is kept per (realm, service, scope set) and used again only for that
set and only while it is fresh: oras-py 0.2.43 kept one token for everything,
so a second repository, a push after a pull, or a run longer than one token's
life failed with "wrong or missing credentials" (issue #21).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Final

# RFC 7235 §2.1: auth-param = token BWS "=" BWS ( token / quoted-string ).
_PARAM: Final = re.compile(
    r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(?:,|$)'
)
_SCHEME: Final = re.compile(r"\s*,?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s+|$)")
DEFAULT_EXPIRES_IN: Final = 60  # seconds, the token spec's default
# Refresh when this share of a token's life is left (at least 1 s): a token of
# 5 s is renewed after 4 s, one of 300 s after 240 s.
_REFRESH_SHARE: Final = 0.2


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: its scheme (lower case) and parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the registry named (space-separated, as the spec allows)."""
        return tuple(self.params.get("scope", "").split())


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a ``WWW-Authenticate`` value (RFC 7235 §4.1); unparsable parts are skipped."""
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        scheme = _SCHEME.match(header, position)
        if scheme is None:
            break
        position = scheme.end()
        params: dict[str, str] = {}
        while True:
            param = _PARAM.match(header, position)
            if param is None:
                break
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[param.group(1).lower()] = value
            position = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), params))
        if not params and position < len(header) and header[position] not in ", ":
            break
    return challenges


def repository_scope(repository: str, *actions: str) -> str:
    """``repository:NAME:ACTIONS`` (Token Scope Documentation)."""
    return f"repository:{repository}:{','.join(actions)}"


CATALOG_SCOPE: Final = "registry:catalog:*"


def merge_scopes(*groups: tuple[str, ...]) -> tuple[str, ...]:
    """One scope per resource with the union of its actions, in a stable order."""
    actions: dict[str, list[str]] = {}
    for group in groups:
        for scope in group:
            resource, sep, acts = scope.rpartition(":")
            if not sep or not resource:
                continue
            held = actions.setdefault(resource, [])
            held += [a for a in acts.split(",") if a and a not in held]
    return tuple(
        f"{resource}:{','.join(sorted(acts))}"
        for resource, acts in sorted(actions.items())
    )


@dataclass(slots=True)
class Token:
    """A bearer token and when it should be renewed (monotonic clock)."""

    value: str = field(repr=False)
    renew_at: float

    @classmethod
    def issued(
        cls, value: str, expires_in: object, *, now: float | None = None
    ) -> Token:
        """A token the realm just issued, valid ``expires_in`` seconds."""
        lifetime = float(DEFAULT_EXPIRES_IN)
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            lifetime = float(expires_in)
        if lifetime <= 0:
            lifetime = DEFAULT_EXPIRES_IN
        start = time.monotonic() if now is None else now
        return cls(
            value, start + max(lifetime - max(lifetime * _REFRESH_SHARE, 1.0), 0.0)
        )

    def fresh(self, *, now: float | None = None) -> bool:
        """Whether the token may still be sent."""
        return (time.monotonic() if now is None else now) < self.renew_at
