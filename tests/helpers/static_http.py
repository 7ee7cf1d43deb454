"""Any static web server: a directory served over loopback HTTP, as nginx would serve it.

The gap-local TUF repository is meant for exactly this (docs/handoff.md §4):
clients fetch files by path, nothing else. Loopback is admitted only while
the server runs.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from typing import TYPE_CHECKING

from tests.helpers import netguard

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        del format, args  # tests assert on behaviour, not logs


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1; yield its base URL (no trailing slash)."""
    handler = functools.partial(_Quiet, directory=str(directory))
    with netguard.loopback():
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
