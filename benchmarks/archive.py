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
* **scale**: archives of 10 / 100 / 1,000 images, each signed by ten keyless
  signers (100 / 1,000 / 10,000 cosign signatures), verified with a policy
  demanding all ten. Beside it, sigstore-python verifying the same
  signatures (as v0.1 bundles, in one process, trust loaded once: only the
  cryptography, no archive). Goal: linear, and <= 60 s for 10,000.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import Run, timed
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
    """One size: images, signatures, our run, the peer's seconds."""

    images: int
    signatures: int
    ours: Run
    peer_seconds: float


def _policy(path: Path) -> Path:
    signers = "".join(
        f'\n  [[rules.signers]]\n  identity = "{i}"\n  issuer = "{DEFAULT_ISSUER}"\n'
        for i in IDENTITIES
    )
    path.write_text(f'[[rules]]\nmatch = ["**"]\nthreshold = {SIGNERS}\n{signers}')
    return path


def _peer(bundles: list[tuple[bytes, bytes, str]], root: Path) -> float:
    """sigstore-python, in this process: each signature verified once, trust loaded once."""
    from sigstore.models import Bundle as SpBundle  # noqa: PLC0415 - the test-only oracle
    from sigstore.models import TrustedRoot as SpTrustedRoot  # noqa: PLC0415
    from sigstore.verify import Verifier, policy  # noqa: PLC0415

    verifier = Verifier(trusted_root=SpTrustedRoot.from_file(str(root)))
    policies = {
        i: policy.Identity(identity=i, issuer=DEFAULT_ISSUER) for i in IDENTITIES
    }
    start = time.perf_counter()
    for payload, bundle, identity in bundles:
        verifier.verify_artifact(
            payload, SpBundle.from_json(bundle), policies[identity]
        )
    return time.perf_counter() - start


def scale(sizes: tuple[int, ...] = (10, 100, 1000)) -> list[Scale]:
    """Verify archives of ``sizes`` images, ten signatures each."""
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, netguard.loopback():
        work = Path(tmp)
        root = work / "trusted_root.json"
        root.write_bytes(stack.trusted_root_json())
        policy = _policy(work / "policy.toml")
        server = registry_mod.start(work / "registry")
        try:
            for count in sizes:
                refs, bundles = [], []
                for i in range(count):
                    image = publish.image(server, f"bench/scale{count}/app{i}", "v1")
                    bundles += sign_image(server, stack, image)
                    refs.append(image.reference)
                archive = work / f"scale{count}.tar.zst"
                export_archive(
                    server,
                    refs,
                    archive,
                    root,
                    {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"},
                )
                env = {**os.environ, "APPLIANCE_STATE_DIR": str(work / f"state{count}")}
                ours = timed([str(BIN / "appliance"), "verify", str(archive), "--trusted-root", str(root), "--policy", str(policy), "-o", "json"], env=env)  # fmt: skip
                results.append(
                    Scale(
                        images=count,
                        signatures=len(bundles),
                        ours=ours,
                        peer_seconds=_peer(bundles, root),
                    )
                )
        finally:
            server.stop()
    return results


if __name__ == "__main__":
    for size in scale((10, 100)):
        print(size)
