"""A real TUF repository for tests, built with ``tuf.api.metadata``.

It signs genuine metadata with generated keys and lays it out as a TUF CDN
serves it (``N.root.json``, ``timestamp.json``, ``N.snapshot.json``,
``N.targets.json``, ``targets/<sha256>.<name>``), in a directory or over a
loopback HTTP server. Tests drive it like an adversary would: publish new
versions, rotate root keys and thresholds, let metadata expire, roll back,
mix and match, corrupt a target, or make the server misbehave.

Nothing here is product code; the appliance's TUF replay and the exporter's
refresh are tested *against* it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from tests.helpers import netguard

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOP_LEVEL = ("root", "timestamp", "snapshot", "targets")
_SERIALIZER = JSONSerializer(compact=False)


@dataclass
class Fault:
    """How the server misbehaves for one path: a status, or other bytes."""

    status: int = 200
    body: bytes | None = None


@dataclass
class TufRepo:
    """A TUF repository with all four top-level roles, signed for real.

    Args:
        now: the reference time; expiries are set relative to it.
        root_keys: how many root keys the first root lists.
        root_threshold: how many of them must sign.
    """

    now: datetime
    root_keys: int = 1
    root_threshold: int = 1
    signers: dict[str, list[Signer]] = field(default_factory=dict)
    target_files: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    root_history: list[bytes] = field(default_factory=list)
    history: dict[str, list[bytes]] = field(default_factory=dict)

    LIFETIMES: ClassVar[dict[str, timedelta]] = {
        "root": timedelta(days=365),
        "targets": timedelta(days=365),
        "snapshot": timedelta(days=30),
        "timestamp": timedelta(days=7),
    }

    def __post_init__(self) -> None:
        self.root = Metadata(Root(expires=self.now + self.LIFETIMES["root"]))
        for role in TOP_LEVEL:
            count = self.root_keys if role == "root" else 1
            self.signers[role] = [CryptoSigner.generate_ecdsa() for _ in range(count)]
            for signer in self.signers[role]:
                self.root.signed.add_key(signer.public_key, role)
        self.root.signed.roles["root"].threshold = self.root_threshold
        self.targets = Metadata(Targets(expires=self.now + self.LIFETIMES["targets"]))
        self.snapshot = Metadata(
            Snapshot(expires=self.now + self.LIFETIMES["snapshot"])
        )
        self.timestamp = Metadata(
            Timestamp(expires=self.now + self.LIFETIMES["timestamp"])
        )
        self._targets_dirty = True
        self._published_once = False
        self._sign_root(self.signers["root"])

    # -- root ---------------------------------------------------------------

    @property
    def root_bytes(self) -> bytes:
        """The newest signed root, as served."""
        return self.root_history[-1]

    def initial_root(self) -> bytes:
        """Root version 1: what a client bootstraps from."""
        return self.root_history[0]

    def _sign_root(self, signers: list[Signer]) -> None:
        self.root.signatures.clear()
        for signer in signers:
            self.root.sign(signer, append=True)
        data = self.root.to_bytes(_SERIALIZER)
        self.root_history.append(data)
        self.files[f"{self.root.signed.version}.root.json"] = data

    def rotate_root(
        self,
        *,
        keys: int,
        threshold: int,
        old_signers: int | None = None,
        new_signers: int | None = None,
        rotate_roles: tuple[str, ...] = (),
    ) -> int:
        """Publish root N+1 with a new root key set and threshold.

        Args:
            keys: how many root keys the new root lists (all new).
            threshold: the new root threshold.
            old_signers: how many *old* root keys sign it (default: the old
                threshold; fewer makes a root a client must refuse).
            new_signers: how many *new* root keys sign it (default: threshold).
            rotate_roles: other roles whose single key is replaced as well.

        Returns:
            The new root version.
        """
        old = self.signers["root"]
        old_threshold = self.root.signed.roles["root"].threshold
        for signer in old:
            self.root.signed.revoke_key(signer.public_key.keyid, "root")
        new: list[Signer] = [CryptoSigner.generate_ecdsa() for _ in range(keys)]
        for signer in new:
            self.root.signed.add_key(signer.public_key, "root")
        self.root.signed.roles["root"].threshold = threshold
        for role in rotate_roles:
            for signer in self.signers[role]:
                self.root.signed.revoke_key(signer.public_key.keyid, role)
            self.signers[role] = [CryptoSigner.generate_ecdsa()]
            self.root.signed.add_key(self.signers[role][0].public_key, role)
        self.root.signed.version += 1
        self.root.signed.expires = self.now + self.LIFETIMES["root"]
        n_old = old_threshold if old_signers is None else old_signers
        n_new = threshold if new_signers is None else new_signers
        self.signers["root"] = new
        self._sign_root(old[:n_old] + new[:n_new])
        return self.root.signed.version

    # -- targets and publishing ----------------------------------------------

    def add_target(self, name: str, data: bytes) -> None:
        """Add or replace a target file (published on the next publish())."""
        self.target_files[name] = data
        self.targets.signed.targets[name] = TargetFile.from_data(name, data, ["sha256"])
        self._targets_dirty = True

    def publish(self, *, expires: dict[str, datetime] | None = None) -> None:
        """Sign and publish new targets (if changed), snapshot and timestamp.

        Args:
            expires: per-role expiry overrides, e.g. a timestamp in the past.
        """
        expires = expires or {}
        first = not self._published_once
        if self._targets_dirty or "targets" in expires:
            if not first:
                self.targets.signed.version += 1
            self.targets.signed.expires = expires.get(
                "targets", self.now + self.LIFETIMES["targets"]
            )
            self._sign("targets", self.targets)
            self.files[f"{self.targets.signed.version}.targets.json"] = self._last(
                "targets"
            )
            for name, data in self.target_files.items():
                self.files[f"targets/{hashlib.sha256(data).hexdigest()}.{name}"] = data
            self._targets_dirty = False
        targets_bytes = self._last("targets")
        self.snapshot.signed.meta["targets.json"] = MetaFile(
            version=self.targets.signed.version,
            length=len(targets_bytes),
            hashes={"sha256": hashlib.sha256(targets_bytes).hexdigest()},
        )
        if not first:
            self.snapshot.signed.version += 1
        self.snapshot.signed.expires = expires.get(
            "snapshot", self.now + self.LIFETIMES["snapshot"]
        )
        self._sign("snapshot", self.snapshot)
        snapshot_bytes = self._last("snapshot")
        self.files[f"{self.snapshot.signed.version}.snapshot.json"] = snapshot_bytes
        self.timestamp.signed.snapshot_meta = MetaFile(
            version=self.snapshot.signed.version,
            length=len(snapshot_bytes),
            hashes={"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
        )
        if not first:
            self.timestamp.signed.version += 1
        self.timestamp.signed.expires = expires.get(
            "timestamp", self.now + self.LIFETIMES["timestamp"]
        )
        self._sign("timestamp", self.timestamp)
        self.files["timestamp.json"] = self._last("timestamp")
        self._published_once = True

    def _sign(
        self,
        role: str,
        md: Metadata[Timestamp] | Metadata[Snapshot] | Metadata[Targets],
    ) -> None:
        md.signatures.clear()
        for signer in self.signers[role]:
            md.sign(signer, append=True)
        self.history.setdefault(role, []).append(md.to_bytes(_SERIALIZER))

    def _last(self, role: str) -> bytes:
        return self.history[role][-1]

    # -- misbehaviour ---------------------------------------------------------

    def serve_old(self, role: str, back: int = 1) -> None:
        """Serve an older signed version of ``role`` (a rollback attack)."""
        old = self.history[role][-1 - back]
        if role == "timestamp":
            self.files["timestamp.json"] = old
        else:
            version = Metadata.from_bytes(old).signed.version
            self.files[f"{version}.{role}.json"] = old

    def corrupt_target(self, name: str) -> None:
        """Serve other bytes under a target's published name."""
        data = self.target_files[name]
        key = f"targets/{hashlib.sha256(data).hexdigest()}.{name}"
        self.files[key] = data[:-1] + bytes([data[-1] ^ 0x01])

    # -- output ---------------------------------------------------------------

    def write_to(self, directory: Path) -> Path:
        """Write the served files to ``directory`` in the CDN layout."""
        for name, data in self.files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return directory

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the repository on 127.0.0.1 and yield its base URL.

        Loopback traffic is admitted for the lifetime of the server.
        """
        repo = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.lstrip("/").split("?", 1)[0]
                fault = repo.faults.get(path)
                data = repo.files.get(path)
                status = 200 if data is not None else 404
                if fault is not None:
                    status = fault.status
                    data = fault.body if fault.body is not None else data
                self.send_response(status)
                body = data if (data is not None and status == 200) else b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                del format, args  # quiet: tests assert on behaviour, not logs

        with netguard.loopback():
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            try:
                yield f"http://127.0.0.1:{server.server_address[1]}"
            finally:
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)
