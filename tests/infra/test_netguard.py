"""The suite's network guard: nothing leaves the machine, loopback only on request.

Every real socket here targets 127.0.0.1: a refused connection is proven on
loopback, so a broken guard could never send a packet anywhere else.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

from tests.helpers import netguard
from tests.helpers.netguard import NetworkDeniedError, decide

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def tcp() -> Iterator[socket.socket]:
    """An unconnected TCP socket: decide() looks only at its family."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        yield sock


@pytest.mark.parametrize(
    "address",
    [
        ("10.0.0.1", 443),
        ("192.168.1.1", 80),
        ("172.16.0.1", 80),
        ("8.8.8.8", 53),
        ("198.51.100.7", 5000),
        ("0.0.0.0", 80),  # noqa: S104 - an address under test, never bound
    ],
)
@pytest.mark.parametrize("loopback_allowed", [False, True])
def test_non_loopback_connect_is_always_refused(
    tcp: socket.socket, address: tuple[str, int], loopback_allowed: bool
) -> None:
    assert (
        decide("socket.connect", (tcp, address), loopback_allowed=loopback_allowed)
        is not None
    )


@pytest.mark.parametrize(
    "host", ["example.com", "registry.sigstore.dev", "10.1.2.3", "", None]
)
@pytest.mark.parametrize("loopback_allowed", [False, True])
def test_non_loopback_lookup_is_always_refused(
    host: str | None, loopback_allowed: bool
) -> None:
    assert (
        decide(
            "socket.getaddrinfo",
            (host, 443, 0, 0, 0),
            loopback_allowed=loopback_allowed,
        )
        is not None
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_needs_permission(tcp: socket.socket, host: str) -> None:
    assert (
        decide("socket.connect", (tcp, (host, 80)), loopback_allowed=False) is not None
    )
    assert decide("socket.connect", (tcp, (host, 80)), loopback_allowed=True) is None


def test_unix_sockets_pass() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert (
            decide("socket.connect", (unix, "/run/x.sock"), loopback_allowed=False)
            is None
        )


def test_real_connect_without_permission_is_refused() -> None:
    with netguard.loopback(), socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client,
        pytest.raises(NetworkDeniedError, match=r"socket\.connect"),
    ):
        client.connect(("127.0.0.1", port))
    # The usual client path resolves first, and is stopped there.
    with pytest.raises(NetworkDeniedError, match="name lookup"):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_real_lookup_is_refused_before_any_query() -> None:
    with pytest.raises(NetworkDeniedError, match="name lookup"):
        socket.getaddrinfo("example.com", 443)


def test_http_client_without_permission_is_refused() -> None:
    with pytest.raises((NetworkDeniedError, urllib.error.URLError)):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)


def test_loopback_fixture_admits_a_local_round_trip(loopback: None) -> None:
    del loopback
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
