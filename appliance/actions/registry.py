"""How an action reaches the in-gap registry, and with which key it signs there.

The values both faces fill in: the CLI from ``--allow-http-registry``,
``--registry-username`` (the password from stdin) and ``--key``; the TUI
from its command line and its dialogs (the PIN from a masked field, handed
over as a secrets handler, never kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core.errors import redact

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.signer.interface import SecretsHandler


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryAccess:
    """How to talk to the in-gap registry."""

    plain_http: bool = False  # --allow-http-registry
    login: tuple[str, str] | None = None  # (user, password); else the Docker config's
    # TLS files as cosign names its flags; certs.d and the system's trust apply too.
    cacert: Path | None = None  # --registry-cacert
    client_cert: Path | None = None  # --registry-client-cert
    client_key: Path | None = None  # --registry-client-key
    # --allow-host HOST[:PORT]: hosts the seal admits besides the registry's own
    # (an HTTPS proxy is used only when named here).
    allow_hosts: tuple[str, ...] = ()

    def __repr__(self) -> str:
        """Never the password."""
        user = None if self.login is None else self.login[0]
        return (
            f"RegistryAccess(plain_http={self.plain_http}, user={user!r}, "
            f"cacert={self.cacert}, client_cert={self.client_cert}, allow_hosts={self.allow_hosts})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerChoice:
    """A signing key: a ``pkcs11:`` URI, a cosign key file or a PEM private key."""

    key: str
    module_path: str | None = (
        None  # the PKCS#11 module, else $COSIGN_PKCS11_MODULE_PATH
    )
    secrets: SecretsHandler | None = None  # answers a PIN or password prompt

    def __repr__(self) -> str:
        """The key redacted (a URI may carry a PIN)."""
        return f"SignerChoice(key={redact(self.key)!r})"
