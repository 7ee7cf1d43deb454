"""A process-wide network guard for the test session.

An audit hook refuses name lookups and socket connections, binds and sends
outside ``AF_UNIX``. A test (or fixture) that needs the network asks for the
``loopback`` fixture, which admits 127.0.0.0/8 and ::1 only: nothing in this
suite may reach beyond the machine, and nothing can do so quietly.

The hook raises *before* the system call, so a refused connection never sends
a packet. Audit hooks cannot be removed, so the hook reads module state.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_lock = threading.Lock()
_installed = False
_loopback_permits = 0
_watchers: list[list[str]] = []

_ADDRESS_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.sendto"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class NetworkDeniedError(RuntimeError):
    """A test tried to use the network without asking for it.

    Deliberately not an ``OSError``: libraries that retry on socket errors
    must not swallow it.
    """


def is_loopback_host(host: object) -> bool:
    """Tell whether ``host`` names only this machine."""
    if host is None:
        return False
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def decide(
    event: str, args: tuple[object, ...], *, loopback_allowed: bool
) -> str | None:
    """Return why ``event`` must be refused, or None to let it through."""
    if event in {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
    }:
        host = args[0] if args else None
        if loopback_allowed and is_loopback_host(host):
            return None
        return f"name lookup of {host!r}"
    if event in _ADDRESS_EVENTS:
        sock, address = args[0], args[1]
        if isinstance(sock, socket.socket) and sock.family == socket.AF_UNIX:
            return None
        host = address[0] if isinstance(address, tuple) and address else address
        if loopback_allowed and is_loopback_host(host):
            return None
        return f"{event} to {address!r}"
    return None


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not event.startswith("socket."):
        return
    for seen in _watchers:
        seen.append(event)
    why = decide(event, args, loopback_allowed=_loopback_permits > 0)
    if why is not None:
        hint = (
            "" if _loopback_permits else " (use the `loopback` fixture for 127.0.0.1)"
        )
        msg = f"network refused in tests: {why}{hint}"
        raise NetworkDeniedError(msg)


def install() -> None:
    """Install the guard once per process."""
    global _installed  # noqa: PLW0603 - process-wide by nature
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


@contextlib.contextmanager
def loopback() -> Iterator[None]:
    """Admit loopback traffic (and only that) while the context lasts."""
    global _loopback_permits  # noqa: PLW0603
    with _lock:
        _loopback_permits += 1
    try:
        yield
    finally:
        with _lock:
            _loopback_permits -= 1


@contextlib.contextmanager
def attempts() -> Iterator[list[str]]:
    """Every socket event (creation, lookup, connect...) while the context lasts, refused or not."""
    seen: list[str] = []
    with _lock:
        _watchers.append(seen)
    try:
        yield seen
    finally:
        with _lock:
            _watchers.remove(seen)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with loopback(), socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
