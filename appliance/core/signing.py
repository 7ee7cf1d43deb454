"""Pure builders for what the appliance signs and writes (no key in sight).

* :func:`simple_signing_payload`: cosign's simple-signing payload for an image
  digest, byte for byte as cosign (Go's ``encoding/json``) writes it.
* :func:`key_signed_bundle`: a Sigstore bundle v0.3 for a key signature made
  offline: a public-key hint, a message signature, and no log entry (offline
  there is no log; verifying it requires the key).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from appliance.core import keys

if TYPE_CHECKING:
    from appliance.core.keys import PublicKey

COSIGN_SIGNATURE_TYPE = "cosign container image signature"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _go_json(value: object) -> bytes:
    # Go's json.Marshal: compact, map keys sorted, and HTML-safe escaping of
    # <, > and & (and U+2028/U+2029), which Python does not do by default.
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode()


def simple_signing_payload(
    image_digest: str, reference: str, annotations: dict[str, str] | None = None
) -> bytes:
    """The cosign payload for ``reference`` at ``image_digest``, with ``-a`` annotations.

    Args:
        image_digest: ``sha256:<hex>`` of the image manifest.
        reference: the repository (``docker-reference``), e.g. ``reg.example/app``.
        annotations: cosign ``-a key=value`` pairs; None writes ``null``.
    """
    return _go_json(
        {
            "critical": {
                "identity": {"docker-reference": reference},
                "image": {"docker-manifest-digest": image_digest},
                "type": COSIGN_SIGNATURE_TYPE,
            },
            "optional": annotations,
        }
    )


def key_hint(public_key: PublicKey) -> str:
    """The cosign public-key hint: base64 of SHA-256 over the DER SubjectPublicKeyInfo."""
    return base64.b64encode(keys.key_id(public_key)).decode()


def key_signed_bundle(
    *, sha256_digest: bytes, signature: bytes, public_key: PublicKey
) -> bytes:
    """A v0.3 bundle for an offline key signature over an artifact's SHA-256."""
    bundle = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(public_key)},
            "tlogEntries": [],
        },
        "messageSignature": {
            "messageDigest": {
                "algorithm": "SHA2_256",
                "digest": base64.b64encode(sha256_digest).decode(),
            },
            "signature": base64.b64encode(signature).decode(),
        },
    }
    return json.dumps(bundle, indent=2).encode() + b"\n"
