"""Small HTTP parts that stand in front of a registry, as sites have them (#21).

* :class:`ConnectProxy`: an HTTP ``CONNECT`` proxy (what ``HTTPS_PROXY``
  names), recording every tunnel it opened;
* :func:`serve`: a threaded ``http.server`` on loopback for scripted fronts
  (a redirect to storage on a second port, a 429 thrower), stopped by the
  context.
"""

from __future__ import annotations

import contextlib
import http.server
import select
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


class _Tunnel(http.server.BaseHTTPRequestHandler):
    tunnels: list[str]

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        self.tunnels.append(self.path)
        try:
            upstream = socket.create_connection(
                (host.strip("[]"), int(port)), timeout=10
            )
        except OSError:
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        sockets = [self.connection, upstream]
        with upstream:
            while True:
                readable, _, broken = select.select(sockets, [], sockets, 10)
                if broken or not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (
                        upstream if source is self.connection else self.connection
                    ).sendall(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        del format, args


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1; ``tunnels`` lists each ``host:port`` asked for."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        handler = type("Tunnel", (_Tunnel,), {"tunnels": self.tunnels})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


class _V6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def serve(
    handler: type[http.server.BaseHTTPRequestHandler], host: str = "127.0.0.1"
) -> Iterator[http.server.ThreadingHTTPServer]:
    """Serve ``handler`` on a free loopback port for the block."""
    server_class = _V6Server if ":" in host else http.server.ThreadingHTTPServer
    httpd = server_class((host, 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
