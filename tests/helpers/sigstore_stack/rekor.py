"""A Rekor-v1-like transparency log: canonical entries, SETs, proofs, checkpoints.

Entries are stored as Rekor stores them (RFC 8785 canonical JSON bodies). The
log is "sharded" like production: the global ``logIndex`` is the shard's
offset plus the index inside its Merkle tree, and the checkpoint origin is
``<host> - <treeID>``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers.sigstore_stack import merkle
from tests.helpers.sigstore_stack.fulcio import spki_der

if TYPE_CHECKING:
    from datetime import datetime


def b64(data: bytes) -> str:
    """Standard, padded base64 text."""
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class LogEntry:
    """One integrated entry with the evidence a bundle carries for it."""

    body: bytes
    kind: str
    version: str
    log_index: int  # global (virtual) index: what the SET covers
    tree_index: int  # index inside the shard's Merkle tree
    integrated_time: int
    log_id: bytes
    set_signature: bytes
    proof_hashes: tuple[bytes, ...]
    root_hash: bytes
    tree_size: int
    checkpoint: str

    def bundle_json(
        self, *, promise: bool = True, proof: bool = True, checkpoint: bool = True
    ) -> dict[str, object]:
        """This entry as a bundle's ``TransparencyLogEntry`` (proto3 JSON)."""
        entry: dict[str, object] = {
            "logIndex": str(self.log_index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.version},
            "integratedTime": str(self.integrated_time),
        }
        if promise:
            entry["inclusionPromise"] = {
                "signedEntryTimestamp": b64(self.set_signature)
            }
        if proof:
            inclusion: dict[str, object] = {
                "logIndex": str(self.tree_index),
                "rootHash": b64(self.root_hash),
                "treeSize": str(self.tree_size),
                "hashes": [b64(h) for h in self.proof_hashes],
            }
            if checkpoint:
                inclusion["checkpoint"] = {"envelope": self.checkpoint}
            entry["inclusionProof"] = inclusion
        entry["canonicalizedBody"] = b64(self.body)
        return entry

    def cosign_bundle_annotation(self) -> str:
        """The ``dev.sigstore.cosign/bundle`` layer annotation (SET + payload)."""
        return rfc8785.dumps(
            {
                "SignedEntryTimestamp": b64(self.set_signature),
                "Payload": {
                    "body": b64(self.body),
                    "integratedTime": self.integrated_time,
                    "logIndex": self.log_index,
                    "logID": self.log_id.hex(),
                },
            }
        ).decode()


class RekorLog:
    """An append-only log with an ECDSA P-256 key, like Rekor v1."""

    def __init__(
        self,
        *,
        host: str = "rekor.airlock.test",
        tree_id: int = 4242,
        shard_offset: int = 1000,
        filler: int = 5,
    ) -> None:
        self.host = host
        self.url = f"https://{host}"
        self.tree_id = tree_id
        self.shard_offset = shard_offset
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.log_id = hashlib.sha256(spki_der(self.key.public_key())).digest()
        self.leaves: list[bytes] = []
        self.memo: dict[tuple[int, int], bytes] = {}  # complete subtrees (append-only)
        # Unrelated entries first, so inclusion proofs are not trivially empty.
        for _ in range(filler):
            self.leaves.append(merkle.leaf_hash(os.urandom(64)))

    @property
    def origin(self) -> str:
        """The checkpoint origin line of a Rekor v1 shard."""
        return f"{self.host} - {self.tree_id}"

    def append(
        self,
        body: bytes,
        *,
        kind: str,
        version: str,
        when: datetime,
        filler_after: int = 0,
    ) -> LogEntry:
        """Integrate ``body`` at ``when`` and return it with its SET and proof.

        Args:
            body: canonical entry JSON.
            kind: entry kind (``hashedrekord``, ``dsse``).
            version: entry API version.
            when: integration time (whole seconds).
            filler_after: unrelated entries appended before the proof is cut,
                so the entry is not the last leaf of the tree it is proven in.
        """
        tree_index = len(self.leaves)
        self.leaves.append(merkle.leaf_hash(body))
        for _ in range(filler_after):
            self.leaves.append(merkle.leaf_hash(os.urandom(64)))
        integrated_time = int(when.timestamp())
        log_index = self.shard_offset + tree_index
        # SET: RFC 8785 JSON of exactly these four members (docs/verification.md §6).
        set_payload = rfc8785.dumps(
            {
                "body": b64(body),
                "integratedTime": integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": log_index,
            }
        )
        set_signature = self.key.sign(set_payload, ec.ECDSA(hashes.SHA256()))
        size = len(self.leaves)
        root_hash = merkle.root(self.leaves, self.memo)
        return LogEntry(
            body=body,
            kind=kind,
            version=version,
            log_index=log_index,
            tree_index=tree_index,
            integrated_time=integrated_time,
            log_id=self.log_id,
            set_signature=set_signature,
            proof_hashes=tuple(
                merkle.inclusion_proof(tree_index, self.leaves[:size], self.memo)
            ),
            root_hash=root_hash,
            tree_size=size,
            checkpoint=self.checkpoint(size, root_hash),
        )

    def checkpoint(
        self, size: int, root_hash: bytes, *, extra_lines: tuple[str, ...] = ()
    ) -> str:
        """A signed-note checkpoint (C2SP tlog-checkpoint) for ``size``/``root_hash``."""
        text = f"{self.origin}\n{size}\n{b64(root_hash)}\n"
        text += "".join(f"{line}\n" for line in extra_lines)
        signature = self.key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
        return f"{text}\n\u2014 {self.host} {b64(self.log_id[:4] + signature)}\n"


def hashedrekord_body(
    *, digest_hex: str, signature: bytes, verifier_pem: bytes
) -> bytes:
    """A canonical ``hashedrekord`` 0.0.1 body."""
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
                "signature": {
                    "content": b64(signature),
                    "publicKey": {"content": b64(verifier_pem)},
                },
            },
        }
    )


def dsse_body(
    *, envelope_json: bytes, payload: bytes, signature: bytes, verifier_pem: bytes
) -> bytes:
    """A canonical ``dsse`` 0.0.1 body."""
    return rfc8785.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(envelope_json).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
                "signatures": [
                    {"signature": b64(signature), "verifier": b64(verifier_pem)}
                ],
            },
        }
    )
