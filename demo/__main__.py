"""``make demo``: the mission end to end, on loopback, with no internet.

1. an "upstream" registry on 127.0.0.1 receives demo images: ``app`` (one
   platform; signed keylessly by the local test Sigstore stack and by the
   release key in demo/keys, with an SBOM and a SLSA provenance attestation),
   ``multi`` (two platforms; the index and each platform signed as Sigstore
   bundles) and ``rogue`` (signed by the wrong identity);
2. ``bundle-tools export`` carries them, their signatures and the trust into
   one archive;
3. the appliance (the sealed build when ``make sealed`` made one) verifies the
   archive offline against demo/policy.toml and refuses ``rogue``, saying why;
4. ``appliance load`` pushes the verified images into a second, "in-gap"
   registry and countersigns them with a SoftHSM key;
5. skopeo reads the in-gap registry back: the digests and signatures arrived;
6. a summary names the archive, the report and the audit log.

Every process it starts is stopped at the end, on an error and on Ctrl-C.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console

from benchmarks.measure import sealed_binary
from tests.helpers import netguard, registry, softhsm
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.world import IDENTITY, ROGUE, World, publish_world

if TYPE_CHECKING:
    from types import FrameType

ROOT = Path(__file__).parents[1]
OUT = Path("demo-out")
BIN = Path(sys.executable).parent
PIN = "2468"
console = Console(highlight=False)
started = time.monotonic()
story: list[str] = []


def step(text: str) -> None:
    """Print and remember one thing the demo did."""
    story.append(text)
    console.print(f"[green]✓[/green] {text}")


def _interrupted(signum: int, frame: FrameType | None) -> None:
    del frame
    raise KeyboardInterrupt(signal.Signals(signum).name)


def appliance_command() -> tuple[list[str], str]:
    """The sealed appliance if ``make sealed`` built one, else the virtualenv's."""
    sealed = sealed_binary()
    if sealed.is_file():
        return [str(sealed)], f"the sealed build ({sealed})"
    return [
        str(BIN / "appliance")
    ], "the appliance from the virtualenv (`make sealed` builds the sealed one)"


def run(
    argv: list[str], env: dict[str, str], *, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run one program of ours; its exit status must be ``expect``."""
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, check=False, timeout=300
    )
    if done.returncode != expect:
        console.print(done.stdout[-3000:], done.stderr[-3000:])
        msg = f"{' '.join(argv[:3])}... exited {done.returncode}, expected {expect}"
        raise SystemExit(msg)
    return done


def publish(upstream: registry.Registry) -> tuple[Path, World]:
    stack = SigstoreStack(now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    key = serialization.load_pem_private_key(
        (ROOT / "demo" / "keys" / "release.pem").read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # noqa: S101 - the committed demo key
    world = publish_world(
        upstream, stack, namespace="demo", layer_bytes=512 * 1024, key=key
    )
    root = OUT / "trusted_root.json"
    root.write_bytes(stack.trusted_root_json())
    step(
        f"published demo/app (keyless by {IDENTITY} and by the release key, SBOM, SLSA provenance), "
        f"demo/multi (2 platforms, Sigstore bundles) and demo/rogue (signed by {ROGUE}) to the upstream registry {upstream.address}"
    )
    return root, world


def export(
    upstream: registry.Registry, world: World, root: Path, env: dict[str, str]
) -> Path:
    archive = OUT / "transfer.tar.zst"
    references = world.references
    run(
        [str(BIN / "bundle-tools"), "export", *references, "--out", str(archive), "--trusted-root", str(root),
         "--allow-http-registry", upstream.address, "--cache", str(OUT / "cache"), "-o", "json"],
        env,
    )  # fmt: skip
    size = archive.stat().st_size
    step(
        f"`bundle-tools export` wrote {archive} ({size / 2**20:.1f} MiB): 3 images, their signatures, attestations, SBOM, referrers, the trust"
    )
    return archive


def verify(
    appliance: list[str], archive: Path, root: Path, env: dict[str, str]
) -> dict[str, Any]:
    report = OUT / "report.json"
    run(
        [*appliance, "verify", str(archive), "--policy", str(ROOT / "demo" / "policy.toml"), "--trusted-root", str(root),
         "--report", str(report)],
        env,
        expect=1,  # rogue is refused: not every image verified
    )  # fmt: skip
    doc: dict[str, Any] = json.loads(report.read_text())
    for image in doc["images"]:
        mark = (
            "[green]✔ verified[/green]" if image["verified"] else "[red]✖ refused[/red]"
        )
        console.print(
            f"    {mark}  {image['ref']}  {'' if image['verified'] else '(' + image['reason'] + ': ' + image['message'] + ')'}"
        )
    refused = [i for i in doc["images"] if not i["verified"]]
    passed = [i for i in doc["images"] if i["verified"]]
    step(
        f"the appliance verified {len(passed)} of {len(doc['images'])} images offline against demo/policy.toml; "
        f"refused {', '.join(i['ref'].rsplit('/', 1)[-1] for i in refused)}: {refused[0]['reason'] if refused else '-'}"
    )
    return doc


def load(
    appliance: list[str],
    archive: Path,
    root: Path,
    gap: registry.Registry,
    env: dict[str, str],
) -> dict[str, Any]:
    hsm = softhsm.create(OUT / "softhsm", token_label="appliance", user_pin=PIN)
    hsm_env = {**env, "SOFTHSM2_CONF": str(hsm.conf_path), "COSIGN_PKCS11_PIN": PIN}
    key = f"pkcs11:token=appliance;object=countersign?module-path={hsm.module_path}"
    run([*appliance, "pkcs11", "keygen", "--key", key], hsm_env)
    run(
        [
            *appliance,
            "public-key",
            "--key",
            key,
            "--output-file",
            str(OUT / "appliance.pub"),
        ],
        hsm_env,
    )
    done = run(
        [*appliance, "load", str(archive), "--to", f"{gap.address}/gap", "--allow-http-registry",
         "--policy", str(ROOT / "demo" / "policy.toml"), "--trusted-root", str(root),
         "--countersign-key", key, "-o", "json"],
        hsm_env,
        expect=1,  # rogue is refused and not pushed
    )  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    pushed = report["load"]["pushed"]
    step(
        f"`appliance load` pushed {len(pushed['images'])} verified images to the in-gap registry {gap.address} "
        f"({pushed['blobs_sent']} blobs, {pushed['manifests']} manifests; rogue not pushed) and countersigned them "
        f"with a SoftHSM key ({len(pushed['countersigned'])} signatures: a .sig and a SLSA VSA each)"
    )
    return report


def prove(gap: registry.Registry, report: dict[str, Any]) -> None:
    checked = []
    for image in report["images"]:
        if not image["verified"]:
            continue
        repo = "gap/" + image["reference"].split("/", 1)[1].rsplit(":", 1)[0]
        tag = image["reference"].rsplit(":", 1)[1]
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{gap.address}/{repo}:{tag}"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if digest != image["digest"]:
            msg = f"{repo}:{tag} arrived as {digest}, not {image['digest']}"
            raise SystemExit(msg)
        tags = json.loads(
            subprocess.run(
                [
                    "skopeo",
                    "list-tags",
                    "--tls-verify=false",
                    f"docker://{gap.address}/{repo}",
                ],
                capture_output=True,
                check=True,
                text=True,
            ).stdout
        )["Tags"]
        signed = f"sha256-{digest[7:]}.sig" in tags or f"sha256-{digest[7:]}" in tags
        if not signed:
            msg = f"{repo} carries no signature tag for {digest}"
            raise SystemExit(msg)
        checked.append(f"{repo}:{tag} {digest[:19]}")
    step(
        f"skopeo read the in-gap registry back: {'; '.join(checked)}: digests as upstream, signatures beside them"
    )


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupted)
    console.rule("Airlock demo: carry signed images across the gap")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    env = {
        **os.environ,
        "APPLIANCE_STATE_DIR": str((OUT / "appliance-state").resolve()),
        "SOURCE_DATE_EPOCH": "1790000000",
    }
    appliance, which = appliance_command()
    servers: list[registry.Registry] = []
    netguard.install()
    try:
        with netguard.loopback():
            upstream = registry.start((OUT / "upstream").resolve())
            servers.append(upstream)
            gap = registry.start((OUT / "in-gap").resolve())
            servers.append(gap)
            step(
                f"started two loopback registries: upstream {upstream.address}, in-gap {gap.address}"
            )
            root, world = publish(upstream)
            archive = export(upstream, world, root, env)
            step(f"the disconnected side runs {which}")
            verify(appliance, archive, root, env)
            loaded = load(appliance, archive, root, gap, env)
            prove(gap, loaded)
            chain = run([*appliance, "audit", "verify"], env).stdout.strip()
            step(f"the audit log holds every decision: {chain}")
    except KeyboardInterrupt:
        console.print("[red]interrupted: stopping what the demo started[/red]")
        return 130
    finally:
        for server in servers:
            server.stop()
    console.rule("What the demo did")
    for number, text in enumerate(story, 1):
        console.print(f"{number}. {text}")
    console.print(f"archive: {archive.resolve()}")
    console.print(f"report:  {(OUT / 'report.json').resolve()}")
    console.print(f"audit:   {(OUT / 'appliance-state' / 'audit.jsonl').resolve()}")
    console.print(
        f"in {time.monotonic() - started:.1f} s, with no network but loopback"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
