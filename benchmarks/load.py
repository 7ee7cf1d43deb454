"""Load speed: ``appliance load`` (verification included) against ``skopeo copy``, same run.

A 1 GiB image (four 256 MiB incompressible layers), signed keylessly by the
local Sigstore stack, is exported by ``bundle-tools export``; the archive is
also unpacked into an OCI layout for the peer. Then, each into a fresh
loopback docker-registry:

* ours: ``appliance load ARCHIVE --to ...`` (verify the archive, then read it
  a second time and push every blob as it is re-hashed, then manifests and
  signatures);
* the peer: ``skopeo copy --preserve-digests oci:DIR:REF docker://...`` of
  the same image from the unpacked layout (no verification, no signatures).

Goal (issue: load): ours <= 1.2x the peer's time, our verification included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.archive import export_big
from benchmarks.measure import Run, median, timed
from tests.helpers import netguard
from tests.helpers import registry as registry_mod
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER

BIN = Path(sys.executable).parent
LAYERS = 4
LAYER_BYTES = 256 * 1024 * 1024
IDENTITY = "signer-0@airlock.test"


def run(repeats: int = 3) -> tuple[Run, Run, int]:
    """(ours, peer, archive bytes): medians of ``repeats`` runs into fresh registries."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, netguard.loopback():
        work = Path(tmp)
        archive, root, reference = export_big(
            work, layers=LAYERS, layer_bytes=LAYER_BYTES
        )
        layout = work / "layout"
        layout.mkdir()
        unpack = f"zstd -q -d -c {archive} | tar -xf - -C {layout}"
        subprocess.run(unpack, shell=True, check=True)  # noqa: S602 - our own paths
        ours_runs, peer_runs = [], []
        for i in range(repeats):
            gap = registry_mod.start(work / f"gap-{i}")
            try:
                env = {**os.environ, "APPLIANCE_STATE_DIR": str(work / f"state-{i}")}
                ours_runs.append(
                    timed(
                        [str(BIN / "appliance"), "load", str(archive), "--to", gap.address, "--allow-http-registry",
                         "--trusted-root", str(root), "--certificate-identity", IDENTITY,
                         "--certificate-oidc-issuer", DEFAULT_ISSUER, "-o", "json"],
                        env=env,
                    )
                )  # fmt: skip
            finally:
                gap.stop()
            peer_gap = registry_mod.start(work / f"peer-{i}")
            try:
                peer_runs.append(
                    timed(
                        ["skopeo", "--insecure-policy", "copy", "--preserve-digests", "--dest-tls-verify=false",
                         f"oci:{layout}:{reference}", f"docker://{peer_gap.address}/bench/big:v1"],
                    )
                )  # fmt: skip
            finally:
                peer_gap.stop()
            subprocess.run(
                ["rm", "-rf", str(work / f"gap-{i}"), str(work / f"peer-{i}")],
                check=True,
            )
        return median(ours_runs), median(peer_runs), archive.stat().st_size


if __name__ == "__main__":
    ours, peer, size = run()
    print(f"archive {size / 1024**3:.2f} GiB: ours {ours.seconds:.2f} s ({ours.peak_rss_mib:.0f} MiB RSS), "
          f"skopeo copy {peer.seconds:.2f} s ({peer.peak_rss_mib:.0f} MiB RSS), ratio {ours.seconds / peer.seconds:.2f}x")  # fmt: skip
