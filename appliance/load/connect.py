"""The one door to a registry: the seal's permit for its host and port, and a client, for one block.

The seal admits the registry the operator named and, for this command only:

* the hosts the registry's own protocol names: its token realm (the
  ``WWW-Authenticate`` challenge) and the storage a blob download is
  redirected to (distribution-spec "Pulling blobs": a ``307`` is allowed);
* the hosts the operator adds with ``--allow-host HOST[:PORT]``.

Every other host is refused with one line naming it and why it was wanted
(the transport asks before it dials). Proxies: an ``HTTPS_PROXY`` in the
environment is used only when its host is named with ``--allow-host``;
otherwise it is ignored and one line says so. Every host contacted is listed
in the audit line (:func:`contacted`).
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from airlock_registry.client import RegistryClient
from airlock_registry.credentials import Credentials
from airlock_registry.tls import TLSOptions
from airlock_registry.transport import HostRefusedError, environment_proxy
from appliance import _seal
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from appliance.actions.registry import RegistryAccess
    from appliance.core.archive.plan import Target


def _split(host: str, default_port: int) -> tuple[str, int]:
    """``(name, port)`` of ``name[:port]`` or ``[v6]:port``; the brackets kept off."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
        return name, int(port) if port.isdigit() else default_port
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, default_port


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _admitter(allowed: set[str]) -> Callable[[str, str], None]:
    def admit(netloc: str, why: str) -> None:
        # The transport asks only for hosts the registry's protocol named
        # (a token realm, a storage redirect) or for an operator's host.
        del why
        name, port = _split(netloc, 443)
        _seal.admit(name, port)
        allowed.add(netloc)

    return admit


@contextlib.contextmanager
def registry(
    target: Target,
    *,
    access: RegistryAccess,
    notice: Callable[[str], None] | None = None,
    contacted: list[str] | None = None,
) -> Iterator[RegistryClient]:
    """A client of ``target``, with the seal admitting its host (and what its protocol names) meanwhile.

    Args:
        target: the registry the operator named.
        access: plain HTTP, credentials, TLS files and extra hosts, as the
            operator gave them.
        notice: where waits and ignored proxies are told (stderr by default).
        contacted: filled with every ``host:port`` contacted (for the audit line).

    Raises:
        InputError: a TLS file flag is unusable, or (from the block) a host
            the seal refused, named.
    """
    say = notice or _say
    login = access.login
    credentials = (
        None if login is None else Credentials(username=login[0], password=login[1])
    )
    tls_options = TLSOptions(
        cacert=access.cacert,
        client_cert=access.client_cert,
        client_key=access.client_key,
    )
    scheme = "http" if access.plain_http else "https"
    proxy = environment_proxy(f"{scheme}://{target.host}/v2/")
    proxies: dict[str, str] = {}
    allowed = set(access.allow_hosts)
    if proxy is not None:
        if proxy.netloc in allowed:
            proxies = {"http": proxy.url, "https": proxy.url}
        else:
            say(
                f"ignoring the environment's proxy {proxy.netloc} ({proxy.variable}): "
                "the sealed appliance uses a proxy only when it is named with --allow-host"
            )
    with _seal.permit(target.hostname, target.port_for(plain_http=access.plain_http)):
        for extra in sorted(allowed):
            _seal.admit(*_split(extra, 443))
        client = RegistryClient(
            target.host,
            plain_http=access.plain_http,
            login=credentials,
            tls_options=tls_options,
            admit=_admitter(allowed),
            proxies=proxies,
            notice=say,
        )
        try:
            yield client
        except HostRefusedError as exc:
            raise InputError(
                f"{exc.message}; name it with --allow-host if it is meant to be reached",
                where=exc.where,
                reason=Reason.INPUT_UNREADABLE,
            ) from exc
        finally:
            if contacted is not None:
                contacted.extend(client.contacted)
            client.close()
