"""A token server as Docker Hub, Harbor or GitLab run one, for docker-registry's ``auth: token``.

It answers ``GET /token?service=S&scope=...`` (distribution token spec,
"Requesting a Token") with a JWT the registry really verifies: ES256, the
signing certificate in the ``x5c`` header, that certificate in the
registry's ``rootcertbundle``; ``access`` claims granting what the policy
allows of each scope asked; ``exp`` from ``expires_in``. ``POST /token``
takes an OAuth2 refresh token (``grant_type=refresh_token``). Every request
is recorded (scopes asked, whether credentials came), so tests can prove a
token is asked per scope set and renewed.
"""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

if TYPE_CHECKING:
    from tests.helpers.pki import CA, Issued

ISSUER = "airlock-test-issuer"
SERVICE = "registry.test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Policy:
    """Who may do what. ``users`` maps user to password; refresh tokens map to a user."""

    users: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    anonymous_pull: bool = True
    push: bool = True  # False: a token server that refuses push to everyone
    expires_in: int = 300
    # Issue the next N tokens already expired (past the registry's 60 s leeway)
    # while announcing expires_in: the registry answers invalid_token.
    stale_tokens: int = 0


@dataclass
class Asked:
    """One token request as the server saw it."""

    scopes: tuple[str, ...]
    user: str | None


class TokenServer:
    """An HTTPS token server on loopback, signing with ``signer``."""

    def __init__(self, signer: Issued, server_cert: Issued, policy: Policy) -> None:
        self.signer = signer
        self.policy = policy
        self.asked: list[Asked] = []
        self._lock = threading.Lock()
        handler = _handler(self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server_cert.cert, server_cert.key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        """The URL the registry names in its challenge."""
        return f"https://127.0.0.1:{self.httpd.server_address[1]}/token"

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def grant(
        self, scopes: tuple[str, ...], user: str | None
    ) -> list[dict[str, object]]:
        """The ``access`` claim for ``scopes`` under the policy."""
        access: list[dict[str, object]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            allowed = [
                a
                for a in wanted
                if (a == "pull" and (user is not None or self.policy.anonymous_pull))
                or (
                    a in ("push", "delete", "*")
                    and user is not None
                    and self.policy.push
                )
            ]
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        return access

    def mint(
        self, access: list[dict[str, object]], *, subject: str = "", stale: bool = False
    ) -> str:
        """A JWT the registry accepts (ES256, x5c), granting ``access``."""
        der = self.signer.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        shift = -1000 if stale else 0
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + shift + self.policy.expires_in,
            "nbf": now + shift - 1000,
            "iat": now + shift,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        )
        signature = self.signer.private_key.sign(
            signing_input.encode(), ec.ECDSA(hashes.SHA256())
        )
        r, s = decode_dss_signature(signature)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def answer(self, scopes: tuple[str, ...], user: str | None) -> dict[str, object]:
        """The JSON body of a token response."""
        with self._lock:
            self.asked.append(Asked(scopes, user))
            stale = self.policy.stale_tokens > 0
            if stale:
                self.policy.stale_tokens -= 1
        token = self.mint(self.grant(scopes, user), subject=user or "", stale=stale)
        return {
            "token": token,
            "access_token": token,
            "expires_in": self.policy.expires_in,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def _handler(server: TokenServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, status: int, doc: dict[str, object]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _user(self) -> tuple[bool, str | None]:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return True, None
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return server.policy.users.get(user) == password, user

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            if parts.path != "/token" or query.get("service") != [SERVICE]:
                self._reply(400, {"errors": [{"code": "UNSUPPORTED"}]})
                return
            ok, user = self._user()
            if not ok:
                self._reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                return
            self._reply(200, server.answer(tuple(query.get("scope", [])), user))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            user = server.policy.refresh_tokens.get(form.get("refresh_token", [""])[0])
            if form.get("grant_type") != ["refresh_token"] or user is None:
                self._reply(401, {"error": "invalid_grant"})
                return
            scopes = tuple(form.get("scope", [""])[0].split())
            self._reply(200, server.answer(scopes, user))

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            del format, args

    return Handler


def start(ca: CA, policy: Policy | None = None) -> TokenServer:
    """A token server with its signing certificate and a TLS certificate from ``ca``."""
    signer = ca.issue("token-signer")
    tls = ca.issue("token-server", server=True)
    return TokenServer(signer, tls, policy or Policy())
