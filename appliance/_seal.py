"""Seal the appliance process against network access.

An audit hook (PEP 578) refuses name resolution and any socket connection or
bind outside ``AF_UNIX``. It is installed before the CLI is imported, so even a
library that opens a socket behind our back (tuf imports urllib3) is stopped.

The one exception is the commands that reach the in-gap registry (``load``,
``sign``, ``attest``, ``inventory --registry``): :func:`permit` admits
connections to the registry host and port the operator named, for as long as
the context lasts, and :func:`admit` widens that permit, for the same command
only, to a host the registry's own protocol names (its token realm, a storage
redirect) or the operator added (``--allow-host``). This module does not decide
*whether* a load may happen, nor which hosts deserve admission (the registry
edge, ``appliance.load.connect``, does); it enforces what was admitted.

Audit hooks cannot be removed once added, so the hook consults module state.
"""

from __future__ import annotations

import _thread
import sys

# Not typing.TYPE_CHECKING: importing typing costs ~4 ms of every start, and
# the seal is the first thing every start loads (mypy reads this the same).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import contextlib
    from collections.abc import Iterator

_LOCK = _thread.allocate_lock()
_INSTALLED = False
_PERMITTED: set[tuple[str, int]] = set()
_ACTIVE: list[set[tuple[str, int]]] = []  # the entries of each open permit

# Events whose first argument is a socket and second an address (sys.audit docs).
_ADDRESS_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.sendto"})


class NetworkSealedError(PermissionError):
    """Raised when sealed code tries to reach the network."""


def _address_permitted(address: object) -> bool:
    if not isinstance(address, tuple) or len(address) < 2:  # noqa: PLR2004
        return False
    host, port = address[0], address[1]
    return (str(host), int(port)) in _PERMITTED


def _is_ipv6_probe(address: object) -> bool:
    """urllib3's import-time probe: bind ``("::1", 0)``, never listened on.

    Refusing it makes urllib3 believe the host has no IPv6 and resolve every
    name as IPv4 only, so a registry at ``[::1]:PORT`` could not be dialled.
    """
    return isinstance(address, tuple) and address[:2] == ("::1", 0)


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.getaddrinfo":
        host, port = args[0], args[1]
        if isinstance(port, int) and (str(host), port) in _PERMITTED:
            return
        msg = (
            f"network access refused: name lookup of {host!r} (the appliance is sealed)"
        )
        raise NetworkSealedError(msg)
    if event in _ADDRESS_EVENTS:
        sock = args[0]
        # A socket event means the socket module is loaded: not imported here.
        socket = sys.modules.get("socket")
        if (
            socket is not None
            and isinstance(sock, socket.socket)
            and sock.family == socket.AF_UNIX
        ):
            return
        if _address_permitted(args[1]):
            return
        if event == "socket.bind" and _is_ipv6_probe(args[1]):
            return
        msg = (
            f"network access refused: {event} to {args[1]!r} (the appliance is sealed)"
        )
        raise NetworkSealedError(msg)


def install() -> None:
    """Install the seal once per process; later calls do nothing."""
    global _INSTALLED  # noqa: PLW0603 - process-wide by nature
    with _LOCK:
        if _INSTALLED:
            return
        sys.addaudithook(_hook)
        _INSTALLED = True


def is_installed() -> bool:
    """Tell whether this process is sealed."""
    return _INSTALLED


def permit(host: str, port: int) -> contextlib.AbstractContextManager[None]:
    """Admit connections to exactly ``host:port`` while the context lasts.

    Args:
        host: the registry host as the operator named it (an IP literal or a
            name; a name is resolved, and its addresses are admitted too).
        port: the registry port.
    """
    import contextlib  # noqa: PLC0415 - only `load` and `sign` reach the network

    return contextlib.contextmanager(_permit)(host, port)


def _bare(host: str) -> str:
    """An IPv6 literal without its brackets: ``[::1]`` is dialled as ``::1``."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _resolve(entries: set[tuple[str, int]], host: str, port: int) -> None:
    import contextlib  # noqa: PLC0415
    import socket  # noqa: PLC0415 - TID251 allows the seal to name sockets

    # Resolving the name is itself admitted for this host only; the
    # addresses it yields are what `connect` will be called with.
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
            entries.add((str(info[4][0]), port))


def _permit(host: str, port: int) -> Iterator[None]:
    host = _bare(host)
    entries = {(host, port)}
    with _LOCK:
        _PERMITTED.update(entries)
        _ACTIVE.append(entries)
    try:
        _resolve(entries, host, port)
        with _LOCK:
            _PERMITTED.update(entries)
        yield
    finally:
        with _LOCK:
            # By identity: two permits of one registry hold equal sets, and
            # list.remove (equality) would close the other one's.
            del _ACTIVE[next(i for i, e in enumerate(_ACTIVE) if e is entries)]
            _PERMITTED.difference_update(entries)
            for others in _ACTIVE:  # a host two permits share stays admitted
                _PERMITTED.update(others)


def admit(host: str, port: int) -> None:
    """Widen the innermost open permit to ``host:port`` until it closes.

    Raises:
        NetworkSealedError: no permit is open (a command that may not reach
            the network asked for a host).
    """
    host = _bare(host)
    with _LOCK:
        if not _ACTIVE:
            msg = f"network access refused: {host}:{port} outside a permitted command (the appliance is sealed)"
            raise NetworkSealedError(msg)
        entries = _ACTIVE[-1]
        entries.add((host, port))
        _PERMITTED.add((host, port))
    _resolve(entries, host, port)
    with _LOCK:
        if any(e is entries for e in _ACTIVE):
            _PERMITTED.update(entries)
