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
        path = self.blob(digest)
        # Blobs are named by their bytes: one already there holds these, and
        # may be a hard link shared with another copy of the layout.
        if not path.exists():
            path.write_bytes(data)
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

    @property
    def ledger(self) -> dict[str, Any]:
        """The ledger, parsed (the one layer of the entry of kind ``ledger``)."""
        entry = next(
            e
            for e in self.index["manifests"]
            if e["annotations"]["dev.airlock.kind"] == "ledger"
        )
        return self.read(self.read(entry["digest"])["layers"][0]["digest"])

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
        """Drop blobs nothing names any more (the intake refuses strays).

        An edited ``index.json`` may be malformed: what names no digest names nothing.
        """
        named: set[str] = set()
        entries = self.index.get("manifests")
        pending = _digests(entries if isinstance(entries, list) else [])
        while pending:
            digest = pending.pop()
            if digest in named:
                continue
            named.add(digest)
            try:
                doc = self.read(digest)
            except (ValueError, TypeError, OSError):
                continue
            if "schemaVersion" in doc:
                pending += _digests([doc.get("config"), doc.get("subject")])
                for key in ("layers", "manifests"):
                    if isinstance(doc.get(key), list):
                        pending += _digests(doc[key])
        for path in (self.root / "blobs" / "sha256").iterdir():
            if f"sha256:{path.name}" not in named:
                path.unlink()


def _digests(descriptors: list[Any]) -> list[str]:
    """The digests of those of ``descriptors`` that are descriptors with a digest."""
    return [
        d["digest"]
        for d in descriptors
        if isinstance(d, dict) and isinstance(d.get("digest"), str)
    ]
