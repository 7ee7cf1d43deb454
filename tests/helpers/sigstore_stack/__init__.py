"""A local Sigstore instance for tests that mints real material.

A Fulcio-like CA (root and intermediate) issuing ten-minute code-signing
certificates with the Fulcio extensions and an embedded SCT from a CT log key,
a Rekor-like append-only log with an RFC 6962 Merkle tree producing SETs,
inclusion proofs and signed-note checkpoints, optionally an RFC 3161 TSA
(OpenSSL's ``openssl ts``, in ``tsa.py``), and the ``trusted_root.json``
describing all of it. It produces Sigstore bundles (v0.1, v0.2, v0.3) and
cosign legacy signature layers.

It is test infrastructure, not product code, and is written independently of
the appliance's verifier so that each can catch the other's mistakes. Its
fidelity is proven in ``tests/infra/test_sigstore_stack.py``: sigstore-python
accepts what it mints, offline, against the trusted root it writes.

Example::

    stack = SigstoreStack(now=datetime(2026, 1, 2, tzinfo=UTC))
    signed = stack.sign_blob(b"hello", identity="dev@example.com")
    bundle_json = signed.bundle(version="0.3")
    root_json = stack.trusted_root_json()
"""

from __future__ import annotations

from tests.helpers.sigstore_stack.fulcio import GitHubClaims
from tests.helpers.sigstore_stack.stack import (
    DEFAULT_ISSUER,
    LegacySignature,
    SignedArtifact,
    SigstoreStack,
)

__all__ = [
    "DEFAULT_ISSUER",
    "GitHubClaims",
    "LegacySignature",
    "SignedArtifact",
    "SigstoreStack",
]
