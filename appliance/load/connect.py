"""The one door to a registry: the seal's permit for its host and port, and a client, for one block.

The seal admits the registry the operator named and, for this command only:

* the hosts the registry's own protocol names: its token realm (the
  ``WWW-Authenticate`` challenge) and the storage a blob download is
  redirected to (distribution-spec "Pulling blobs": a ``307`` is allowed);
* the hosts the operator adds with ``--allow-host HOST[:PORT]``.

A host the registry names is refused, though, when it is an IP literal in a
loopback, link-local or unspecified range (RFC 6890; ``169.254.169.254`` is
where clouds serve instance metadata) and the registry itself is not on that
kind of address, unless ``--allow-host`` names it (:func:`guarded`): a hostile
registry may not aim the appliance's ``GET`` at the machine's own services.
Cloud instance-metadata addresses (:data:`_METADATA_NETWORKS`) are refused
whatever the registry's own address, unless ``--allow-host`` names them.
Private ranges (RFC 1918, RFC 4193) are let through otherwise: in-gap
registries and their storage live there. Names are not checked (beyond ``localhost``, RFC
6761 §6.3): the seal resolves nothing to decide, so a name that resolves to
such an address is admitted as any other name.

Every other host is refused with one line naming it and why it was wanted
(the transport asks before it dials). Proxies: an ``HTTPS_PROXY`` in the
environment is used only when its host is named with ``--allow-host``;
otherwise it is ignored and one line says so. Every host contacted is listed
in the audit line (:func:`contacted`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
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
    if host.count(":") > 1:
        # A bare IPv6 literal (``--allow-host fd00::5``): with a port it
        # needs brackets (RFC 3986 §3.2.2), so its last group is no port.
        return host, default_port
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, default_port


# RFC 6890 ranges a registry's redirect or realm may not name unless the
# registry is on one too: its own host's services, never a remote store.
_KINDS = (
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("unspecified", "is_unspecified"),
)
# Where clouds serve an instance its own metadata and credentials. Whatever
# range holds the address (link-local, RFC 6598 shared, RFC 4193 unique local,
# even public), it answers only the machine that asks: never a registry's
# storage or token realm, so refused whatever the registry's own address is,
# unless --allow-host names it. From each provider's documentation and SDKs:
# AWS EC2 (169.254.169.254; fd00:ec2::254, the rest of fd00:ec2::/32 its other
# instance services), ECS task metadata (169.254.170.2) and EKS Pod Identity
# (169.254.170.23); Google Cloud (169.254.169.254, fd20:ce::254); Azure
# (169.254.169.254, the WireServer 168.63.129.16); Alibaba Cloud
# (100.100.100.200); Oracle Cloud (169.254.169.254, fd00:c1::a9fe:a9fe, and
# Classic's 192.0.0.192); Scaleway (169.254.42.42, fd00:42::42); OpenStack's
# IPv6 metadata (fe80::a9fe:a9fe); Tencent Cloud (169.254.0.23, which
# metadata.tencentyun.com names); Akamai/Linode (fd00:a9fe:a9fe::1, cloud-init's
# Akamai source); Alibaba Cloud's IPv6 (fd00:100::100:200, cloud-init's).
_METADATA = "cloud instance-metadata"
_METADATA_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.169.254/32",
        "169.254.170.2/32",
        "169.254.170.23/32",
        "169.254.42.42/32",
        "168.63.129.16/32",
        "100.100.100.200/32",
        "192.0.0.192/32",
        "fd00:ec2::/32",
        "fd20:ce::254/128",
        "fd00:c1::a9fe:a9fe/128",
        "fd00:42::42/128",
        "fe80::a9fe:a9fe/128",
        "169.254.0.23/32",
        "fd00:a9fe:a9fe::1/128",
        "fd00:100::100:200/128",
    )
)
# The fully qualified names providers document for their metadata servers
# (Google Cloud's two, Tencent Cloud's): only these names are checked. A name
# resolves to anything, so others are not (``metadata`` alone is a site's
# host as often as Google's search-path shortcut).
_METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata.tencentyun.com"}
)
# One part of an IPv4 literal as inet_aton(3) reads it (hex, octal, decimal),
# which is what getaddrinfo dials: ``127.1`` and ``0x7f000001`` are loopback.
_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_IPV4_MAX_PARTS = 4


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= _IPV4_MAX_PARTS or not all(
        _INET_ATON_PART.fullmatch(p) for p in parts
    ):
        return None
    values = [
        int(p[2:] or "0", 16)
        if p[:2] in ("0x", "0X")
        else int(p, 8 if p[0] == "0" else 10)
        for p in parts
    ]
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):  # noqa: PLR2004
        return None
    return ipaddress.IPv4Address(
        sum(v << (8 * (3 - i)) for i, v in enumerate(head)) + last
    )


def _address(
    host: str,
) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """``host`` without brackets, trailing dot or case, and the address it dials if it is a literal."""
    bare = host.removeprefix("[").removesuffix("]").rstrip(".").lower()
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = _inet_aton(bare)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is dialled as 127.0.0.1
    return bare, address


def _canonical(host: str) -> str:
    """One spelling per host: an IP literal as ``ipaddress`` prints it, a name in lower case."""
    bare, address = _address(host)
    return bare if address is None else str(address)


def _kind(host: str, *, metadata: bool = True) -> str | None:
    """``loopback``, ``link-local``, ``unspecified`` or (with ``metadata``) cloud instance metadata, for such an IP literal or name; else None."""
    bare, address = _address(host)
    if bare == "localhost" or bare.endswith(".localhost"):
        return "loopback"  # RFC 6761 §6.3: always the loopback address
    if metadata and bare in _METADATA_NAMES:
        return _METADATA
    if address is None:
        return None
    if metadata and any(address in network for network in _METADATA_NETWORKS):
        return _METADATA
    return next((kind for kind, test in _KINDS if getattr(address, test)), None)


def _allows(allowed: set[str], name: str, port: int) -> bool:
    """Whether an ``--allow-host`` names ``name`` at ``port``, however either spells the host."""
    host = _canonical(name)
    for entry in allowed:
        entry_name, entry_port = _split(entry, 0)
        if _canonical(entry_name) == host and entry_port in (0, port):
            return True
    return False


def guarded(netloc: str, *, registry: str, allowed: set[str]) -> str | None:
    """Why ``netloc``, named by the registry on ``registry``, is refused; None if it may be admitted.

    Args:
        netloc: ``host:port`` the registry's protocol named (a realm, a redirect).
        registry: the registry's host as the operator named it (no port).
        allowed: each ``--allow-host`` (``HOST`` admits any port, ``HOST:PORT`` that one).
    """
    name, port = _split(netloc, 443)
    kind = _kind(name)
    if kind is None:
        return None
    registry_host = _split(registry, 443)[0]
    if _canonical(name) == _canonical(registry_host):
        return None  # the registry's own host, at another port: what the operator named
    # The range the registry's address is in, a metadata address or not: a
    # registry on 169.254.169.254 is on a link-local address.
    if kind != _METADATA and kind == _kind(registry_host, metadata=False):
        return None
    if _allows(allowed, name, port):
        return None
    if kind == _METADATA:
        # A registry on a link-local address is still no reason to reach
        # the machine's metadata service at 169.254.169.254.
        return f"a {kind} address, which no registry has reason to name"
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{article} {kind} address, and the registry ({registry}) is not on one"


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _admitter(allowed: set[str], registry: str) -> Callable[[str, str], None]:
    operator = set(allowed)  # the --allow-host entries, before any admission

    def admit(netloc: str, why: str) -> None:
        # The transport asks only for hosts the registry's protocol named
        # (a token realm, a storage redirect) or for an operator's host.
        refused = guarded(netloc, registry=registry, allowed=operator)
        if refused is not None:
            # What and why first: the line is cut at its end (a digest in `why`).
            msg = f"refused {netloc}, {refused}: named by {why}"
            raise HostRefusedError(
                msg, where=f"registry {registry}", reason=Reason.INPUT_UNREADABLE
            )
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
            admit=_admitter(allowed, target.hostname),
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
