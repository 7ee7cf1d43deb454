"""Ways to change one piece of evidence in a bundle by one byte or one unit.

Shared by the stack's self-test and the differential test against
sigstore-python: each entry names the field it changes, so a failure says
which piece of evidence a verifier failed to bind.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random


def flip_b64(value: str, index: int = -1) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


Tamper = Callable[[dict[str, Any]], None]


def _entry(b: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = b["verificationMaterial"]["tlogEntries"][0]
    return entry


def _flip_checkpoint_signature(b: dict[str, Any]) -> None:
    proof = _entry(b)["inclusionProof"]
    text, _, sig_line = proof["checkpoint"]["envelope"].rpartition("\u2014 ")
    name, sig = sig_line.strip().split(" ")
    proof["checkpoint"]["envelope"] = f"{text}\u2014 {name} {flip_b64(sig)}\n"


def _change_checkpoint_size(b: dict[str, Any]) -> None:
    proof = _entry(b)["inclusionProof"]
    lines = proof["checkpoint"]["envelope"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    proof["checkpoint"]["envelope"] = "\n".join(lines)
    proof["treeSize"] = lines[1]


def _change_body_digest(b: dict[str, Any]) -> None:
    body = json.loads(base64.b64decode(_entry(b)["canonicalizedBody"]))
    value = body["spec"]["data"]["hash"]["value"]
    body["spec"]["data"]["hash"]["value"] = ("0" if value[0] != "0" else "1") + value[
        1:
    ]
    _entry(b)["canonicalizedBody"] = base64.b64encode(
        json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    ).decode()


TAMPERINGS: dict[str, Tamper] = {
    "signature": lambda b: b["messageSignature"].update(
        signature=flip_b64(b["messageSignature"]["signature"])
    ),
    "message-digest": lambda b: b["messageSignature"]["messageDigest"].update(
        digest=flip_b64(b["messageSignature"]["messageDigest"]["digest"])
    ),
    "certificate-signature": lambda b: b["verificationMaterial"]["certificate"].update(
        rawBytes=flip_b64(b["verificationMaterial"]["certificate"]["rawBytes"])
    ),
    "set": lambda b: _entry(b)["inclusionPromise"].update(
        signedEntryTimestamp=flip_b64(
            _entry(b)["inclusionPromise"]["signedEntryTimestamp"]
        )
    ),
    "integrated-time": lambda b: _entry(b).update(
        integratedTime=str(int(_entry(b)["integratedTime"]) + 1)
    ),
    "log-index": lambda b: _entry(b).update(
        logIndex=str(int(_entry(b)["logIndex"]) + 1)
    ),
    "log-id": lambda b: _entry(b)["logId"].update(
        keyId=flip_b64(_entry(b)["logId"]["keyId"])
    ),
    "proof-hash": lambda b: _entry(b)["inclusionProof"]["hashes"].__setitem__(
        0, flip_b64(_entry(b)["inclusionProof"]["hashes"][0])
    ),
    "proof-root": lambda b: _entry(b)["inclusionProof"].update(
        rootHash=flip_b64(_entry(b)["inclusionProof"]["rootHash"])
    ),
    "proof-index": lambda b: _entry(b)["inclusionProof"].update(
        logIndex=str(int(_entry(b)["inclusionProof"]["logIndex"]) + 1)
    ),
    "checkpoint-signature": _flip_checkpoint_signature,
    "checkpoint-size": _change_checkpoint_size,
    "body": lambda b: _entry(b).update(
        canonicalizedBody=flip_b64(_entry(b)["canonicalizedBody"], 40)
    ),
    "body-digest": _change_body_digest,
}


def _b64_fields(
    doc: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string in the bundle that decodes as base64 of at least 8 bytes."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _b64_fields(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _b64_fields(value, (*path, i))
    elif (
        isinstance(doc, str)
        and len(doc) >= 12
        and path[-1] not in ("mediaType", "envelope", "payloadType")
    ):
        try:
            if len(base64.b64decode(doc, validate=True)) >= 8:
                yield path, doc
        except ValueError:
            return


def random_flips(
    bundle: dict[str, Any], rng: random.Random, count: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``count`` copies of ``bundle``, each with one random bit flipped in one
    random base64 field (decoded, flipped, re-encoded: never a parse accident)."""
    fields = list(_b64_fields(bundle))
    for _ in range(count):
        path, value = rng.choice(fields)
        raw = bytearray(base64.b64decode(value))
        index = rng.randrange(len(raw))
        raw[index] ^= 1 << rng.randrange(8)
        mutated = json.loads(json.dumps(bundle))
        node: Any = mutated
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = base64.b64encode(bytes(raw)).decode()
        yield f"{'.'.join(map(str, path))}[{index}]", mutated
