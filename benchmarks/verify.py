"""Bundle verification: Airlock's core against sigstore-python, same inputs, same run.

Two measurements (issue: offline verification core):

* in-process, per bundle: parse + verify, trust material loaded once, as a
  long-running verifier would (our ``Bundle.from_bytes`` + ``verify_bundle``
  against sigstore-python's ``Bundle.from_json`` + ``Verifier.verify_*``);
* per process: ``appliance verify-blob`` against
  ``sigstore --trust-config ... verify identity``, both offline.

Inputs are real public vectors from tests/assets/vectors.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sigstore.hashes import Hashed
from sigstore.models import Bundle as SpBundle
from sigstore.models import TrustedRoot as SpTrustedRoot
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.policy import IdentityPolicy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from benchmarks.measure import sealed_binary

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).parents[1]
VECTORS = ROOT / "tests" / "assets" / "vectors"
BIN = Path(sys.executable).parent
BEACON = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
GITHUB = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Case:
    """One bundle to verify, with what both verifiers need."""

    label: str
    bundle: Path
    trusted_root: Path
    digest: str
    identity: str
    issuer: str
    dsse: bool = False


CASES = [
    Case(
        "prod v0.2 hashedrekord (SET+proof)",
        VECTORS / "bundles/public-good/bundle_v3_github.whl.sigstore",
        VECTORS / "trust/public-good/trusted_root.json",
        "c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201",
        "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
        GITHUB,
    ),
    Case(
        "prod v0.3 hashedrekord",
        VECTORS / "conformance/bundle-verify/happy-path-v0.3/bundle.sigstore.json",
        VECTORS / "trust/public-good/trusted_root.json",
        "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
        BEACON,
        GITHUB,
    ),
    Case(
        "staging Rekor v2 + RFC 3161",
        VECTORS / "bundles/staging/staging-rekor-v2.txt.sigstore.json",
        VECTORS / "trust/staging/trusted_root.json",
        "",
        "jku@goto.fi",
        "https://github.com/login/oauth",
    ),
    Case(
        "prod v0.3 DSSE in-toto",
        VECTORS
        / "conformance/bundle-verify/happy-path-intoto-in-dsse-v3/bundle.sigstore.json",
        VECTORS / "trust/public-good/trusted_root.json",
        "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
        BEACON,
        GITHUB,
        dsse=True,
    ),
]


def _digest(case: Case) -> bytes:
    if case.digest:
        return bytes.fromhex(case.digest)
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(
        (VECTORS / "bundles/staging/staging-rekor-v2.txt").read_bytes()
    ).digest()


def _per_call_ms(
    fn: Callable[[], object], *, iterations: int, repeats: int = 3
) -> float:
    fn()  # warm
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        best.append((time.perf_counter() - start) / iterations * 1000)
    return statistics.median(best)


def in_process(iterations: int = 150) -> list[tuple[str, float, float]]:
    """(label, ours ms, sigstore-python ms) per bundle."""
    rows = []
    now = datetime.now(UTC)
    for case in CASES:
        data = case.bundle.read_bytes()
        digest = _digest(case)
        trust = TrustMaterial.from_bytes(
            case.trusted_root.read_bytes(), source="bench", tuf_backed=False
        )
        ours_policy = IdentityPolicy(identity=case.identity, issuer=case.issuer)
        artifact = Artifact.from_digest("sha256", digest)
        theirs = Verifier(trusted_root=SpTrustedRoot.from_file(str(case.trusted_root)))
        their_policy = policy.Identity(identity=case.identity, issuer=case.issuer)
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)

        def ours(
            data: bytes = data,
            trust: TrustMaterial = trust,
            pol: IdentityPolicy = ours_policy,
            art: Artifact = artifact,
        ) -> None:
            verify_bundle(
                Bundle.from_bytes(data), artifact=art, trust=trust, policy=pol, now=now
            )

        def sigstore_python(
            data: bytes = data,
            v: Verifier = theirs,
            pol: policy.Identity = their_policy,
            h: Hashed = hashed,
            *,
            dsse: bool = case.dsse,
        ) -> None:
            bundle = SpBundle.from_json(data)
            if dsse:
                v.verify_dsse(bundle, pol)
            else:
                v.verify_artifact(h, bundle, pol)

        rows.append(
            (
                case.label,
                _per_call_ms(ours, iterations=iterations),
                _per_call_ms(sigstore_python, iterations=iterations),
            )
        )
    return rows


def _process_ms(argv: list[str], *, runs: int) -> float:
    import os  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as state:
        # A state directory of its own: never the operator's memories.
        env = {**os.environ, "APPLIANCE_STATE_DIR": state}
        subprocess.run(argv, check=True, capture_output=True, env=env)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=env)
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


FROZEN = sealed_binary()


def per_process(runs: int = 10) -> list[tuple[str, float, float]]:
    """(label, ours ms, sigstore-python ms): one verification per process."""
    case = CASES[0]
    digest = f"sha256:{case.digest}"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "trust_config.json"
        config.write_text(
            json.dumps(
                {
                    "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                    "trustedRoot": json.loads(case.trusted_root.read_bytes()),
                    "signingConfig": json.loads(
                        (
                            VECTORS / "trust/public-good/signing_config.v0.2.json"
                        ).read_bytes()
                    ),
                }
            )
        )
        ours = [
            str(BIN / "appliance"),
            "verify-blob",
            digest,
            "--bundle",
            str(case.bundle),
            "--certificate-identity",
            case.identity,
            "--certificate-oidc-issuer",
            case.issuer,
        ]
        theirs = [
            str(BIN / "sigstore"),
            "--trust-config",
            str(config),
            "verify",
            "identity",
            "--bundle",
            str(case.bundle),
            "--cert-identity",
            case.identity,
            "--cert-oidc-issuer",
            case.issuer,
            digest,
        ]
        peer = _process_ms(theirs, runs=runs)
        rows = [("appliance verify-blob (venv)", _process_ms(ours, runs=runs), peer)]
        if FROZEN.exists():
            rows.append(
                (
                    "appliance verify-blob (sealed build)",
                    _process_ms([str(FROZEN), *ours[1:]], runs=runs),
                    peer,
                )
            )
        return rows


def crypto_floor_ms(iterations: int = 300) -> float:
    """The public-key operations alone of the first case, with nothing around them.

    One RFC 5280 path validation by ``cryptography`` (its P-384 signature) and
    the four P-256 checks (artifact signature, SET, checkpoint, SCT), timed
    without parsing or policy: no verifier can go below this without
    skipping a check. Printed beside the in-process ratios.
    """
    import base64  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.verification import PolicyBuilder, Store  # noqa: PLC0415

    from appliance.core import certs  # noqa: PLC0415

    case = CASES[0]
    doc = json.loads(case.bundle.read_bytes())
    chain = doc["verificationMaterial"]["x509CertificateChain"]["certificates"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
    trust = TrustMaterial.from_bytes(
        case.trusted_root.read_bytes(), source="bench", tuf_backed=False
    )
    when = leaf.not_valid_before_utc
    issuer = trust.fulcio_at(when)[0].certificates[0]
    key = ec.generate_private_key(ec.SECP256R1())
    message = b"x" * 300
    signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()

    def floor() -> None:
        PolicyBuilder().store(Store([issuer])).time(when).extension_policies(
            ca_policy=certs._CA_POLICY,  # noqa: SLF001 - the policies the verifier uses
            ee_policy=certs._EE_POLICY,  # noqa: SLF001
        ).build_client_verifier().verify(leaf, [])
        for _ in range(4):
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))

    return _per_call_ms(floor, iterations=iterations)
