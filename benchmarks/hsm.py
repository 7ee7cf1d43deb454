"""HSM signing rate: our signer in one PKCS#11 session against raw C_Sign.

Both run on the same fresh SoftHSM token in the same process: the peer is
python-pkcs11's bare ``sign(digest, mechanism=CKM_ECDSA)`` (SoftHSM's raw
C_Sign rate); ours adds what every signature needs: host hashing, the r||s to
DER conversion and the check of the signature against the public key.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from tests.helpers import softhsm

COUNT = 1000


def run() -> tuple[float, float, float]:
    """Signatures/s: (ours over blobs, ours over image digests, raw C_Sign), COUNT each.

    The image row is what ``appliance sign`` does per image short of the
    registry: build the cosign payload, sign it, check it with the
    appliance's own verifier, and build the ``.sig`` layer.
    """
    with tempfile.TemporaryDirectory(prefix="airlock-bench-hsm-") as tmp:
        hsm = softhsm.create(Path(tmp), token_label="bench", user_pin="1234")
        os.environ["SOFTHSM2_CONF"] = str(hsm.conf_path)
        import pkcs11  # noqa: PLC0415 - after SOFTHSM2_CONF

        from appliance.signer import pkcs11 as ours  # noqa: PLC0415
        from appliance.signer.pkcs11_uri import parse  # noqa: PLC0415

        uri = parse(
            f"pkcs11:token=bench;object=bench-key?module-path={hsm.module_path}"
        )
        lib = ours.load(hsm.module_path)
        lib.reinitialize()
        token = ours.select_token(lib, uri)
        with ours.TokenSession(token, pin="1234", rw=True) as session:
            session.keygen(uri)
            signer = session.signer(uri)
            blobs = [os.urandom(256) for _ in range(COUNT)]
            start = time.perf_counter()
            for blob in blobs:
                signer.sign(blob)  # hash on the host, C_Sign, DER, verify
            ours_rate = COUNT / (time.perf_counter() - start)
            image_rate = _images(signer)
            (private,) = session.session.get_objects(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                    pkcs11.Attribute.LABEL: "bench-key",
                }
            )
            digests = [hashlib.sha256(blob).digest() for blob in blobs]
            start = time.perf_counter()
            for digest in digests:
                private.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
            raw_rate = COUNT / (time.perf_counter() - start)
        return ours_rate, image_rate, raw_rate


def _images(signer: object) -> float:
    from datetime import UTC, datetime  # noqa: PLC0415

    from appliance.core import image_signing, signing  # noqa: PLC0415
    from appliance.core.legacy import LegacySignature, verify_legacy  # noqa: PLC0415
    from appliance.core.policy import KeyPolicy  # noqa: PLC0415
    from appliance.trust import roots  # noqa: PLC0415

    policy = KeyPolicy(key=signer.public_key)  # type: ignore[attr-defined]
    trust, now = roots.load_embedded(), datetime.now(UTC)
    digests = [
        "sha256:" + hashlib.sha256(os.urandom(32)).hexdigest() for _ in range(COUNT)
    ]
    start = time.perf_counter()
    for digest in digests:
        payload = signing.simple_signing_payload(digest, "registry.gap:5000/acme/app")
        layer = image_signing.signature_layer(payload, signer.sign(payload))  # type: ignore[attr-defined]
        verify_legacy(
            LegacySignature(payload=payload, annotations=layer.descriptor.annotations),
            image_digest=digest,
            trust=trust,
            policy=policy,
            now=now,
            insecure_ignore_tlog=True,
        )
    return COUNT / (time.perf_counter() - start)
