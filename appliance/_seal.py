"""Seal the appliance process against network access.

An audit hook (PEP 578) refuses name resolution and any socket connection or
bind outside ``AF_UNIX``. It is installed before the CLI is imported, so even a
library that opens a socket behind our back (tuf imports urllib3) is stopped.

The one exception is ``appliance load``: :func:`permit` admits connections to
the single registry host and port the operator named, for as long as the
context lasts. This module does not decide *whether* a load may happen; the
load command does that after verification.

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

# Events whose first argument is a socket and second an address (sys.audit docs).
_ADDRESS_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.sendto"})


class NetworkSealedError(PermissionError):
    """Raised when sealed code tries to reach the network."""


def _address_permitted(address: object) -> bool:
    if not isinstance(address, tuple) or len(address) < 2:  # noqa: PLR2004
        return False
    host, port = address[0], address[1]
    return (str(host), int(port)) in _PERMITTED


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


def _permit(host: str, port: int) -> Iterator[None]:
    import contextlib  # noqa: PLC0415
    import socket  # noqa: PLC0415 - TID251 allows the seal to name sockets

    entries = {(host, port)}
    with _LOCK:
        _PERMITTED.update(entries)
    try:
        # Resolving the name is itself admitted for this host only; the
        # addresses it yields are what `connect` will be called with.
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
                entries.add((str(info[4][0]), port))
        with _LOCK:
            _PERMITTED.update(entries)
        yield
    finally:
        with _LOCK:
            _PERMITTED.difference_update(entries)
