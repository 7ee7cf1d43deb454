"""The gap-local TUF repository: ``trust publish`` and ``--refresh`` against python-tuf's bare metadata API.

Both sign with P-256 keys held in memory in the same process and write the
same layout (consistent snapshots, one target: the sealed trusted root).
The peer is what python-tuf's documentation shows for a minimal repository
(``Metadata`` objects, ``CryptoSigner``, ``to_file``): no check of what is
already there, no atomic writes, no lock. Ours adds those (each role checked
against the root, every hash and length binding, each target re-hashed,
temporary name + fsync + rename per file), which is what the ratio prices.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROUNDS = 20


def _peer_publish(directory: Path, data: bytes, now: datetime) -> None:
    from securesystemslib.signer import CryptoSigner  # noqa: PLC0415
    from tuf.api.metadata import (  # noqa: PLC0415
        Metadata,
        MetaFile,
        Root,
        Snapshot,
        TargetFile,
        Targets,
        Timestamp,
    )
    from tuf.api.serialization.json import JSONSerializer  # noqa: PLC0415

    ser = JSONSerializer(compact=False)
    root_key, online = CryptoSigner.generate_ecdsa(), CryptoSigner.generate_ecdsa()
    root = Metadata(Root(expires=now + timedelta(days=365), consistent_snapshot=True))
    root.signed.add_key(root_key.public_key, "root")
    for role in ("targets", "snapshot", "timestamp"):
        root.signed.add_key(online.public_key, role)
    root.sign(root_key)
    root.to_file(str(directory / "1.root.json"), ser)
    root.to_file(str(directory / "root.json"), ser)
    targets = Metadata(Targets(expires=now + timedelta(days=30)))
    target = TargetFile.from_data("trusted_root.json", data, ["sha256"])
    targets.signed.targets["trusted_root.json"] = target
    (directory / "targets").mkdir(exist_ok=True)
    (
        directory / "targets" / f"{target.hashes['sha256']}.trusted_root.json"
    ).write_bytes(data)
    targets.sign(online)
    targets_bytes = targets.to_bytes(ser)
    (directory / "1.targets.json").write_bytes(targets_bytes)
    snapshot = Metadata(Snapshot(expires=now + timedelta(days=7)))
    snapshot.signed.meta["targets.json"] = MetaFile(
        1, len(targets_bytes), {"sha256": hashlib.sha256(targets_bytes).hexdigest()}
    )
    snapshot.sign(online)
    snapshot_bytes = snapshot.to_bytes(ser)
    (directory / "1.snapshot.json").write_bytes(snapshot_bytes)
    timestamp = Metadata(Timestamp(expires=now + timedelta(days=1)))
    timestamp.signed.snapshot_meta = MetaFile(
        1, len(snapshot_bytes), {"sha256": hashlib.sha256(snapshot_bytes).hexdigest()}
    )
    timestamp.sign(online)
    timestamp.to_file(str(directory / "timestamp.json"), ser)


def _peer_refresh(directory: Path, now: datetime) -> None:
    from securesystemslib.signer import CryptoSigner  # noqa: PLC0415
    from tuf.api.metadata import Metadata  # noqa: PLC0415
    from tuf.api.serialization.json import JSONSerializer  # noqa: PLC0415

    timestamp = Metadata.from_file(str(directory / "timestamp.json"))
    timestamp.signed.version += 1
    timestamp.signed.expires = now + timedelta(days=1)
    timestamp.signatures.clear()
    timestamp.sign(CryptoSigner.generate_ecdsa())
    timestamp.to_file(str(directory / "timestamp.json"), JSONSerializer(compact=False))


def run() -> list[tuple[str, float, float]]:
    """(what, ours ms, peer ms), medians of ROUNDS fresh repositories."""
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    from appliance.signer.filekey import FileSigner  # noqa: PLC0415
    from appliance.trust import publish  # noqa: PLC0415
    from trustroot import store  # noqa: PLC0415

    data = store.read_embedded(store.PUBLIC_GOOD, "trusted_root.json")
    now = datetime.now(UTC).replace(microsecond=0)
    lifetimes = publish.Lifetimes()
    times: dict[str, list[float]] = {
        k: [] for k in ("pub", "peer-pub", "ref", "peer-ref")
    }
    with tempfile.TemporaryDirectory(prefix="airlock-bench-publish-") as tmp:
        for n in range(ROUNDS):
            root = FileSigner(ec.generate_private_key(ec.SECP256R1()))
            online = FileSigner(ec.generate_private_key(ec.SECP256R1()))
            ours, peer = Path(tmp) / f"ours-{n}", Path(tmp) / f"peer-{n}"
            peer.mkdir()
            start = time.perf_counter()
            publish.publish(ours, roots={"trusted_root.json": data}, root_keys=[root],
                            online=online, threshold=1, lifetimes=lifetimes, now=now)  # fmt: skip
            times["pub"].append(time.perf_counter() - start)
            start = time.perf_counter()
            _peer_publish(peer, data, now)
            times["peer-pub"].append(time.perf_counter() - start)
            start = time.perf_counter()
            publish.refresh(ours, online=online, lifetimes=lifetimes, now=now)
            times["ref"].append(time.perf_counter() - start)
            start = time.perf_counter()
            _peer_refresh(peer, now)
            times["peer-ref"].append(time.perf_counter() - start)

    def ms(key: str) -> float:
        return statistics.median(times[key]) * 1000

    return [
        (
            "trust publish, a new repository (4 roles, 1 target)",
            ms("pub"),
            ms("peer-pub"),
        ),
        (
            "trust publish --refresh (timestamp, repository checked first)",
            ms("ref"),
            ms("peer-ref"),
        ),
    ]
