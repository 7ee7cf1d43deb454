"""What the transport asks the seal to admit: ``host:port`` as it will be dialled.

A host the registry names (a token realm, a storage redirect) is put to
``admit`` before it is contacted. When its URL writes no port, the port
dialled is the scheme's default (RFC 9110 §4.2.1, §4.2.2), and that is the
port the seal must admit: a plain-HTTP realm admitted at 443 would be refused
when dialled at 80. Nothing here opens a socket.
"""

from __future__ import annotations

import pytest

from airlock_registry.transport import Transport


def _admitted(url: str, *, plain_http: bool = False) -> list[str]:
    asked: list[str] = []
    transport = Transport(
        "registry.test:5000",
        plain_http=plain_http,
        admit=lambda netloc, _why: asked.append(netloc),
    )
    transport._origin(url, "token realm")
    return asked


@pytest.mark.parametrize(
    ("url", "admitted"),
    [
        ("http://auth.test/token", "auth.test:80"),
        ("https://auth.test/token", "auth.test:443"),
        ("http://auth.test:8080/token", "auth.test:8080"),
        ("https://[::1]/token", "[::1]:443"),
        ("http://[::1]:5001/token", "[::1]:5001"),
        ("https://storage.test/blob?sig=x", "storage.test:443"),
    ],
)
def test_a_named_host_is_admitted_at_the_port_it_is_dialled(
    url: str, admitted: str
) -> None:
    assert _admitted(url, plain_http=url.startswith("http:")) == [admitted]


def test_the_registry_itself_is_not_put_to_admit() -> None:
    assert _admitted("http://registry.test:5000/v2/", plain_http=True) == []


def test_a_refusal_from_admit_stops_the_origin() -> None:
    def refuse(netloc: str, why: str) -> None:
        raise PermissionError(f"{netloc} ({why})")

    transport = Transport("registry.test:5000", admit=refuse)
    with pytest.raises(PermissionError, match=r"auth\.test:80"):
        transport._origin("http://auth.test/t", "token realm")
