"""The signing seam: what an HSM key and a file key both provide."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from appliance.core.keys import PublicKey

# Asked for a secret (a PIN, a key password) with a prompt; returns it. The
# CLI passes a getpass-based handler; the TUI passes the PIN dialog's answer.
SecretsHandler = Callable[[str], str]


class Signer(Protocol):
    """Signs bytes with a key it never reveals."""

    @property
    def public_key(self) -> PublicKey:
        """The public half, to name the signer and to check signatures."""

    def sign(self, data: bytes) -> bytes:
        """Return a DER signature over ``data`` (ECDSA with SHA-256 for P-256).

        Implementations verify the signature with :attr:`public_key` before
        returning it: tokens can fail silently.
        """

    def sign_digest(self, sha256_digest: bytes) -> bytes:
        """Return a DER signature over an already computed SHA-256 digest.

        For artifacts too large to hold in memory: the caller streams the hash.
        """
