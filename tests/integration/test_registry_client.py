"""The exporter's registry client against a scripted HTTP server on loopback.

docker-registry never fails on purpose and has no referrers API; this server
does what registries in the wild do: answer 503 and 429 (with Retry-After),
announce a wrong ``Docker-Content-Digest``, serve other bytes than the digest
asked for, page a referrers list with ``Link`` headers, or point a page at
another host.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from typing import TYPE_CHECKING, Any

import pytest

from airlock_registry.client import RegistryClient, RetryPolicy
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Iterator

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
SUBJECT = "sha256:" + "5" * 64
OTHER = "sha256:" + "6" * 64


def _index(*digests: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": d,
                    "size": 10,
                    "artifactType": "x",
                }
                for d in digests
            ],
        }
    ).encode()


class _Script:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.port = 0


def _handler(script: _Script) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path
            script.hits[path] = script.hits.get(path, 0) + 1
            typed = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
            routes: dict[str, Any] = {
                "/v2/": lambda: self._send(200, b"{}"),
                "/v2/r/manifests/flaky": lambda: (
                    self._send(503, headers={"Retry-After": "0"})
                    if script.hits[path] <= 2
                    else self._send(
                        200, MANIFEST, {**typed, "Docker-Content-Digest": DIGEST}
                    )
                ),
                "/v2/r/manifests/busy": lambda: self._send(
                    429, headers={"Retry-After": "0"}
                ),
                "/v2/r/manifests/lying": lambda: self._send(
                    200, MANIFEST, {**typed, "Docker-Content-Digest": OTHER}
                ),
                f"/v2/r/manifests/{OTHER}": lambda: self._send(200, MANIFEST, typed),
                f"/v2/r/referrers/{SUBJECT}": lambda: self._send(
                    200,
                    _index(OTHER),
                    {"Link": f'</v2/r/referrers/{SUBJECT}?last=x>; rel="next"'},
                ),
                f"/v2/r/referrers/{SUBJECT}?last=x": lambda: self._send(
                    200, _index(DIGEST)
                ),
                f"/v2/r/referrers/{OTHER}": lambda: self._send(
                    200,
                    _index(),
                    {
                        "Link": f'<http://evil.example/v2/r/referrers/{OTHER}?n=2>; rel="next"'
                    },
                ),
            }
            routes.get(path, lambda: self._send(404, b"404 page not found"))()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            del format, args

    return Handler


@pytest.fixture
def server(loopback: None) -> Iterator[tuple[RegistryClient, _Script]]:
    del loopback
    script = _Script()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{httpd.server_address[1]}"
    try:
        yield (
            RegistryClient(
                host,
                plain_http=True,
                retry=RetryPolicy(attempts=4, backoff_seconds=(0.01,)),
            ),
            script,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_transient_failures_are_retried(server: tuple[RegistryClient, _Script]) -> None:
    client, script = server
    fetched = client.manifest("r", "flaky")
    assert fetched is not None
    assert fetched.digest == DIGEST
    assert script.hits["/v2/r/manifests/flaky"] == 3


def test_persistent_throttling_ends_in_one_clear_error(
    server: tuple[RegistryClient, _Script],
) -> None:
    client, script = server
    with pytest.raises(
        InputError, match=r"HTTP 429 for manifest r:busy \(after 4 attempts\)"
    ) as caught:
        client.manifest("r", "busy")
    assert caught.value.reason is Reason.INPUT_UNREADABLE
    assert script.hits["/v2/r/manifests/busy"] == 4


def test_a_wrong_announced_digest_is_refused(
    server: tuple[RegistryClient, _Script],
) -> None:
    client, _ = server
    with pytest.raises(
        InputError, match=f"served bytes whose sha256 is {DIGEST}, not {OTHER}"
    ) as caught:
        client.manifest("r", "lying")
    assert caught.value.reason is Reason.DIGEST_MISMATCH


def test_bytes_that_are_not_the_digest_asked_for(
    server: tuple[RegistryClient, _Script],
) -> None:
    client, _ = server
    with pytest.raises(InputError, match="not " + OTHER):
        client.manifest("r", OTHER)


def test_absent_is_none_not_an_error(server: tuple[RegistryClient, _Script]) -> None:
    client, _ = server
    assert client.manifest("r", "nothing-here") is None


def test_referrers_are_paged_and_told_apart_from_no_api(
    server: tuple[RegistryClient, _Script],
) -> None:
    client, _ = server
    listed = client.referrers("r", SUBJECT)
    assert [d.digest for d in listed or []] == [OTHER, DIGEST]
    assert client.referrers("r", DIGEST) is None  # 404: no referrers API


def test_a_page_on_another_host_is_refused(
    server: tuple[RegistryClient, _Script],
) -> None:
    client, _ = server
    with pytest.raises(InputError, match="points to another host"):
        client.referrers("r", OTHER)
