"""Redirects to storage, 429 waits, tag pagination, proxies and the seal, against scripted fronts (#21).

docker-registry's filesystem driver never redirects and never throttles, so
these fronts do what registries in the wild do: answer a blob ``GET``/``HEAD``
with ``307`` to a storage host on a second loopback port, redirect a manifest
where no redirect belongs, answer ``429`` with ``Retry-After``, and page a
tag list with ``Link`` headers. The sealed cases run ``appliance``'s own
registry door (``appliance.load.connect``) in a fresh interpreter with the
seal installed, as the commands run.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from airlock_registry.client import RegistryClient
from airlock_registry.credentials import Credentials
from airlock_registry.tls import TLSOptions
from airlock_registry.transport import RetryPolicy, _retry_after_seconds
from appliance.core.archive.manifest import Descriptor
from appliance.core.errors import InputError
from tests.helpers import fronts, pki, token_server
from tests.helpers import registry as registry_mod

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.helpers.registry import Registry

pytestmark = pytest.mark.network
BLOB = b"stored elsewhere, served by a redirect"
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
USER, PASSWORD = "alice", "front-pw-123"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
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
TYPED = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
# Storage redirects no client can follow, by the blob digest that answers with them.
UNUSABLE = {
    "1" * 64: "http://[::1/data",  # an unclosed IPv6 literal
    "2" * 64: "http://127.0.0.1:99999/data",  # a port out of range
    "3" * 64: "http://sto rage/data",  # a space in the host
}

# Storage redirects to internal addresses a registry may not name (#21 review).
METADATA = "sha256:" + "4" * 64
# AWS's IPv6 metadata address: unique local (RFC 4193), the range in-gap
# storage lives in, and still refused.
METADATA_V6 = "sha256:" + "6" * 64
ANY_ADDRESS = "sha256:" + "5" * 64


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[
        list[tuple[str, str, str | None]]
    ] = []  # (method, path, Authorization)
    storage = ""
    hits: ClassVar[dict[str, int]] = {}

    def _send(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        del format, args


class _Storage(_Handler):
    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        if self.path.startswith(f"/data/{DIGEST}"):
            self._send(200, BLOB)
        else:
            self._send(404)

    do_HEAD = do_GET  # noqa: N815 - http.server's naming


class _Front(_Handler):
    def do_GET(self) -> None:  # noqa: C901, PLR0912 - one branch per scripted answer
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.headers.get("Authorization") != BASIC:
            self._send(401, headers={"WWW-Authenticate": 'Basic realm="front"'})
            return
        path = self.path
        if path == "/v2/":
            self._send(200, b"{}")
        elif path == f"/v2/r/blobs/{DIGEST}":
            self._send(
                307, headers={"Location": f"http://{self.storage}/data/{DIGEST}?sig=x"}
            )
        elif path == "/v2/r/manifests/moved":
            self._send(307, headers={"Location": f"http://{self.storage}/elsewhere"})
        elif path == "/v2/r/manifests/smuggled":
            # urllib.parse reads the host after the backslash (this front),
            # urllib3, which dials, the one before it (the storage host).
            here = self.headers.get("Host")
            location = f"http://{self.storage}\\@{here}/elsewhere"
            self._send(307, headers={"Location": location})
        elif path == f"/v2/r/blobs/{METADATA}":
            # Where clouds serve instance metadata (link-local): never dialled.
            self._send(307, headers={"Location": "http://169.254.169.254/latest/"})
        elif path == f"/v2/r/blobs/{METADATA_V6}":
            self._send(307, headers={"Location": "http://[fd00:ec2::254]/latest/"})
        elif path == f"/v2/r/blobs/{ANY_ADDRESS}":
            # 0.0.0.0 dials this machine (Linux): the storage, by another name.
            port = self.storage.rpartition(":")[2]
            location = f"http://0.0.0.0:{port}/data/{DIGEST}"
            self._send(307, headers={"Location": location})
        elif path.startswith("/v2/r/blobs/sha256:") and path[-64:] in UNUSABLE:
            self._send(307, headers={"Location": UNUSABLE[path[-64:]]})
        elif path == "/v2/r/manifests/busy":
            if self.hits[path] == 1:
                self._send(429, headers={"Retry-After": "1"})
            else:
                self._send(200, MANIFEST, TYPED)
        elif path == "/v2/r/manifests/closed":
            self._send(429, headers={"Retry-After": "3600"})
        elif path == "/v2/r/tags/list?n=2":
            page = json.dumps({"name": "r", "tags": ["a", "b"]}).encode()
            self._send(200, page, {"Link": '</v2/r/tags/list?n=2&last=b>; rel="next"'})
        elif path == "/v2/r/tags/list?n=2&last=b":
            self._send(200, json.dumps({"name": "r", "tags": ["c"]}).encode())
        else:
            self._send(404)

    do_HEAD = do_GET  # noqa: N815 - http.server's naming


@pytest.fixture
def front(loopback: None) -> Iterator[tuple[str, str]]:
    """(front ``host:port``, storage ``host:port``), both plain HTTP on loopback."""
    del loopback
    _Handler.seen.clear()
    _Handler.hits.clear()
    with fronts.serve(_Storage) as storage, fronts.serve(_Front) as httpd:
        _Front.storage = f"127.0.0.1:{storage.server_address[1]}"
        yield f"127.0.0.1:{httpd.server_address[1]}", _Front.storage


def _client(host: str, notices: list[str] | None = None) -> RegistryClient:
    return RegistryClient(
        host,
        plain_http=True,
        login=Credentials(username=USER, password=PASSWORD),
        retry=RetryPolicy(attempts=3, backoff_seconds=(0.01,)),
        notice=(notices.append if notices is not None else None),
    )


def test_a_blob_redirected_to_storage_is_fetched_without_the_registry_credentials(
    front: tuple[str, str], tmp_path: Path
) -> None:
    host, storage = front
    client = _client(host)
    destination = tmp_path / "blob"
    client.blob(
        "r", Descriptor(media_type="x", digest=DIGEST, size=len(BLOB)), destination
    )
    assert destination.read_bytes() == BLOB
    assert client.has_blob("r", DIGEST)  # HEAD follows the redirect too
    at_storage = [s for s in _Handler.seen if s[1].startswith("/data/")]
    assert [s[0] for s in at_storage] == ["GET", "HEAD"]
    assert all(auth is None for _, _, auth in at_storage)  # never forwarded
    assert client.contacted == [host, storage]


def test_a_manifest_redirected_to_another_host_is_refused(
    front: tuple[str, str],
) -> None:
    host, storage = front
    with pytest.raises(InputError) as caught:
        _client(host).manifest("r", "moved")
    line = caught.value.diagnostics()
    assert f"to another host ({storage})" in line
    assert not any(s[1] == "/elsewhere" for s in _Handler.seen)


def test_a_redirect_whose_host_parsers_disagree_on_gets_no_credentials(
    front: tuple[str, str],
) -> None:
    """Attack: ``Location: http://STORAGE\\@REGISTRY/`` looked like the registry
    to the redirect check, so the credentials went to STORAGE, which requests dials."""
    host, storage = front
    with pytest.raises(InputError) as caught:
        _client(host).manifest("r", "smuggled")
    assert f"to another host ({storage})" in caught.value.diagnostics()
    assert not any(s[1].endswith("/elsewhere") for s in _Handler.seen)


@pytest.mark.parametrize("digest", sorted(UNUSABLE))
def test_a_storage_redirect_no_client_can_follow_is_an_input_error(
    front: tuple[str, str], digest: str
) -> None:
    """A registry's unparsable ``Location`` is its fault (exit 2, one line), never an internal error."""
    host, _ = front
    with pytest.raises(InputError) as caught:
        _client(host).has_blob("r", f"sha256:{digest}")
    assert "cannot be" in caught.value.message


def test_429_waits_as_told_and_says_so(front: tuple[str, str]) -> None:
    host, _ = front
    notices: list[str] = []
    fetched = _client(host, notices).manifest("r", "busy")
    assert fetched is not None
    assert len(notices) == 1
    assert (
        "HTTP 429 for manifest r:busy; waiting 1 s (Retry-After) before attempt 2 of 3"
        in notices[0]
    )


def test_a_retry_after_over_the_cap_is_one_clear_error_at_once(
    front: tuple[str, str],
) -> None:
    host, _ = front
    notices: list[str] = []
    with pytest.raises(InputError) as caught:
        _client(host, notices).manifest("r", "closed")
    assert (
        "asks to wait 3600 s (Retry-After), over the 120 s this client waits"
        in caught.value.message
    )
    assert _Handler.hits["/v2/r/manifests/closed"] == 1
    assert notices == []


def test_retry_after_as_an_http_date() -> None:
    assert (
        _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    )  # in the past: now
    assert _retry_after_seconds("soon") is None
    assert _retry_after_seconds("7") == 7.0


def test_list_tags_follows_link_pages(front: tuple[str, str]) -> None:
    host, _ = front
    assert _client(host).list_tags("r", page_size=2) == ["a", "b", "c"]


# -- proxies ------------------------------------------------------------------------


@pytest.fixture
def token_site(tmp_path: Path, loopback: None) -> Iterator[Registry]:
    del loopback
    ca = pki.make_ca(tmp_path / "ca")
    tokens = token_server.start(ca, token_server.Policy(users={USER: PASSWORD}))
    server = registry_mod.start(tmp_path / "reg", ca=ca, token_server=tokens)
    try:
        yield server
    finally:
        server.stop()
        tokens.stop()


@pytest.fixture
def proxy(loopback: None) -> Iterator[fronts.ConnectProxy]:
    del loopback
    running = fronts.ConnectProxy()
    try:
        yield running
    finally:
        running.stop()


def test_the_connected_side_honours_https_proxy_and_no_proxy(
    token_site: Registry, proxy: fronts.ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert token_site.ca is not None
    assert token_site.token_server is not None
    monkeypatch.setenv("HTTPS_PROXY", f"http://{proxy.address}")
    options = TLSOptions(cacert=token_site.ca.cert, certs_d=())
    login = Credentials(username=USER, password=PASSWORD)
    RegistryClient(token_site.address, tls_options=options, login=login).list_tags(
        "p/q"
    )
    realm = token_site.token_server.realm.split("/")[2]
    assert sorted(proxy.tunnels) == sorted([token_site.address, realm])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    RegistryClient(token_site.address, tls_options=options, login=login).list_tags(
        "p/q"
    )
    assert len(proxy.tunnels) == 2


# -- the seal -------------------------------------------------------------------------

_SEALED = textwrap.dedent(
    """
    import json, sys
    from appliance import _seal
    _seal.install()
    from pathlib import Path
    from appliance.actions.registry import RegistryAccess
    from appliance.core.archive.plan import Target
    from appliance.core.errors import InputError
    from appliance.load.connect import registry

    args = json.loads(sys.argv[1])
    access = RegistryAccess(
        plain_http=args["plain_http"],
        login=tuple(args["login"]),
        cacert=Path(args["cacert"]) if args["cacert"] else None,
        allow_hosts=tuple(args["allow_hosts"]),
    )
    contacted = []
    out = {}
    try:
        with registry(Target(host=args["host"]), access=access, contacted=contacted) as client:
            for call in args["calls"]:
                if call[0] == "manifest":
                    out[call[1]] = client.manifest("r", call[1]) is not None
                elif call[0] == "has_blob":
                    out[call[1]] = client.has_blob("r", call[1])
                else:
                    out[call[1]] = client.list_tags(call[1])
    except InputError as exc:
        out["error"] = exc.diagnostics()
    out["contacted"] = contacted
    print(json.dumps(out))
    """
)


def _sealed(env: dict[str, str], **args: object) -> tuple[dict[str, object], str]:
    base = {
        "plain_http": True,
        "login": [USER, PASSWORD],
        "cacert": None,
        "allow_hosts": [],
    }
    done = subprocess.run(
        [sys.executable, "-c", _SEALED, json.dumps({**base, **args})],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(Path.cwd()), **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_the_seal_admits_a_storage_redirect_and_refuses_another_redirect(
    front: tuple[str, str], tmp_path: Path
) -> None:
    host, storage = front
    out, _ = _sealed(
        {"DOCKER_CONFIG": str(tmp_path)},
        host=host,
        calls=[["has_blob", DIGEST], ["manifest", "moved"]],
    )
    assert out[DIGEST] is True
    error = str(out["error"])
    assert f"to another host ({storage})" in error
    assert "--allow-host" in error
    assert out["contacted"] == [host, storage]


@pytest.mark.parametrize(
    ("digest", "netloc"),
    [(METADATA, "169.254.169.254:80"), (METADATA_V6, "[fd00:ec2::254]:80")],
)
def test_the_seal_refuses_a_redirect_to_cloud_instance_metadata(
    front: tuple[str, str], tmp_path: Path, digest: str, netloc: str
) -> None:
    """A loopback registry may send its blobs to loopback storage, not to the metadata service."""
    host, _ = front
    out, _ = _sealed(
        {"DOCKER_CONFIG": str(tmp_path)}, host=host, calls=[["has_blob", digest]]
    )
    error = str(out["error"])
    assert f"refused {netloc}, a cloud instance-metadata address" in error
    assert "named by a storage redirect of blob" in error
    assert "--allow-host" in error
    assert "\n" not in error
    assert netloc not in out["contacted"]  # type: ignore[operator]
    assert out["contacted"] == [host]


def test_the_seal_refuses_a_redirect_to_the_unspecified_address_unless_allowed(
    front: tuple[str, str], tmp_path: Path
) -> None:
    """``0.0.0.0`` reaches this machine's services: refused, then admitted by --allow-host."""
    host, storage = front
    any_address = "0.0.0.0:" + storage.rpartition(":")[2]
    calls = [["has_blob", ANY_ADDRESS]]
    out, _ = _sealed({"DOCKER_CONFIG": str(tmp_path)}, host=host, calls=calls)
    assert f"refused {any_address}, an unspecified address" in str(out["error"])
    assert out["contacted"] == [host]
    assert not any(s[1].startswith("/data/") for s in _Handler.seen)

    out, _ = _sealed(
        {"DOCKER_CONFIG": str(tmp_path)},
        host=host,
        calls=calls,
        allow_hosts=[any_address],
    )
    assert out.get("error") is None, out
    assert out[ANY_ADDRESS] is True
    assert out["contacted"] == [host, any_address]


class _MetadataRealm(_Handler):
    """A registry whose token realm is the cloud's instance-metadata service."""

    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        realm = 'Bearer realm="http://169.254.169.254/latest/meta-data/",service="s"'
        self._send(401, headers={"WWW-Authenticate": realm})


def test_the_seal_refuses_a_token_realm_at_the_metadata_address(
    loopback: None, tmp_path: Path
) -> None:
    del loopback
    _Handler.seen.clear()
    with fronts.serve(_MetadataRealm) as httpd:
        host = f"127.0.0.1:{httpd.server_address[1]}"
        out, _ = _sealed(
            {"DOCKER_CONFIG": str(tmp_path)}, host=host, calls=[["tags", "p/q"]]
        )
    error = str(out["error"])
    assert "refused 169.254.169.254:80, a cloud instance-metadata address" in error
    assert "token realm" in error
    assert "--allow-host" in error
    assert "p/q" not in out
    assert out["contacted"] == [host]


def test_the_sealed_appliance_ignores_an_environment_proxy_and_says_so(
    token_site: Registry, proxy: fronts.ConnectProxy, tmp_path: Path
) -> None:
    assert token_site.ca is not None
    env = {
        "DOCKER_CONFIG": str(tmp_path),
        "HTTPS_PROXY": f"http://user:pw-secret@{proxy.address}",
    }
    out, err = _sealed(
        env,
        host=token_site.address,
        plain_http=False,
        cacert=str(token_site.ca.cert),
        calls=[["tags", "p/q"]],
    )
    assert out.get("error") is None
    assert out["p/q"] == []
    assert proxy.tunnels == []
    assert (
        err.count(f"ignoring the environment's proxy {proxy.address} (HTTPS_PROXY)")
        == 1
    )
    assert "pw-secret" not in err
    assert token_site.token_server is not None
    assert token_site.token_server.realm.split("/")[2] in out["contacted"]  # type: ignore[operator]


def test_the_sealed_appliance_uses_a_proxy_named_with_allow_host(
    token_site: Registry, proxy: fronts.ConnectProxy, tmp_path: Path
) -> None:
    assert token_site.ca is not None
    env = {"DOCKER_CONFIG": str(tmp_path), "HTTPS_PROXY": f"http://{proxy.address}"}
    out, err = _sealed(
        env,
        host=token_site.address,
        plain_http=False,
        cacert=str(token_site.ca.cert),
        allow_hosts=[proxy.address],
        calls=[["tags", "p/q"]],
    )
    assert out.get("error") is None, out
    assert token_site.address in proxy.tunnels
    assert "ignoring" not in err


def test_ipv6_loopback_registry(tmp_path: Path, loopback: None) -> None:
    """``[::1]:PORT`` is admitted by the seal as it is dialled (``::1``)."""
    del loopback
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this kernel")
    server = registry_mod.start(tmp_path / "reg6", bind="::1")
    try:
        digest = server.push_blob("r", BLOB)
        out, _ = _sealed(
            {"DOCKER_CONFIG": str(tmp_path)},
            host=server.address,
            login=["u", "p"],
            calls=[["has_blob", digest]],
        )
        assert out.get("error") is None, out
        assert out[digest] is True
        assert out["contacted"] == [server.address]
    finally:
        server.stop()


class _Downgrade(_Handler):
    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        if self.path == "/v2/":
            self._send(200, b"{}")
        else:
            self._send(
                307, headers={"Location": f"http://{self.storage}/data/{DIGEST}"}
            )

    do_HEAD = do_GET  # noqa: N815 - http.server's naming


def test_https_never_redirects_to_plain_http(
    front: tuple[str, str], tmp_path: Path
) -> None:
    """Even a blob's storage redirect may not leave TLS: never a downgrade."""
    _, storage = front
    ca = pki.make_ca(tmp_path / "ca")
    server = ca.issue("front", server=True)
    _Downgrade.storage = storage
    with fronts.serve(_Downgrade) as httpd:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server.cert, server.key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        host = f"127.0.0.1:{httpd.server_address[1]}"
        client = RegistryClient(
            host, tls_options=TLSOptions(cacert=ca.cert, certs_d=())
        )
        with pytest.raises(
            InputError, match=r"to plain HTTP \(" + storage + r"\): refused"
        ):
            client.has_blob("r", DIGEST)
    assert not any(s[1].startswith("/data/") for s in _Handler.seen)


class _PlainUpload(_Handler):
    """An HTTPS registry whose upload ``Location`` names its own host:port over ``http://``."""

    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self._send(200, b"{}")

    def do_POST(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        here = self.headers.get("Host")
        self._send(202, headers={"Location": f"http://{here}/upload/1"})


def test_https_never_uploads_to_a_plain_http_location(
    front: tuple[str, str], tmp_path: Path
) -> None:
    """Attack: an upload ``Location: http://REGISTRY/...`` (same host and port)
    passed the same-host check, so the blob and the token went out in clear."""
    del front
    ca = pki.make_ca(tmp_path / "ca")
    server = ca.issue("front", server=True)
    with fronts.serve(_PlainUpload) as httpd:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server.cert, server.key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        host = f"127.0.0.1:{httpd.server_address[1]}"
        client = RegistryClient(
            host,
            tls_options=TLSOptions(cacert=ca.cert, certs_d=()),
            retry=RetryPolicy(attempts=1),
        )
        descriptor = Descriptor(media_type="x", digest=DIGEST, size=len(BLOB))
        with pytest.raises(InputError, match=r"plain HTTP"):
            client.push_blob("r", descriptor, [BLOB])
    assert not any(s[0] == "PUT" for s in _Handler.seen)


class _BadToken(_Handler):
    """A token server whose token no HTTP header can carry (a newline in it)."""

    def do_GET(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        here = self.headers.get("Host")
        if self.path.startswith("/token"):
            self._send(200, json.dumps({"token": "tok-secret-42\nx"}).encode())
        else:
            realm = f'Bearer realm="http://{here}/token",service="s"'
            self._send(401, headers={"WWW-Authenticate": realm})


def test_a_token_no_header_can_carry_is_one_line_that_does_not_quote_it(
    loopback: None,
) -> None:
    """requests' InvalidHeader quotes the header value: the token would reach the error line."""
    del loopback
    with fronts.serve(_BadToken) as httpd:
        client = _client(f"127.0.0.1:{httpd.server_address[1]}")
        with pytest.raises(InputError) as caught:
            client.manifest("r", "latest")
    line = caught.value.diagnostics()
    assert "cannot be used (InvalidHeader)" in line
    assert "tok-secret-42" not in line
