"""The one door to a registry: the seal's permit for its host and port, and a client, for one block."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from airlock_registry.client import RegistryClient
from airlock_registry.credentials import Credentials
from appliance import _seal

if TYPE_CHECKING:
    from collections.abc import Iterator

    from appliance.core.archive.plan import Target


@contextlib.contextmanager
def registry(
    target: Target, *, plain_http: bool, login: tuple[str, str] | None
) -> Iterator[RegistryClient]:
    """A client of ``target``, with the seal admitting its host and port (and nothing else) meanwhile.

    Args:
        target: the registry the operator named.
        plain_http: speak HTTP (``--allow-http-registry``).
        login: ``(username, password)`` the operator gave, else the Docker config's.
    """
    credentials = (
        None if login is None else Credentials(username=login[0], password=login[1])
    )
    with _seal.permit(target.hostname, target.port_for(plain_http=plain_http)):
        client = RegistryClient(target.host, plain_http=plain_http, login=credentials)
        try:
            yield client
        finally:
            client.close()
