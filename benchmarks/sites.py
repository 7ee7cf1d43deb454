"""Registry sites: ``appliance load`` into a TLS + token-auth registry, beside ``skopeo copy`` there (#21).

A 256 MiB image (four 64 MiB incompressible layers), signed by the local
Sigstore stack, is exported; the archive is also unpacked into an OCI
layout for the peer. Then, each into a fresh loopback docker-registry with
TLS from a private CA and ``auth: token`` (the tests' token server, tokens
living 300 s), credentials from a Docker config:

* ours: ``appliance load ARCHIVE --to ... --registry-cacert CA`` (verify,
  second pass, push; every request with the token of its scope set);
* ours, plain: the same load into a plain-HTTP registry without auth (what
  the load section measures), so auth and TLS are priced on their own;
* the peer: ``skopeo copy --preserve-digests`` of the same image into the
  TLS + token registry (``--dest-cert-dir``, ``--dest-creds``).

And the export side: the same-sized image published to a TLS + token
registry and to a plain one; ``bundle-tools export`` from each, beside
``skopeo copy`` from the TLS + token one into an OCI layout then
``tar | zstd`` (as the export section's peer).

Goal (#21): ours over TLS + token <= 1.1x ours over plain HTTP.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.archive import export_big
from benchmarks.measure import Run, median, timed
from tests.helpers import netguard, pki, publish, token_server
from tests.helpers import registry as registry_mod
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER

BIN = Path(sys.executable).parent
LAYERS = 4
LAYER_BYTES = 64 * 1024 * 1024
IDENTITY = "signer-0@airlock.test"
USER, PASSWORD = "bench", "bench-pw"


def _load(archive: Path, root: Path, to: str, env: dict[str, str], *flags: str) -> Run:
    return timed(
        [str(BIN / "appliance"), "load", str(archive), "--to", to, "--trusted-root", str(root),
         "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", DEFAULT_ISSUER, "-o", "json", *flags],
        env=env,
    )  # fmt: skip


def run(repeats: int = 3) -> tuple[Run, Run, Run, int]:
    """(ours TLS+token, ours plain HTTP, skopeo TLS+token, archive bytes): medians of ``repeats``."""
    with tempfile.TemporaryDirectory(prefix="bench-sites-") as tmp, netguard.loopback():
        work = Path(tmp)
        archive, root, reference = export_big(
            work, layers=LAYERS, layer_bytes=LAYER_BYTES
        )
        layout = work / "layout"
        layout.mkdir()
        unpack = f"zstd -q -d -c {archive} | tar -xf - -C {layout}"
        subprocess.run(unpack, shell=True, check=True)  # noqa: S602 - our own paths
        ca = pki.make_ca(work / "ca")
        tokens = token_server.start(ca, token_server.Policy(users={USER: PASSWORD}))
        ours_runs, plain_runs, peer_runs = [], [], []
        base = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "REQUESTS_CA_BUNDLE",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "CURL_CA_BUNDLE",
            )
        }
        try:
            for i in range(repeats):
                site = registry_mod.start(
                    work / f"site-{i}", ca=ca, token_server=tokens
                )
                try:
                    config = work / f"docker-{i}"
                    config.mkdir()
                    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                    (config / "config.json").write_text(
                        json.dumps({"auths": {site.address: {"auth": auth}}})
                    )
                    env = {
                        **base,
                        "APPLIANCE_STATE_DIR": str(work / f"state-{i}"),
                        "DOCKER_CONFIG": str(config),
                    }
                    ours_runs.append(
                        _load(
                            archive,
                            root,
                            site.address,
                            env,
                            "--registry-cacert",
                            str(ca.cert),
                        )
                    )
                finally:
                    site.stop()
                plain = registry_mod.start(work / f"plain-{i}")
                try:
                    env = {
                        **base,
                        "APPLIANCE_STATE_DIR": str(work / f"plain-state-{i}"),
                    }
                    plain_runs.append(
                        _load(
                            archive, root, plain.address, env, "--allow-http-registry"
                        )
                    )
                finally:
                    plain.stop()
                peer = registry_mod.start(
                    work / f"peer-{i}", ca=ca, token_server=tokens
                )
                try:
                    peer_runs.append(
                        timed(
                            ["skopeo", "--insecure-policy", "copy", "--preserve-digests", *peer.skopeo_flags("dest"),
                             f"oci:{layout}:{reference}", f"docker://{peer.address}/bench/big:v1"],
                            env=base,
                        )
                    )  # fmt: skip
                finally:
                    peer.stop()
                for name in (f"site-{i}", f"plain-{i}", f"peer-{i}"):
                    subprocess.run(["rm", "-rf", str(work / name)], check=True)
        finally:
            tokens.stop()
        return (
            median(ours_runs),
            median(plain_runs),
            median(peer_runs),
            archive.stat().st_size,
        )


def export(repeats: int = 3) -> tuple[Run, Run, Run]:
    """(ours TLS+token, ours plain HTTP, skopeo+tar+zstd TLS+token): medians of ``repeats`` cold exports."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-sites-export-") as tmp,
        netguard.loopback(),
    ):
        work = Path(tmp)
        ca = pki.make_ca(work / "ca")
        tokens = token_server.start(ca, token_server.Policy(users={USER: PASSWORD}))
        site = registry_mod.start(work / "site", ca=ca, token_server=tokens)
        plain = registry_mod.start(work / "plain")
        base = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "REQUESTS_CA_BUNDLE",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "CURL_CA_BUNDLE",
            )
        }
        base["SOURCE_DATE_EPOCH"] = "1790000000"
        try:
            secure = publish.image(
                site, "bench/big", "v1", layer_bytes=LAYER_BYTES, layers=LAYERS
            )
            open_ = publish.image(
                plain, "bench/big", "v1", layer_bytes=LAYER_BYTES, layers=LAYERS
            )
            config = work / "docker"
            config.mkdir()
            auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            (config / "config.json").write_text(
                json.dumps({"auths": {site.address: {"auth": auth}}})
            )
            env = {**base, "DOCKER_CONFIG": str(config)}
            ours_runs, plain_runs, peer_runs = [], [], []
            for i in range(repeats):
                out = work / f"out-{i}"
                out.mkdir()
                ours_runs.append(
                    timed(
                        [str(BIN / "bundle-tools"), "export", secure.reference, "--out", str(out / "a.tar.zst"),
                         "--no-trust", "--registry-cacert", str(ca.cert), "--cache", str(out / "cache-a")],
                        env=env,
                    )
                )  # fmt: skip
                plain_runs.append(
                    timed(
                        [str(BIN / "bundle-tools"), "export", open_.reference, "--out", str(out / "b.tar.zst"),
                         "--no-trust", "--allow-http-registry", plain.address, "--cache", str(out / "cache-b")],
                        env=base,
                    )
                )  # fmt: skip
                peer = work / f"peer-{i}"
                peer.mkdir()
                flags = " ".join(site.skopeo_flags("src"))
                peer_runs.append(
                    timed(  # noqa: S604 - the peer is a shell pipeline of our own paths
                        [
                            (
                                f"skopeo --insecure-policy copy --preserve-digests {flags} "
                                f"docker://{secure.reference} oci:{peer}/layout:v1 && "
                                f"tar -cf - -C {peer} layout | zstd -q -T0 -3 -o {peer}/t.tar.zst"
                            )
                        ],
                        shell=True,
                        env=base,
                    )
                )  # fmt: skip
                subprocess.run(["rm", "-rf", str(peer), str(out)], check=True)
        finally:
            site.stop()
            plain.stop()
            tokens.stop()
        return median(ours_runs), median(plain_runs), median(peer_runs)


if __name__ == "__main__":
    ours, plain, peer, size = run()
    print(f"archive {size / 1024**2:.0f} MiB: ours TLS+token {ours.seconds:.2f} s, ours plain {plain.seconds:.2f} s "
          f"({ours.seconds / plain.seconds:.2f}x), skopeo copy TLS+token {peer.seconds:.2f} s "
          f"({ours.seconds / peer.seconds:.2f}x)")  # fmt: skip
