"""A loopback front to docker-registry that pages its tag lists, as newer registries do.

Debian's docker-registry 2.8 answers ``/v2/<name>/tags/list`` whole, in
storage order, and ignores ``n`` and ``last``; distribution v3, Harbor, Quay
and the cloud registries page it (distribution-spec §Listing Tags: at most
``n`` tags in lexical order after ``last``, and a ``Link: <...>; rel="next"``
header while more remain). This front serves every other request of the
real registry byte for byte (GET and HEAD, what an export sends) and pages
the real registry's tag list at ``page`` tags at most, whatever larger ``n``
the client asks for, as registries cap it. It counts the pages it served.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from tests.helpers.registry import Registry

_TAGS = re.compile(r"/v2/(?P<name>.+)/tags/list")
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "server", "date"})


@dataclass
class TagPages:
    """Serves 127.0.0.1:``port`` in front of ``backend``, paging tag lists at ``page``."""

    backend: Registry
    page: int = 5
    pages_served: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        """``127.0.0.1:port``."""
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> TagPages:
        """Listen on a free port and serve in the background."""
        front = self

        class Handler(_Handler):
            owner: ClassVar[TagPages] = front

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: ClassVar[TagPages]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        del format, args

    def do_HEAD(self) -> None:
        self._forward("HEAD")

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        match = _TAGS.fullmatch(parts.path)
        if match is None:
            self._forward("GET")
            return
        status, _, body = self._backend("GET", parts.path)
        if status != 200:
            self._reply(status, {"Content-Type": "application/json"}, body)
            return
        query = urllib.parse.parse_qs(parts.query)
        every = sorted(json.loads(body).get("tags") or [])
        after = query.get("last", [""])[0]
        asked = int(query.get("n", ["1000"])[0])
        size = min(asked, self.owner.page)
        rest = [t for t in every if t > after]
        shown = rest[:size]
        headers = {"Content-Type": "application/json"}
        if len(rest) > size:
            link = urllib.parse.urlencode({"n": asked, "last": shown[-1]})
            headers["Link"] = f'</v2/{match["name"]}/tags/list?{link}>; rel="next"'
        with self.owner._lock:
            self.owner.pages_served += 1
        self._reply(
            200, headers, json.dumps({"name": match["name"], "tags": shown}).encode()
        )

    def _backend(
        self, method: str, path: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        backend = self.owner.backend
        conn = http.client.HTTPConnection(backend.host, backend.port, timeout=30)
        try:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "connection")
            }
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _forward(self, method: str) -> None:
        status, headers, body = self._backend(method, self.path)
        kept = {k: v for k, v in headers if k.lower() not in _HOP}
        self._reply(status, kept, body, head=method == "HEAD")

    def _reply(
        self, status: int, headers: dict[str, str], body: bytes, *, head: bool = False
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header(
            "Content-Length", headers.get("Content-Length", str(len(body)))
        )
        self.end_headers()
        if not head:
            self.wfile.write(body)
