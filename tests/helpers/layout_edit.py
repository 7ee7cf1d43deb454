"""An extracted archive edited as an adversary can: only what nothing signs.

The ledger, ``index.json`` and its annotations are unsigned: whoever handles
the media can change them and re-file every digest consistently (blob names
stay the SHA-256 of their bytes). Tests use :class:`Layout` to play that
adversary against the verifier, ``load`` and ``extract``.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


class Layout:
    """An extracted archive an adversary edits consistently (names stay digests)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def read(self, digest: str) -> dict[str, Any]:
        return dict(json.loads(self.blob(digest).read_bytes()))

    def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blob(digest).write_bytes(data)
        return digest

    @property
    def index(self) -> dict[str, Any]:
        return dict(json.loads((self.root / "index.json").read_bytes()))

    def write_index(self, doc: dict[str, Any]) -> None:
        (self.root / "index.json").write_text(json.dumps(doc))

    def entry(self, kind: str, subject: str | None = None) -> dict[str, Any]:
        return next(
            e
            for e in self.index["manifests"]
            if e["annotations"].get("dev.airlock.kind") == kind
            and (
                subject is None
                or e["annotations"].get("dev.airlock.subject") == subject
            )
        )

    def rewrite_ledger(self, edit: Callable[[dict[str, Any]], object]) -> None:
        """Edit the ledger and re-file it as an adversary can (nothing signs it)."""
        index = self.index
        entry = next(
            e
            for e in index["manifests"]
            if e["annotations"]["dev.airlock.kind"] == "ledger"
        )
        manifest = self.read(entry["digest"])
        ledger = self.read(manifest["layers"][0]["digest"])
        edit(ledger)
        data = json.dumps(ledger).encode()
        manifest["layers"][0]["digest"] = self.put(data)
        manifest["layers"][0]["size"] = len(data)
        body = json.dumps(manifest).encode()
        entry["digest"] = self.put(body)
        entry["size"] = len(body)
        self.write_index(index)
        self.sweep()

    def sweep(self) -> None:
        """Drop blobs nothing names any more (the intake refuses strays)."""
        named: set[str] = set()
        pending = [e["digest"] for e in self.index["manifests"]]
        while pending:
            digest = pending.pop()
            if digest in named:
                continue
            named.add(digest)
            try:
                doc = self.read(digest)
            except (ValueError, FileNotFoundError):
                continue
            if "schemaVersion" in doc:
                pending.extend(
                    doc[k]["digest"]
                    for k in ("config", "subject")
                    if isinstance(doc.get(k), dict)
                )
                pending += [
                    d["digest"]
                    for d in doc.get("layers", []) + doc.get("manifests", [])
                ]
        for path in (self.root / "blobs" / "sha256").iterdir():
            if f"sha256:{path.name}" not in named:
                path.unlink()
