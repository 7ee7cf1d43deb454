"""sigstore-js as a test oracle: does an independent verifier accept a bundle we wrote?

``tests/oracle-js`` pins ``@sigstore/verify`` and friends (``make js-oracle``
installs them from the npm registry, as ``make test`` does); ``verify.js``
checks a key-signed bundle with the public key supplied and every log
threshold at 0 (docs/development.md §6). Never imported by the product.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ORACLE = Path(__file__).parents[1] / "oracle-js"


@dataclass(frozen=True)
class Verdict:
    """What sigstore-js said."""

    ok: bool
    said: str


def verify(
    bundle: Path,
    key_pem: Path,
    *,
    artifact: Path | None = None,
    subject: str | None = None,
) -> Verdict:
    """Run sigstore-js on ``bundle`` with ``key_pem`` (and the artifact, or the statement's subject)."""
    if not (ORACLE / "node_modules" / "@sigstore" / "verify").is_dir():
        msg = "sigstore-js is not installed: run `make js-oracle` (make test does)"
        raise RuntimeError(msg)
    argv = ["node", str(ORACLE / "verify.js"), str(bundle), str(key_pem)]
    if artifact is not None:
        argv.append(str(artifact))
    if subject is not None:
        argv += ["--subject", subject]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return Verdict(
        ok=done.returncode == 0 and done.stdout.strip() == "OK",
        said=(done.stdout + done.stderr).strip(),
    )
