"""Bundle verification: Airlock's core against sigstore-python, same inputs, same run.

Two measurements (issue: offline verification core):

* in-process, per bundle: parse + verify, trust material loaded once, as a
  long-running verifier would (our ``Bundle.from_bytes`` + ``verify_bundle``
  against sigstore-python's ``Bundle.from_json`` + ``Verifier.verify_*``;
  for a DSSE bundle, the same verdict as ours, "this bundle attests to this
  digest", is what sigstore-python's own ``sigstore verify`` does after
  ``verify_dsse``: the payload type, then the statement and its subject);
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

from sigstore import dsse as sp_dsse
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
    from collections.abc import Callable, Sequence

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


def _paired_samples(
    fns: Sequence[Callable[[], object]], *, iterations: int, rounds: int
) -> list[list[float]]:
    """Per call ms of each of ``fns`` in each round, in alternating batches.

    Each round times a batch of ``iterations`` calls of every function in
    turn, the order reversed every other round. A machine whose load drifts
    (another process, a noisy neighbour) then slows every side alike, where
    timing one side's batches and then the other's put the drift on one of
    them (the same code's ratio to sigstore-python swung from 0.71x to 0.94x
    between runs).
    """
    for fn in fns:
        fn()  # warm
    samples: list[list[float]] = [[] for _ in fns]
    for round_ in range(rounds):
        order = range(len(fns)) if round_ % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            fn = fns[i]
            start = time.perf_counter()
            for _ in range(iterations):
                fn()
            samples[i].append((time.perf_counter() - start) / iterations * 1000)
    return samples


def _paired_ms(
    fns: Sequence[Callable[[], object]], *, iterations: int, rounds: int = 10
) -> list[float]:
    """Per call ms of each of ``fns``: the median of its alternating batches."""
    samples = _paired_samples(fns, iterations=iterations, rounds=rounds)
    return [statistics.median(side) for side in samples]


@dataclass(frozen=True)
class Paired:
    """One bundle kind: ours, the peer's and the floor, timed in the same alternating batches.

    ``ours``, ``peer`` and ``floor`` are medians (ms a call). ``ratio`` is
    the median, over the rounds, of our batch's time over the peer's batch
    beside it (``floor_ratio`` likewise): the two batches of a round run
    back to back, so a host whose speed drifts (seen on a 2-vCPU Xeon VM:
    whole seconds at 1.7x the time, then faster again) slows both alike, and
    the ratio of each pair does not move with it. The fastest batch of each
    side, which ``timeit`` advises for one side, is no estimate of a ratio
    there: the two fastest batches may fall in different seconds (it gave
    0.55x to 0.91x for the same code where the pairs gave 0.80x to 0.81x).
    """

    label: str
    ours: float
    peer: float
    floor: float
    ratio: float
    floor_ratio: float


def _median_ratio(mine: Sequence[float], theirs: Sequence[float]) -> float:
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))


def measured(iterations: int = 10, rounds: int = 60) -> list[Paired]:
    """Every bundle kind: ours, sigstore-python's and the floor in alternating batches."""
    now = datetime.now(UTC)
    rows = []
    for case in CASES:
        mine, theirs = sides(case, now)
        ours_ms, peer_ms, floor_ms = _paired_samples(
            [mine, theirs, crypto_floor(case)], iterations=iterations, rounds=rounds
        )
        rows.append(
            Paired(
                label=case.label,
                ours=statistics.median(ours_ms),
                peer=statistics.median(peer_ms),
                floor=statistics.median(floor_ms),
                ratio=_median_ratio(ours_ms, peer_ms),
                floor_ratio=_median_ratio(floor_ms, peer_ms),
            )
        )
    return rows


def sides(
    case: Case, now: datetime, digest: bytes | None = None
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Ours and sigstore-python's verification of ``case``: the same verdict, each raising if not.

    ``digest`` (default: the case's own) is the artifact both are asked about.
    """
    data = case.bundle.read_bytes()
    digest = _digest(case) if digest is None else digest
    trust = TrustMaterial.from_bytes(
        case.trusted_root.read_bytes(), source="bench", tuf_backed=False
    )
    ours_policy = IdentityPolicy(identity=case.identity, issuer=case.issuer)
    artifact = Artifact.from_digest("sha256", digest)
    theirs = Verifier(trusted_root=SpTrustedRoot.from_file(str(case.trusted_root)))
    their_policy = policy.Identity(identity=case.identity, issuer=case.issuer)
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)

    def ours() -> None:
        verify_bundle(
            Bundle.from_bytes(data),
            artifact=artifact,
            trust=trust,
            policy=ours_policy,
            now=now,
        )

    def sigstore_python() -> None:
        bundle = SpBundle.from_json(data)
        if not case.dsse:
            theirs.verify_artifact(hashed, bundle, their_policy)
            return
        # As sigstore/_cli.py's _verify_common: verify_dsse binds the bundle
        # to no artifact until the statement's subject does (ours checks the
        # same subject inside verify_bundle).
        payload_type, payload = theirs.verify_dsse(bundle, their_policy)
        if payload_type != sp_dsse.Envelope._TYPE:  # noqa: SLF001 - the CLI's own check
            raise ValueError(payload_type)
        if not sp_dsse.Statement(payload)._matches_digest(hashed):  # noqa: SLF001 - as the CLI
            raise ValueError(digest.hex())

    return ours, sigstore_python


def in_process(iterations: int = 50) -> list[tuple[str, float, float]]:
    """(label, ours ms, sigstore-python ms) per bundle, in alternating batches."""
    now = datetime.now(UTC)
    rows = []
    for case in CASES:
        mine, peer = _paired_ms(list(sides(case, now)), iterations=iterations)
        rows.append((case.label, mine, peer))
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


def _recorded_signatures(
    case: Case, trust: TrustMaterial
) -> list[Callable[[], object]]:
    """Every signature check one verification of ``case`` makes, as bare calls.

    The verifier runs once with :mod:`appliance.core.keys`'s two checks
    recording their arguments; each is replayed as the one ``cryptography``
    call it comes to (ECDSA with the curve's hash, or prehashed; Ed25519),
    with no dispatch, parsing or policy around it.
    """
    from cryptography.hazmat.primitives.asymmetric import (  # noqa: PLC0415
        ec,
        ed25519,
        utils,
    )

    from appliance.core import keys  # noqa: PLC0415

    calls: list[Callable[[], object]] = []
    plain, prehashed = keys.verify, keys.verify_prehashed

    def record(key: keys.PublicKey, signature: bytes, data: bytes, **kw: str) -> None:
        plain(key, signature, data, **kw)
        if isinstance(key, ed25519.Ed25519PublicKey):
            calls.append(lambda: key.verify(signature, data))
        elif isinstance(key, ec.EllipticCurvePublicKey):
            algorithm = ec.ECDSA(keys._CURVE_HASH[key.curve.name]())  # noqa: SLF001
            calls.append(lambda: key.verify(signature, data, algorithm))

    def record_prehashed(
        key: keys.PublicKey, signature: bytes, digest: bytes, name: str, **kw: str
    ) -> None:
        prehashed(key, signature, digest, name, **kw)
        if isinstance(key, ec.EllipticCurvePublicKey):
            algorithm = ec.ECDSA(utils.Prehashed(keys._HASHLIB[name]()))  # noqa: SLF001
            calls.append(lambda: key.verify(signature, digest, algorithm))

    keys.verify, keys.verify_prehashed = record, record_prehashed  # type: ignore[assignment]
    try:
        verify_bundle(
            Bundle.from_bytes(case.bundle.read_bytes()),
            artifact=Artifact.from_digest("sha256", _digest(case)),
            trust=trust,
            policy=IdentityPolicy(identity=case.identity, issuer=case.issuer),
            now=datetime.now(UTC),
        )
    finally:
        keys.verify, keys.verify_prehashed = plain, prehashed
    return calls


def crypto_floor(case: Case | None = None) -> Callable[[], None]:
    """The public-key operations of one bundle alone, with nothing around them.

    For ``case`` (the first by default): one RFC 5280 path validation of its
    leaf by ``cryptography`` (the CA's signature on it) at its signing time,
    every signature check the verifier makes on it, replayed bare (artifact
    or DSSE, SET, checkpoint, SCT: :func:`_recorded_signatures`), and for
    each RFC 3161 stamp ``rfc3161-client``'s one cryptographic call (the CMS
    signature and the TSA's chain, in OpenSSL). No verifier of this bundle
    can go below it without skipping a check. Printed beside each bundle.
    """
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        Encoding,
    )
    from cryptography.x509.verification import PolicyBuilder, Store  # noqa: PLC0415

    from appliance.core import certs  # noqa: PLC0415

    case = case or CASES[0]
    trust = TrustMaterial.from_bytes(
        case.trusted_root.read_bytes(), source="bench", tuf_backed=False
    )
    bundle = Bundle.from_bytes(case.bundle.read_bytes())
    assert bundle.certificate is not None  # noqa: S101 - every case is keyless
    leaf = x509.load_der_x509_certificate(bundle.certificate)
    when = leaf.not_valid_before_utc
    issuer = trust.fulcio_at(when)[0].certificates[0]
    calls = _recorded_signatures(case, trust)
    stamps = []
    if bundle.rfc3161_timestamps:
        from rfc3161_client import decode_timestamp_response  # noqa: PLC0415
        from rfc3161_client._rust import verify as tsa  # noqa: PLC0415

        anchors = [c.public_bytes(Encoding.DER) for c in trust.tsas[0].certificates]
        for stamp in bundle.rfc3161_timestamps:
            response = decode_timestamp_response(stamp)
            stamps.append(
                (response.time_stamp_token(), response.tst_info.gen_time, anchors)
            )

    def floor() -> None:
        PolicyBuilder().store(Store([issuer])).time(when).extension_policies(
            ca_policy=certs._CA_POLICY,  # noqa: SLF001 - the policies the verifier uses
            ee_policy=certs._EE_POLICY,  # noqa: SLF001
        ).build_client_verifier().verify(leaf, [])
        for call in calls:
            call()
        for token, gen_time, anchors in stamps:
            tsa.pkcs7_verify(token, gen_time, anchors)

    return floor
