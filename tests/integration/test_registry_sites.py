"""The registry transport against docker-registry configured as real sites run it (#21).

Real parts, started here: docker-registry with TLS from a private CA the
test makes, with mutual TLS (``clientcas``), and with ``auth: token``
verifying the JWTs of the token server in ``tests/helpers/token_server.py``
(ES256, x5c, ``access`` claims per scope, short ``expires_in``). Every TLS
test unsets ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``SSL_CERT_DIR`` and
``CURL_CA_BUNDLE``: this machine points them at the system bundle, and a
test that leaves them set proves nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from airlock_registry.client import RegistryClient
from airlock_registry.credentials import Credentials
from airlock_registry.tls import TLSOptions
from airlock_registry.transport import RetryPolicy
from appliance.core.archive.manifest import Descriptor
from appliance.core.errors import InputError
from tests.helpers import pki, token_server
from tests.helpers import registry as registry_mod

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airlock_registry.auth import Token
    from tests.helpers.registry import Registry

pytestmark = [pytest.mark.registry, pytest.mark.network]
USER, PASSWORD = "alice", "s3cret-Token-pw"
BLOB = b"a layer, as far as the registry can tell"


@pytest.fixture(autouse=True)
def _no_env_trust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
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
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


@pytest.fixture
def ca(tmp_path: Path) -> pki.CA:
    return pki.make_ca(tmp_path / "ca")


def _token_site(
    tmp_path: Path, ca: pki.CA, policy: token_server.Policy
) -> Iterator[Registry]:
    tokens = token_server.start(ca, policy)
    try:
        server = registry_mod.start(tmp_path / "reg", ca=ca, token_server=tokens)
    except BaseException:
        tokens.stop()
        raise
    try:
        yield server
    finally:
        server.stop()
        tokens.stop()


@pytest.fixture
def token_site(tmp_path: Path, ca: pki.CA, loopback: None) -> Iterator[Registry]:
    """TLS from the private CA, token auth, tokens that live 300 s."""
    del loopback
    yield from _token_site(tmp_path, ca, token_server.Policy(users={USER: PASSWORD}))


def _client(site: Registry, **kwargs: object) -> RegistryClient:
    assert site.ca is not None
    options = kwargs.pop("tls_options", TLSOptions(cacert=site.ca.cert, certs_d=()))
    return RegistryClient(site.address, tls_options=options, **kwargs)  # type: ignore[arg-type]


def _login() -> Credentials:
    return Credentials(username=USER, password=PASSWORD)


def _descriptor(data: bytes) -> Descriptor:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return Descriptor(
        media_type="application/octet-stream", digest=digest, size=len(data)
    )


def _asked(site: Registry) -> list[tuple[str, ...]]:
    assert site.token_server is not None
    return [a.scopes for a in site.token_server.asked]


# -- token auth ------------------------------------------------------------------


def test_one_token_per_scope_set_two_repositories_and_a_push(
    token_site: Registry,
) -> None:
    """oras-py resent its first token: a second repository and a push after a pull failed."""
    digest = token_site.push_blob("site/one", BLOB)
    token_site.push_blob("site/two", BLOB)
    client = _client(token_site, login=_login())
    assert client.has_blob("site/one", digest)
    assert client.has_blob("site/two", digest)
    assert client.has_blob("site/one", digest)  # the cached token, not a new one
    assert client.mount_blob("site/three", digest, "site/one")
    assert _asked(token_site) == [
        ("repository:site/one:pull",),
        ("repository:site/two:pull",),
        ("repository:site/three:pull,push", "repository:site/one:pull"),
    ]
    assert client.contacted[0] == token_site.address
    assert token_site.token_server is not None
    assert token_site.token_server.realm.split("/")[2] in client.contacted


def test_a_streamed_push_gets_a_push_token_up_front(token_site: Registry) -> None:
    client = _client(token_site, login=_login())
    data = b"streamed in pieces"
    client.push_blob("site/up", _descriptor(data), iter([data[:5], data[5:]]))
    assert token_site.get_blob("site/up", _descriptor(data).digest) == data
    assert _asked(token_site) == [("repository:site/up:pull,push",)]


def test_a_token_is_renewed_before_it_expires(
    tmp_path: Path, ca: pki.CA, loopback: None
) -> None:
    del loopback
    policy = token_server.Policy(users={USER: PASSWORD}, expires_in=2)
    for site in _token_site(tmp_path, ca, policy):
        digest = site.push_blob("site/one", BLOB)
        client = _client(site, login=_login())
        assert client.has_blob("site/one", digest)
        time.sleep(1.7)  # 2 s tokens are renewed after 1 s: well inside their life
        assert client.has_blob("site/one", digest)
        assert _asked(site) == [("repository:site/one:pull",)] * 2


def test_an_invalid_token_is_replaced_once(
    tmp_path: Path, ca: pki.CA, loopback: None
) -> None:
    """The registry answers invalid_token (expired past its leeway): one fresh token, one retry."""
    del loopback
    policy = token_server.Policy(users={USER: PASSWORD}, stale_tokens=1)
    for site in _token_site(tmp_path, ca, policy):
        digest = site.push_blob("site/one", BLOB)
        client = _client(site, login=_login())
        assert client.has_blob("site/one", digest)
        assert len(_asked(site)) == 2


def test_a_refused_push_names_the_scope(
    tmp_path: Path, ca: pki.CA, loopback: None
) -> None:
    del loopback
    policy = token_server.Policy(users={USER: PASSWORD}, push=False)
    for site in _token_site(tmp_path, ca, policy):
        client = _client(site, login=_login())
        with pytest.raises(InputError) as caught:
            client.push_blob("site/up", _descriptor(BLOB), iter([BLOB]))
        line = caught.value.diagnostics()
        assert "did not grant repository:site/up:pull,push" in line
        assert "wrong or missing credentials" not in line
        assert PASSWORD not in line
        assert (
            site.request("HEAD", f"/v2/site/up/blobs/{_descriptor(BLOB).digest}")[0]
            == 404
        )


def test_anonymous_pull_and_anonymous_refused(
    tmp_path: Path, ca: pki.CA, loopback: None
) -> None:
    del loopback
    policy = token_server.Policy(users={USER: PASSWORD}, anonymous_pull=True)
    for site in _token_site(tmp_path, ca, policy):
        digest = site.push_blob("site/pub", BLOB)
        anonymous = _client(site)
        assert anonymous.has_blob("site/pub", digest)
        assert site.token_server is not None
        assert site.token_server.asked[-1].user is None
        with pytest.raises(
            InputError, match="did not grant repository:site/pub:pull,push"
        ):
            anonymous.push_blob("site/pub", _descriptor(b"x"), iter([b"x"]))
        site.token_server.policy.anonymous_pull = False
        with pytest.raises(
            InputError, match="did not grant repository:site/other:pull"
        ):
            anonymous.has_blob("site/other", digest)


def test_a_wrong_password_is_named_and_never_shown(token_site: Registry) -> None:
    client = _client(
        token_site, login=Credentials(username=USER, password="not-it-xyz")
    )
    with pytest.raises(InputError) as caught:
        client.has_blob("site/one", "sha256:" + "0" * 64)
    line = caught.value.diagnostics()
    assert "refused the credentials given (HTTP 401)" in line
    assert token_site.address in line
    assert "not-it-xyz" not in line
    assert "not-it-xyz" not in repr(client.transport.credentials())


def test_docker_config_identity_token_uses_the_oauth2_grant(
    tmp_path: Path, ca: pki.CA, loopback: None
) -> None:
    del loopback
    policy = token_server.Policy(users={USER: PASSWORD}, anonymous_pull=False)
    policy.refresh_tokens["refresh-abc"] = USER
    for site in _token_site(tmp_path, ca, policy):
        config = tmp_path / "docker" / "config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            json.dumps({"auths": {site.address: {"identitytoken": "refresh-abc"}}})
        )
        digest = site.push_blob("site/one", BLOB)
        assert _client(site).has_blob("site/one", digest)
        assert site.token_server is not None
        assert site.token_server.asked[-1].user == USER


def test_docker_config_basic_auth_for_the_token_server(
    token_site: Registry, tmp_path: Path
) -> None:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config.write_text(json.dumps({"auths": {token_site.address: {"auth": auth}}}))
    client = _client(token_site)
    client.push_blob("site/cfg", _descriptor(BLOB), iter([BLOB]))
    assert token_site.token_server is not None
    assert token_site.token_server.asked[-1].user == USER


# -- TLS ---------------------------------------------------------------------------


def test_an_unknown_ca_names_the_host_and_the_fix(token_site: Registry) -> None:
    client = _client(token_site, tls_options=TLSOptions(certs_d=()))
    with pytest.raises(InputError) as caught:
        client.has_blob("site/one", "sha256:" + "0" * 64)
    line = caught.value.diagnostics()
    assert (
        f"TLS to {token_site.address} failed: its certificate is signed by an unknown CA"
        in line
    )
    assert "--registry-cacert" in line
    assert "--allow-http-registry" not in line


def test_certs_d_of_the_host_is_trusted(token_site: Registry, tmp_path: Path) -> None:
    assert token_site.ca is not None
    certs_d = tmp_path / "certs.d"
    (certs_d / token_site.address).mkdir(parents=True)
    (certs_d / token_site.address / "ca.crt").write_bytes(
        token_site.ca.cert.read_bytes()
    )
    client = _client(
        token_site, login=_login(), tls_options=TLSOptions(certs_d=(certs_d,))
    )
    assert client.list_tags("site/none") == []


def test_another_hosts_certs_d_is_not_used(
    token_site: Registry, tmp_path: Path
) -> None:
    assert token_site.ca is not None
    certs_d = tmp_path / "certs.d"
    (certs_d / "127.0.0.1:1").mkdir(parents=True)
    (certs_d / "127.0.0.1:1" / "ca.crt").write_bytes(token_site.ca.cert.read_bytes())
    client = _client(
        token_site, login=_login(), tls_options=TLSOptions(certs_d=(certs_d,))
    )
    with pytest.raises(InputError, match="unknown CA"):
        client.list_tags("site/none")


@pytest.fixture
def mutual_site(tmp_path: Path, ca: pki.CA, loopback: None) -> Iterator[Registry]:
    del loopback
    server = registry_mod.start(tmp_path / "reg", ca=ca, mutual=True)
    try:
        yield server
    finally:
        server.stop()


def test_mutual_tls_with_the_flags(mutual_site: Registry) -> None:
    assert mutual_site.ca is not None
    assert mutual_site.client is not None
    options = TLSOptions(
        cacert=mutual_site.ca.cert,
        client_cert=mutual_site.client.cert,
        client_key=mutual_site.client.key,
        certs_d=(),
    )
    digest = mutual_site.push_blob("m/one", BLOB)
    assert _client(mutual_site, tls_options=options).has_blob("m/one", digest)


def test_mutual_tls_from_certs_d(mutual_site: Registry, tmp_path: Path) -> None:
    assert mutual_site.ca is not None
    assert mutual_site.client is not None
    directory = tmp_path / "certs.d" / mutual_site.address
    directory.mkdir(parents=True)
    (directory / "ca.crt").write_bytes(mutual_site.ca.cert.read_bytes())
    (directory / "client.cert").write_bytes(mutual_site.client.cert.read_bytes())
    (directory / "client.key").write_bytes(mutual_site.client.key.read_bytes())
    options = TLSOptions(certs_d=(tmp_path / "certs.d",))
    assert not _client(mutual_site, tls_options=options).has_blob(
        "m/one", "sha256:" + "1" * 64
    )


@pytest.mark.parametrize("which", ["none", "another CA's"])
def test_mutual_tls_refuses_a_missing_or_wrong_client_certificate(
    mutual_site: Registry, tmp_path: Path, which: str
) -> None:
    assert mutual_site.ca is not None
    options = TLSOptions(cacert=mutual_site.ca.cert, certs_d=())
    if which != "none":
        stranger = pki.make_ca(tmp_path / "stranger").issue("intruder", client=True)
        options = TLSOptions(
            cacert=mutual_site.ca.cert,
            client_cert=stranger.cert,
            client_key=stranger.key,
            certs_d=(),
        )
    with pytest.raises(InputError) as caught:
        _client(mutual_site, tls_options=options).has_blob(
            "m/one", "sha256:" + "1" * 64
        )
    line = caught.value.diagnostics()
    assert mutual_site.address in line
    assert "client" in line
    assert "--registry-client-cert" in line


def test_a_client_certificate_without_its_key_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="together"):
        TLSOptions(client_cert=tmp_path / "c.crt")


def test_an_expired_server_certificate_is_named(
    tmp_path: Path, ca: pki.CA, loopback: None
) -> None:
    del loopback
    server = registry_mod.start(tmp_path / "reg", ca=ca)
    server.stop()
    ca.issue(
        "registry-server", server=True, expired=True
    )  # the same files, now expired
    process = subprocess.Popen(
        ["docker-registry", "serve", str(tmp_path / "reg" / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    once = RetryPolicy(attempts=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            client = RegistryClient(
                server.address,
                retry=once,
                tls_options=TLSOptions(cacert=ca.cert, certs_d=()),
            )
            with pytest.raises(InputError) as caught:
                client.has_blob("x/y", "sha256:" + "2" * 64)
            if "cannot reach" in caught.value.message and time.monotonic() < deadline:
                time.sleep(0.05)  # still starting
                continue
            assert "its certificate has expired" in caught.value.diagnostics()
            break
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_clients_sharing_a_token_cache_ask_once(token_site: Registry) -> None:
    """The exporter's per-thread clients of one registry share its tokens."""
    digest = token_site.push_blob("site/one", BLOB)
    shared: dict[tuple[str, str, tuple[str, ...]], Token] = {}
    for _ in range(3):
        client = _client(token_site, login=_login(), tokens=shared)
        assert client.has_blob("site/one", digest)
    assert _asked(token_site) == [("repository:site/one:pull",)]
