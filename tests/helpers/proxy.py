"""A loopback TCP proxy in front of a real server, that can cut every connection.

Tests use it to make a registry "go down" in the middle of a transfer: once
``cut_after`` bytes have gone towards the server, every connection is closed
and new ones are refused, until :meth:`Proxy.heal`. With ``rate`` it is a slow
link instead (bytes per second towards the server), so that a test can stop
a client in the middle of a push. Nothing is faked about the server behind
it: the bytes that pass are the client's, unchanged.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Proxy:
    """Forwards 127.0.0.1:``port`` to ``backend`` (host, port)."""

    backend: tuple[str, int]
    cut_after: int | None = None  # bytes client -> server before everything is cut
    rate: int | None = None  # bytes per second client -> server (a slow link)
    sent: int = 0
    port: int = 0
    _server: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: list[socket.socket] = field(default_factory=list)
    _down: bool = False

    def start(self) -> Proxy:
        """Listen on a free port and serve in the background."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        self._server, self.port = server, server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @property
    def address(self) -> str:
        """``127.0.0.1:port``."""
        return f"127.0.0.1:{self.port}"

    def heal(self) -> None:
        """Forward again, without a limit, at full speed."""
        with self._lock:
            self._down, self.cut_after, self.rate = False, None, None

    def stop(self) -> None:
        """Close everything."""
        if self._server is not None:
            self._server.close()
        self._cut()
        with self._lock:
            for sock in self._open:
                sock.close()
            self._open.clear()

    def _cut(self) -> None:
        with self._lock:
            self._down = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            # Closing is left to the pumps, which are blocked on these sockets.

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.backend, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            pair = _Pair(client, upstream)
            for source, sink, outbound in (
                (client, upstream, True),
                (upstream, client, False),
            ):
                threading.Thread(
                    target=self._pump, args=(source, sink, outbound, pair), daemon=True
                ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, outbound: bool, pair: _Pair
    ) -> None:
        try:
            while data := source.recv(65536):
                if outbound:
                    with self._lock:
                        self.sent += len(data)
                        over = self.cut_after is not None and self.sent > self.cut_after
                    if over:
                        self._cut()
                        return
                sink.sendall(data)
                rate = self.rate
                if outbound and rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            if pair.done():
                with self._lock:
                    for sock in (pair.a, pair.b):
                        if sock in self._open:
                            self._open.remove(sock)
                        sock.close()


class _Pair:
    """Two sockets joined by two pumps; closed when both pumps have ended."""

    def __init__(self, a: socket.socket, b: socket.socket) -> None:
        self.a, self.b = a, b
        self._ended = 0
        self._lock = threading.Lock()

    def done(self) -> bool:
        with self._lock:
            self._ended += 1
            return self._ended == 2
