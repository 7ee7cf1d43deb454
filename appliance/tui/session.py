"""What the TUI was started with: the verification it runs, where it loads, the key it countersigns with.

Built by the CLI's ``tui`` command from its flags
(:func:`appliance.cli.tui_cmd.session`); the app never reads a command line.
The archive may be chosen later (the file picker): :meth:`Session.verifying`
names it in the request.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.actions.registry import RegistryAccess, SignerChoice

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.actions.verify import VerifyRequest
    from appliance.signer.interface import SecretsHandler


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """The TUI's settings, fixed for its run."""

    verify: VerifyRequest  # its archive is a placeholder until one is chosen
    archive: Path | None  # the archive named on the command line, if any
    state_dir: Path
    root: Path  # where the file picker starts
    plain_http: bool = False  # --allow-http-registry
    countersign_key: str | None = None  # the key `k` countersigns with
    module_path: str | None = None
    prompt: SecretsHandler | None = None  # asks for a key file's password, if needed
    to: str = ""  # the registry the load dialog proposes
    # --registry-cacert, the client pair and --allow-host, as the CLI takes them
    reach: RegistryAccess | None = None

    def verifying(self, archive: Path) -> VerifyRequest:
        """The verification of ``archive`` under the session's policy and trust."""
        return dataclasses.replace(self.verify, archive=archive)

    @property
    def access(self) -> RegistryAccess:
        """How to reach the in-gap registry (credentials from the Docker config)."""
        if self.reach is None:
            return RegistryAccess(plain_http=self.plain_http)
        return dataclasses.replace(self.reach, plain_http=self.plain_http)

    def signer(self, pin: str) -> SignerChoice | None:
        """The countersigning key, its PIN the one typed in the masked field (never kept)."""
        if self.countersign_key is None:
            return None
        return SignerChoice(
            key=self.countersign_key,
            module_path=self.module_path,
            secrets=lambda _prompt: pin,
        )
