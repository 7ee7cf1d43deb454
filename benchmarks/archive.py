"""Archive verification: ``appliance verify ARCHIVE`` against its peers, same run.

Two measurements (issue: ``appliance verify ARCHIVE``):

* **intake**: a >= 2 GiB archive (one image, eight 256 MiB incompressible
  layers, signed keylessly), exported by ``bundle-tools export`` from a
  loopback registry, verified end to end by ``appliance verify`` (one
  process: read, decompress, hash every member, check the ledger, verify the
  signature). Beside it, over the same decompressed bytes: ``hashlib.sha256``
  alone (the tar already decompressed, read from the page cache), and
  ``zstd -d | sha256sum``. Goal: ours >= 0.9x hashlib's throughput, peak RSS
  <= 200 MiB, and no temporary disk use (the process's block writes,
  ``ru_oublock``, and an empty ``TMPDIR`` afterwards);
* **scale**: archives of 10 / 100 / 1,000 / 10,000 images, each signed by
  ten keyless signers (100 / 1,000 / 10,000 / 100,000 cosign signatures),
  verified with a policy demanding all ten, with ``--jobs 1`` and with every
  usable CPU, peak RSS beside each. Beside it, sigstore-python verifying the
  same signatures (as v0.1 bundles, in one process, trust loaded once: only
  the cryptography, no archive). The archives are made once (the test
  Sigstore stack, a loopback registry, ``bundle-tools export``) and kept
  under :func:`cache_dir`. Goal: linear, <= 60 s for 10,000, every worker
  <= 0.6x one worker at 10,000, peak RSS <= 300 MiB at 100,000.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import Run, median, timed
from tests.helpers import netguard, oci, publish
from tests.helpers import registry as registry_mod
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER

BIN = Path(sys.executable).parent
LAYERS = 8
LAYER_BYTES = 256 * 1024 * 1024
SIGNERS = 10
IDENTITIES = [f"signer-{i}@airlock.test" for i in range(SIGNERS)]


@dataclass(frozen=True)
class Intake:
    """The intake figures: bytes, and each contender's run."""

    archive_bytes: int
    tar_bytes: int
    ours: Run
    hashlib: Run
    zstd_sha256sum: Run
    tmp_left: int  # files left in TMPDIR by ours
    floor_seconds: (
        float  # the CPU work no reader can skip, spread over this machine's cores
    )

    def rate(self, run: Run) -> float:
        """MiB/s of decompressed archive."""
        return self.tar_bytes / run.seconds / 2**20


def export_archive(
    server: registry_mod.Registry,
    refs: list[str],
    out: Path,
    root: Path,
    env: dict[str, str],
) -> None:
    listing = out.with_suffix(".refs")
    listing.write_text("\n".join(refs) + "\n")
    done = subprocess.run(
        [str(BIN / "bundle-tools"), "export", "-f", str(listing), "--out", str(out), "--trusted-root", str(root),
         "--allow-http-registry", server.address, "--cache", str(out.parent / "cache"), "-o", "json"],
        env=env, capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(done.stderr.decode()[-2000:])


def sign_image(
    server: registry_mod.Registry, stack: SigstoreStack, image: publish.Image
) -> list[tuple[bytes, bytes, str]]:
    """Ten keyless cosign signatures in one ``.sig`` manifest; (payload, v0.1 bundle, signer) each."""
    layers, bundles = [], []
    for identity in IDENTITIES:
        signature = stack.sign_image_legacy(
            image.digest, reference=image.name, identity=identity
        )
        digest = server.push_blob(image.repo, signature.payload)
        layers.append(
            {
                "mediaType": oci.SIMPLESIGNING,
                "digest": digest,
                "size": len(signature.payload),
                "annotations": signature.annotations,
            }
        )
        bundles.append(
            (signature.payload, signature.signed.bundle_bytes(version="0.1"), identity)
        )
    config = oci.canonical(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
        }
    )
    server.push_blob(image.repo, config)
    manifest = oci.canonical({
        "schemaVersion": 2, "mediaType": oci.MANIFEST,
        "config": {"mediaType": oci.CONFIG, "digest": oci.digest_of(config), "size": len(config)},
        "layers": layers,
    })  # fmt: skip
    server.push_manifest(
        image.repo,
        f"sha256-{image.digest.removeprefix('sha256:')}.sig",
        manifest,
        oci.MANIFEST,
    )
    return bundles


def export_big(work: Path, *, layers: int, layer_bytes: int) -> tuple[Path, Path, str]:
    """A big image (incompressible layers), signed ten times, exported: (archive, root, reference)."""
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    root = work / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    server = registry_mod.start(work / "registry")
    try:
        image = publish.image(
            server, "bench/big", "v1", layer_bytes=layer_bytes, layers=layers
        )
        sign_image(server, stack, image)
        archive = work / "big.tar.zst"
        export_archive(
            server,
            [image.reference],
            archive,
            root,
            {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"},
        )
    finally:
        server.stop()
    subprocess.run(
        ["rm", "-rf", str(work / "registry"), str(work / "cache")], check=True
    )
    return archive, root, image.reference


def intake() -> Intake:
    """Export a >= 2 GiB signed image, then time ours and the two peers over it."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp,
        netguard.loopback(),
    ):
        work = Path(tmp)
        archive, root, _ = export_big(work, layers=LAYERS, layer_bytes=LAYER_BYTES)
        tar = work / "huge.tar"
        subprocess.run(
            ["zstd", "-q", "-d", "-f", str(archive), "-o", str(tar)], check=True
        )
        empty_tmp = work / "tmp"
        empty_tmp.mkdir()
        env = {
            **os.environ,
            "APPLIANCE_STATE_DIR": str(work / "state"),
            "TMPDIR": str(empty_tmp),
        }
        subprocess.run(
            ["cat", str(archive), str(tar)], stdout=subprocess.DEVNULL, check=True
        )  # warm the page cache
        ours = timed(
            [str(BIN / "appliance"), "verify", str(archive), "--trusted-root", str(root),
             "--certificate-identity", IDENTITIES[0], "--certificate-oidc-issuer", DEFAULT_ISSUER, "-o", "json"],
            env=env,
        )  # fmt: skip
        hashing = (
            "import hashlib, sys\n"
            "h = hashlib.sha256()\n"
            "with open(sys.argv[1], 'rb', buffering=0) as f:\n"
            "    while chunk := f.read(1 << 20): h.update(chunk)\n"
            "print(h.hexdigest())\n"
        )
        peer = timed([sys.executable, "-c", hashing, str(tar)])
        pipe = timed([f"zstd -q -d -c {archive} | sha256sum"], shell=True)  # noqa: S604 - our own paths
        return Intake(
            floor_seconds=_floor(archive, peer.seconds),
            archive_bytes=archive.stat().st_size,
            tar_bytes=tar.stat().st_size,
            ours=ours,
            hashlib=peer,
            zstd_sha256sum=pipe,
            tmp_left=sum(1 for _ in empty_tmp.rglob("*")),
        )


def _floor(archive: Path, members_hash: float) -> float:
    """What any reader must do: hash the file, decompress it, hash its members.

    The report names the archive's SHA-256 (of the file as carried) and every
    member is hashed, so two SHA-256 passes and one zstd pass, which at best
    run side by side on this machine's cores.
    """
    import zstandard  # noqa: PLC0415

    buffer = bytearray(1 << 20)
    start = time.perf_counter()
    with (
        archive.open("rb") as handle,
        zstandard.ZstdDecompressor().stream_reader(handle, read_size=1 << 17) as stream,
    ):
        while stream.readinto(buffer):
            pass
    decompress = time.perf_counter() - start
    start = time.perf_counter()
    digest = hashlib.sha256()
    with archive.open("rb", buffering=0) as raw:
        while length := raw.readinto(buffer):
            digest.update(memoryview(buffer)[:length])
    file_hash = time.perf_counter() - start
    return max(
        members_hash, (members_hash + file_hash + decompress) / (os.cpu_count() or 1)
    )


@dataclass(frozen=True)
class Scale:
    """One size: images, signatures, our run with one worker and with every CPU, the peer's seconds."""

    images: int
    signatures: int
    ours: Run  # --jobs 1
    parallel: Run  # --jobs (every usable CPU)
    jobs: int
    peer_seconds: float
    # --jobs N over --jobs 1, each pair timed back to back: the median of the
    # pairs' ratios (a drift of the host's speed between pairs falls on both
    # sides of a pair, as in benchmarks.verify); None for a size run once.
    paired: float | None = None
    # (--jobs N seconds, --jobs 1 seconds) of each pair, in the order run.
    samples: tuple[tuple[float, float], ...] = ()


# Scale archives take minutes to make (100,000 signatures: signing, pushing,
# exporting), so each size is made once and kept, with its trusted root and
# the peer's bundles, under this folder (AIRLOCK_BENCH_CACHE, else
# $XDG_CACHE_HOME/airlock-bench); bump the version when what is made changes.
CACHE_VERSION = "scale-v1"


def cache_dir() -> Path:
    """Where made scale archives are kept between benchmark runs."""
    explicit = os.environ.get("AIRLOCK_BENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "airlock-bench"


def _policy(path: Path) -> Path:
    signers = "".join(
        f'\n  [[rules.signers]]\n  identity = "{i}"\n  issuer = "{DEFAULT_ISSUER}"\n'
        for i in IDENTITIES
    )
    path.write_text(f'[[rules]]\nmatch = ["**"]\nthreshold = {SIGNERS}\n{signers}')
    return path


# The peer's bundles are kept (one JSON line each) up to this many
# signatures; beyond, its figure is the largest kept size's, scaled: it is
# the cryptography alone, one signature after another (linear by nature),
# and 100,000 bundles would take half a gigabyte of cache.
PEER_KEPT = 10_000
GOAL_SIGNATURES = 10_000  # where the --jobs goal is set (issue #26)


def _peer(bundles: Path, root: Path) -> float:
    """sigstore-python, in this process: each signature verified once, trust loaded once."""
    from sigstore.models import Bundle as SpBundle  # noqa: PLC0415 - the test-only oracle
    from sigstore.models import TrustedRoot as SpTrustedRoot  # noqa: PLC0415
    from sigstore.verify import Verifier, policy  # noqa: PLC0415

    verifier = Verifier(trusted_root=SpTrustedRoot.from_file(str(root)))
    policies = {
        i: policy.Identity(identity=i, issuer=DEFAULT_ISSUER) for i in IDENTITIES
    }
    elapsed = 0.0
    with bundles.open(encoding="utf-8") as lines:
        # One at a time; only the verification is timed.
        for line in lines:
            payload, bundle, identity = json.loads(line)
            parsed = SpBundle.from_json(bundle)
            start = time.perf_counter()
            verifier.verify_artifact(
                base64.b64decode(payload), parsed, policies[identity]
            )
            elapsed += time.perf_counter() - start
    return elapsed


def _make(count: int, folder: Path, stack: SigstoreStack) -> None:
    """Publish ``count`` images, ten signatures each, export them; keep the archive, root and bundles."""
    work = folder.with_name(folder.name + ".making")
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    root = work / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    _policy(work / "policy.toml")
    server = registry_mod.start(work / "registry")
    try:
        refs = []
        with (work / "peer.jsonl").open("w", encoding="utf-8") as out:
            for i in range(count):
                image = publish.image(server, f"bench/scale{count}/app{i}", "v1")
                for payload, bundle, identity in sign_image(server, stack, image):
                    if count * SIGNERS <= PEER_KEPT:
                        line = [
                            base64.b64encode(payload).decode(),
                            bundle.decode(),
                            identity,
                        ]
                        out.write(json.dumps(line) + "\n")
                refs.append(image.reference)
        export_archive(
            server,
            refs,
            work / "archive.tar.zst",
            root,
            {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"},
        )
    finally:
        server.stop()
    subprocess.run(
        ["rm", "-rf", str(work / "registry"), str(work / "cache")], check=True
    )
    (work / "done").write_text(f"{count} images, {count * SIGNERS} signatures\n")
    work.rename(folder)


def made(count: int, stack: SigstoreStack | None = None) -> Path:
    """The cached folder of the ``count``-image scale archive, made first if absent."""
    folder = cache_dir() / CACHE_VERSION / str(count)
    if not (folder / "done").exists():
        subprocess.run(["rm", "-rf", str(folder)], check=True)
        with netguard.loopback():
            _make(
                count,
                folder,
                stack or SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC)),
            )
    return folder


def _verify(folder: Path, policy: Path, state: Path, jobs: int) -> Run:
    env = {**os.environ, "APPLIANCE_STATE_DIR": str(state)}
    return timed(
        [str(BIN / "appliance"), "verify", str(folder / "archive.tar.zst"),
         "--trusted-root", str(folder / "trusted_root.json"), "--policy", str(policy),
         "-o", "json", "--jobs", str(jobs)],
        env=env,
    )  # fmt: skip


def scale(sizes: tuple[int, ...] = (10, 100, 1000, 10_000)) -> list[Scale]:
    """Verify archives of ``sizes`` images, ten signatures each, with one worker and with every CPU."""
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    jobs = len(os.sched_getaffinity(0))
    results: list[Scale] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        policy = _policy(work / "policy.toml")
        for count in sizes:
            folder = made(count, stack)
            # Up to the goal's size, each is timed five times in back-to-back
            # pairs of one worker and every worker, the order turned round
            # from one pair to the next (a drift in the machine's speed falls
            # on both sides of a pair, and on each side first as often): the
            # median of each side, and the median of the five pairs' ratios
            # (the row's ratio). Larger sizes run once each.
            repeats = 5 if count * SIGNERS <= GOAL_SIGNATURES else 1
            ones: list[Run] = []
            alls: list[Run] = []
            for n in range(repeats):
                sides = [(ones, 1, "1"), (alls, jobs, "n")]
                for runs, workers, tag in sides if n % 2 == 0 else sides[::-1]:
                    state = work / f"state{count}-{tag}-{n}"
                    runs.append(_verify(folder, policy, state, workers))
            ours, parallel = median(ones), median(alls)
            paired = (
                statistics.median(
                    a.seconds / o.seconds for o, a in zip(ones, alls, strict=True)
                )
                if repeats > 1
                else None
            )
            kept = folder / "peer.jsonl"
            if kept.stat().st_size:
                peer = _peer(kept, folder / "trusted_root.json")
            else:  # not kept (PEER_KEPT): the largest measured, scaled
                last = max(results, key=lambda r: r.signatures)
                peer = last.peer_seconds * count * SIGNERS / last.signatures
            results.append(
                Scale(
                    images=count,
                    signatures=count * SIGNERS,
                    ours=ours,
                    parallel=parallel,
                    jobs=jobs,
                    peer_seconds=peer,
                    paired=paired,
                    samples=tuple(
                        (a.seconds, o.seconds) for o, a in zip(ones, alls, strict=True)
                    ),
                )
            )
    return results


if __name__ == "__main__":
    # python -m benchmarks.archive 1000 10000: make (and cache) these sizes only.
    for arg in sys.argv[1:]:
        print(made(int(arg)))
