"""``make demo``: the main job on an embedded default, narrated step by step.

The sealed appliance verifies a real production Sigstore bundle (the
rfc8785 0.1.2 wheel's GitHub Actions release signature, shipped in
tests/assets) against the public-good trust root sealed into it, offline, and
refuses the same bundle for the wrong signer. Around that: the seal, the
loopback registry round trip with digests preserved, the local Sigstore stack
signing that image (verified by the appliance and by sigstore-python), and an
HSM signature. The exporter and archive arrive with later issues. It ends by
saying what it did.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pkcs11
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)
from rich.console import Console

from tests.helpers import oci, registry, softhsm
from tests.helpers.sigstore_stack import SigstoreStack
from tests.helpers.vectors import ROOT_SIGNING, serve_root_signing

OUT = Path("demo-out")
_VENV_BIN = Path(sys.executable).parent
console = Console(stderr=False, highlight=False)
done: list[str] = []


def step(text: str) -> None:
    """Record and print one thing the demo did."""
    done.append(text)
    console.print(f"[green]✓[/green] {text}")


def programs() -> None:
    for prog in ("appliance", "bundle-tools"):
        out = subprocess.run(
            [_VENV_BIN / prog, "--version"], capture_output=True, text=True, check=True
        )
        step(f"ran `{prog} --version`: {out.stdout.strip()}")


def seal() -> None:
    probe = (
        "import socket; from appliance import _seal; _seal.install()\n"
        "try:\n    socket.getaddrinfo('example.com', 443)\n"
        "except _seal.NetworkSealedError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    step(f"sealed appliance process tried a DNS lookup: {out.stdout.strip()}")


WHEEL_BUNDLE = Path(
    "tests/assets/vectors/bundles/public-good/bundle_v3_github.whl.sigstore"
)
WHEEL_DIGEST = "sha256:c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201"
WHEEL_SIGNER = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
GITHUB = "https://token.actions.githubusercontent.com"


def appliance(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_VENV_BIN / "appliance", *argv], capture_output=True, text=True, check=False
    )


def verify_embedded_default() -> None:
    base = [
        "verify-blob",
        WHEEL_DIGEST,
        "--bundle",
        str(WHEEL_BUNDLE),
        "--certificate-oidc-issuer",
        GITHUB,
    ]
    good = appliance(*base, "--certificate-identity", WHEEL_SIGNER, "-o", "json")
    if good.returncode != 0:
        raise SystemExit(f"demo: verification failed: {good.stderr.strip()}")
    result = json.loads(good.stdout)
    step(
        f"appliance verify-blob verified the rfc8785 0.1.2 wheel's release bundle offline (exit 0): "
        f"signed by {result['signer']} at {result['signing_time']}, Rekor entry {result['log_index']}, "
        f"{len(result['checks'])} checks, against the sealed public-good root"
    )
    bad = appliance(*base, "--certificate-identity", "someone-else@example.com")
    if bad.returncode != 1:
        raise SystemExit("demo: a wrong signer was not refused")
    step(
        f"the same bundle demanded from another signer was refused (exit 1): {bad.stderr.strip()}"
    )


def trust_import(work: Path) -> None:
    """Replay the real sigstore/root-signing chain offline, as `trust import` does."""
    served = serve_root_signing(work / "root-signing")
    source = ROOT_SIGNING
    os.environ["APPLIANCE_STATE_DIR"] = str(
        work / "appliance-state"
    )  # never the operator's own state
    argv = [
        "trust",
        "import",
        str(served),
        "--bootstrap-root",
        str(source / "metadata" / "root_history" / "5.root.json"),
    ]
    refused = appliance(*argv)
    if refused.returncode != 1:
        raise SystemExit("demo: expired TUF metadata was not refused")
    step(
        f"appliance trust import refused the real root-signing snapshot as expired (exit 1): {refused.stderr.strip()}"
    )
    accepted = appliance(*argv, "--trust-max-age", "3650d", "-o", "json")
    if accepted.returncode != 0:
        raise SystemExit(f"demo: trust import failed: {accepted.stderr.strip()}")
    report = json.loads(accepted.stdout)
    late = ", ".join(a["role"] for a in report["expiry_allowances"])
    step(
        f"with --trust-max-age 3650d (the snapshot is frozen in time) it replayed roots v5 to v{report['root_version']} offline, "
        f"timestamp v{report['roles']['timestamp']['version']}, and recorded the expired roles it accepted ({late})"
    )


def registry_round_trip(work: Path) -> str:
    server = registry.start(work / "registry")
    try:
        layout = oci.Layout(work / "layout")
        desc = layout.image({"hello.txt": b"hello from across the gap\n"}, tag="v1")
        server.push_layout(layout.root, "v1", "demo/hello:v1")
        served = server.get_manifest("demo/hello", "v1")
    finally:
        server.stop()
    if served.digest != desc["digest"]:
        msg = f"registry changed the digest: {desc['digest']} -> {served.digest}"
        raise SystemExit(msg)
    step(
        f"pushed demo/hello:v1 to docker-registry on {server.address} and read it back: {served.digest} (digest preserved)"
    )
    return served.digest


def sign(digest: str) -> None:
    from sigstore.models import Bundle, TrustedRoot  # noqa: PLC0415 - the test-only oracle
    from sigstore.verify import Verifier, policy  # noqa: PLC0415

    stack = SigstoreStack(now=datetime.now(UTC).replace(microsecond=0))
    identity = "release@airlock.test"
    signed = stack.attest(
        {"demo/hello": digest.split(":", 1)[1]},
        predicate_type="https://sigstore.dev/cosign/sign/v1",
        identity=identity,
    )
    legacy = stack.sign_image_legacy(digest, reference="demo/hello", identity=identity)
    OUT.mkdir(exist_ok=True)
    (OUT / "hello.sigstore.json").write_bytes(signed.bundle_bytes())
    (OUT / "trusted_root.json").write_bytes(stack.trusted_root_json())
    (OUT / "hello.sig-layer.json").write_text(
        json.dumps(
            {"payload": legacy.payload.decode(), "annotations": legacy.annotations},
            indent=2,
        )
    )
    step(
        f"local Sigstore stack signed {digest[:19]}…: certificate with SCT, Rekor entry {signed.entry.log_index} with SET, proof and checkpoint"
    )
    ours = appliance(
        "verify-blob", digest, "--bundle", str(OUT / "hello.sigstore.json"),
        "--trusted-root", str(OUT / "trusted_root.json"),
        "--certificate-identity", identity, "--certificate-oidc-issuer", stack.issuer,
    )  # fmt: skip
    if ours.returncode != 0:
        raise SystemExit(
            f"demo: the appliance refused the stack's bundle: {ours.stderr.strip()}"
        )
    verifier = Verifier(
        trusted_root=TrustedRoot.from_file(str(OUT / "trusted_root.json"))
    )
    bundle = Bundle.from_json((OUT / "hello.sigstore.json").read_bytes())
    verifier.verify_dsse(
        bundle, policy.Identity(identity=identity, issuer=stack.issuer)
    )
    step(
        f"the appliance verified {OUT}/hello.sigstore.json for the image digest (a DSSE subject); sigstore-python agrees"
    )


def hsm(work: Path) -> None:
    hsm_conf = softhsm.create(work / "softhsm", token_label="airlock-demo")
    os.environ["SOFTHSM2_CONF"] = str(hsm_conf.conf_path)

    # SOFTHSM2_CONF is read when the module is loaded, just below.
    token: Any = pkcs11.lib(hsm_conf.module_path).get_token(token_label="airlock-demo")
    digest = hashlib.sha256(b"approved for release").digest()
    with token.open(rw=True, user_pin=hsm_conf.user_pin) as session:
        params = session.create_domain_parameters(
            pkcs11.KeyType.EC,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        pub, priv = params.generate_keypair(
            store=True,
            label="release-key",
            capabilities=pkcs11.MechanismFlag.SIGN | pkcs11.MechanismFlag.VERIFY,
            private_template={
                pkcs11.Attribute.EXTRACTABLE: False,
                pkcs11.Attribute.SENSITIVE: True,
            },
        )
        signature = encode_ecdsa_signature(
            priv.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
        )
        key = load_der_public_key(encode_ec_public_key(pub))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        msg = "the token returned a non-EC public key"
        raise SystemExit(msg)
    key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    step(
        "SoftHSM token signed a release digest with a non-extractable P-256 key; `cryptography` verified it"
    )


def main() -> int:
    console.rule("Airlock demo")
    with tempfile.TemporaryDirectory(prefix="airlock-demo-") as tmp:
        work = Path(tmp)
        programs()
        verify_embedded_default()
        seal()
        trust_import(work)
        digest = registry_round_trip(work)
        sign(digest)
        hsm(work)
    console.rule("What the demo did")
    for i, text in enumerate(done, 1):
        console.print(f"{i}. {text}")
    console.print(
        f"Outputs: {OUT.resolve()}/ (bundle, trusted root, legacy .sig layer)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
