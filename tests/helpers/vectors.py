"""Read the committed third-party vectors (tests/assets/vectors) by their indexes."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from appliance.core.legacy import LegacySignature

VECTORS = Path(__file__).parents[1] / "assets" / "vectors"
CONFORMANCE = VECTORS / "conformance"
PUBLIC_GOOD_ROOT = VECTORS / "trust" / "public-good" / "trusted_root.json"


def conformance_cases() -> list[dict[str, Any]]:
    """The sigstore-conformance bundle-verify cases (paths relative to CONFORMANCE)."""
    cases: list[dict[str, Any]] = json.loads((CONFORMANCE / "cases.json").read_text())
    return cases


def extra_cases(*kinds: str) -> list[dict[str, Any]]:
    """Cases from extra-cases.json of the given kinds (paths relative to VECTORS)."""
    cases: list[dict[str, Any]] = json.loads((VECTORS / "extra-cases.json").read_text())
    return [c for c in cases if c["kind"] in kinds]


def trusted_root_path(case: dict[str, Any], base: Path) -> Path:
    """The trusted root a case names ("public-good" means the production snapshot)."""
    root = case["trusted_root"]
    return PUBLIC_GOOD_ROOT if root in (None, "public-good") else base / root


def read_legacy_signature(path: Path) -> LegacySignature:
    """Read a containers/image signature file: NUL, ``sigstore-json\\n``, JSON."""
    raw = path.read_bytes()
    prefix = b"\x00sigstore-json\n"
    if not raw.startswith(prefix):
        msg = f"{path} is not a sigstore-json signature file"
        raise ValueError(msg)
    doc = json.loads(raw[len(prefix) :])
    return LegacySignature(
        payload=base64.b64decode(doc["payload"]), annotations=doc["annotations"]
    )


def manifest_digest(path: Path) -> str:
    """``sha256:<hex>`` of a manifest file's exact bytes."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


ROOT_SIGNING = VECTORS / "tuf" / "root-signing"


def serve_root_signing(out: Path) -> Path:
    """Lay the sigstore/root-signing snapshot out as the TUF CDN serves it.

    The snapshot is in the repository's own layout (plain names); the CDN and
    ``appliance trust import`` use ``N.root.json``, ``N.snapshot.json``,
    ``N.targets.json`` and ``targets/<sha256>.<name>``.
    """
    out.mkdir(parents=True)
    for path in (ROOT_SIGNING / "metadata" / "root_history").glob("*.root.json"):
        (out / path.name).write_bytes(path.read_bytes())
    for role in ("snapshot", "targets"):
        data = (ROOT_SIGNING / "metadata" / f"{role}.json").read_bytes()
        (out / f"{json.loads(data)['signed']['version']}.{role}.json").write_bytes(data)
    (out / "timestamp.json").write_bytes(
        (ROOT_SIGNING / "metadata" / "timestamp.json").read_bytes()
    )
    (out / "targets").mkdir()
    for path in (ROOT_SIGNING / "targets").iterdir():
        if path.is_file():
            data = path.read_bytes()
            (
                out / "targets" / f"{hashlib.sha256(data).hexdigest()}.{path.name}"
            ).write_bytes(data)
    return out
