"""Deltas: what ``export --have`` saves when one 50 MiB layer of a 2 GiB image changed.

``bench/set:v1`` is forty 50 MiB layers of random data (2,000 MiB); ``v2`` is
v1 with its last layer replaced. v1 is copied into a second loopback
registry, the "in-gap" one (skopeo), and ``appliance inventory --registry``
writes what that registry holds. Then, each from a cold cache:

* ours: ``bundle-tools export v2 --have INVENTORY.json``, and ``appliance
  verify`` of that delta;
* the peer: the full ``bundle-tools export v2``, and ``appliance verify`` of it.

Rows: bytes carried across the gap, export time, verification time. Goal:
the delta carries the changed layer and the metadata alone (<= 1.05x of
50 MiB over 2,000 MiB, i.e. a ratio near 0.025).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import Run, median, timed
from tests.helpers import netguard, publish
from tests.helpers import registry as registry_mod
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.world import IDENTITY

BIN = Path(sys.executable).parent
LAYERS = 40
LAYER_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Figures:
    """Delta and full: archive bytes, export and verification runs."""

    image_bytes: int
    changed_bytes: int
    delta_bytes: int
    full_bytes: int
    delta_export: Run
    full_export: Run
    delta_verify: Run
    full_verify: Run


def _export(
    reference: str, out: Path, registry: str, *extra: str, env: dict[str, str]
) -> Run:
    out.parent.mkdir(parents=True, exist_ok=True)
    root = out.parents[1] / "trusted_root.json"
    return timed(
        [str(BIN / "bundle-tools"), "export", reference, "--out", str(out), "--trusted-root", str(root),
         "--allow-http-registry", registry, "--cache", str(out.parent / "cache"), *extra],
        env=env,
    )  # fmt: skip


def _verify(archive: Path, env: dict[str, str]) -> Run:
    root = archive.parents[1] / "trusted_root.json"
    return timed(
        [str(BIN / "appliance"), "verify", str(archive), "--trusted-root", str(root),
         "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER],
        env=env,
    )  # fmt: skip


def run(repeats: int = 3) -> Figures:
    """Medians of ``repeats`` cold exports and verifications, delta and full."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-delta-") as tmp,
        netguard.loopback(),
    ):
        work = Path(tmp)
        upstream = registry_mod.start(work / "upstream")
        gap = registry_mod.start(work / "gap")
        try:
            v1 = publish.image(
                upstream, "bench/set", "v1", layer_bytes=LAYER_BYTES, layers=LAYERS
            )
            v2 = publish.derived(
                upstream, v1, "v2", layer_bytes=LAYER_BYTES, replace_last=True
            )
            stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
            (work / "trusted_root.json").write_bytes(stack.trusted_root_json())
            publish.Signer(upstream, stack).sign_legacy(v2, identity=IDENTITY)
            subprocess.run(
                ["skopeo", "--insecure-policy", "copy", "-q", "--preserve-digests",
                 "--src-tls-verify=false", "--dest-tls-verify=false",
                 f"docker://{v1.reference}", f"docker://{gap.address}/bench/set:v1"],
                check=True,
            )  # fmt: skip
            env = {
                **os.environ,
                "SOURCE_DATE_EPOCH": "1790000000",
                "APPLIANCE_STATE_DIR": str(work / "state"),
            }
            inventory = work / "inventory.json"
            subprocess.run(
                [str(BIN / "appliance"), "inventory", "-o", str(inventory),
                 "--registry", gap.address, "--allow-http-registry"],
                check=True,
                env=env,
            )  # fmt: skip
            runs: dict[str, list[Run]] = {k: [] for k in ("de", "fe", "dv", "fv")}
            sizes = {}
            for i in range(repeats):
                delta = work / f"delta-{i}" / "t.tar.zst"
                full = work / f"full-{i}" / "t.tar.zst"
                runs["de"].append(
                    _export(v2.reference, delta, upstream.address, "--have", str(inventory), env=env)
                )  # fmt: skip
                runs["fe"].append(
                    _export(v2.reference, full, upstream.address, env=env)
                )
                sizes = {"delta": delta.stat().st_size, "full": full.stat().st_size}
                runs["dv"].append(_verify(delta, env))
                runs["fv"].append(_verify(full, env))
                subprocess.run(
                    ["rm", "-rf", str(delta.parent), str(full.parent)], check=True
                )
            layer_sizes = [upstream.blob_path(d).stat().st_size for d in v2.layers]
        finally:
            upstream.stop()
            gap.stop()
    return Figures(
        image_bytes=sum(layer_sizes),
        changed_bytes=layer_sizes[-1],
        delta_bytes=sizes["delta"],
        full_bytes=sizes["full"],
        delta_export=median(runs["de"]),
        full_export=median(runs["fe"]),
        delta_verify=median(runs["dv"]),
        full_verify=median(runs["fv"]),
    )


if __name__ == "__main__":
    f = run(repeats=1)
    print(f"delta {f.delta_bytes:,} B vs full {f.full_bytes:,} B (changed layer {f.changed_bytes:,} B); "
          f"export {f.delta_export.seconds:.2f} s vs {f.full_export.seconds:.2f} s; "
          f"verify {f.delta_verify.seconds:.2f} s vs {f.full_verify.seconds:.2f} s")  # fmt: skip
