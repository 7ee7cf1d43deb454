"""The appliance's seal: no name lookup, no connection, except what `load` permits.

Audit hooks cannot be removed, so each case runs in a fresh interpreter. Every
connection attempted targets 127.0.0.1: a broken seal could reach nothing else.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

_PRELUDE = """
import socket
from appliance import _seal
listener = socket.create_server(("127.0.0.1", 0))   # before the seal: a local peer
other = socket.create_server(("127.0.0.1", 0))
port, other_port = listener.getsockname()[1], other.getsockname()[1]
_seal.install()
def attempt(fn):
    try:
        fn()
    except _seal.NetworkSealedError as exc:
        print("REFUSED", exc)
    else:
        print("ALLOWED")
"""


def _run(body: str) -> list[str]:
    code = _PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_sealed_process_cannot_connect() -> None:
    out = _run("""
        s = socket.socket()
        attempt(lambda: s.connect(("127.0.0.1", port)))
        attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=1))
    """)
    assert [line.split()[0] for line in out] == ["REFUSED", "REFUSED"]
    assert "socket.connect" in out[0]
    assert "name lookup" in out[1]


def test_sealed_process_cannot_resolve_names() -> None:
    out = _run("""
        attempt(lambda: socket.getaddrinfo("example.com", 443))
        attempt(lambda: socket.gethostbyname("localhost"))
    """)
    assert out[0].startswith("REFUSED")


def test_sealed_process_cannot_send_datagrams_or_bind() -> None:
    out = _run("""
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attempt(lambda: u.sendto(b"x", ("127.0.0.1", port)))
        attempt(lambda: socket.socket().bind(("127.0.0.1", 0)))
    """)
    assert out == [line for line in out if line.startswith("REFUSED")]
    assert len(out) == 2


def test_unix_sockets_still_work() -> None:
    out = _run("""
        a, b = socket.socketpair()
        a.sendall(b"ok"); print("PAIR", b.recv(2).decode())
    """)
    assert out == ["PAIR ok"]


def test_permit_admits_exactly_one_host_and_port_for_its_duration() -> None:
    out = _run("""
        with _seal.permit("127.0.0.1", port):
            attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close())
            attempt(lambda: socket.create_connection(("127.0.0.1", other_port), timeout=1).close())
        attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close())
    """)
    assert [line.split()[0] for line in out] == ["ALLOWED", "REFUSED", "REFUSED"]


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_the_entry_point_runs_sealed(argv: list[str]) -> None:
    code = "import sys; from appliance.__main__ import entry; sys.argv=['appliance', *sys.argv[1:]]; entry()"
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_entry_point_installs_the_seal_first() -> None:
    code = textwrap.dedent("""
        import sys, socket
        import appliance.__main__ as m
        sys.argv = ["appliance", "--version"]
        try:
            m.entry()
        except SystemExit:
            pass
        from appliance import _seal
        print(_seal.is_installed())
        try:
            socket.getaddrinfo("example.com", 80)
        except _seal.NetworkSealedError:
            print("sealed")
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout.splitlines()[-2:] == ["True", "sealed"]


def test_a_host_admitted_under_nested_permits_of_one_registry_is_refused_after_both() -> (
    None
):
    """Two open permits of one registry held equal sets: closing the inner one
    removed the outer's, so a host admitted afterwards outlived the command
    (and closing the outer one raised instead of sealing again)."""
    out = _run("""
        try:
            with _seal.permit("127.0.0.1", port):
                with _seal.permit("127.0.0.1", port):
                    pass
                _seal.admit("127.0.0.1", other_port)
                attempt(lambda: socket.create_connection(("127.0.0.1", other_port), timeout=1).close())
        except ValueError as exc:
            print("RAISED", exc)
        attempt(lambda: socket.create_connection(("127.0.0.1", other_port), timeout=1).close())
        attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close())
    """)
    assert [line.split()[0] for line in out] == ["ALLOWED", "REFUSED", "REFUSED"]
