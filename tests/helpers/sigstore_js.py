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


CLI = ORACLE / "node_modules" / "@sigstore" / "cli" / "bin" / "run"


def cli_verify(
    bundle: Path,
    *,
    mirror: str,
    tuf_root: Path,
    cache: Path,
    email: str | None = None,
    uri: str | None = None,
    issuer: str,
    blob: Path | None = None,
    force_cache: bool = False,
) -> Verdict:
    """``sigstore verify`` (``@sigstore/cli``, pinned): trust comes only through TUF from ``mirror``.

    The CLI cannot take a trusted root: it bootstraps from ``tuf_root`` and
    fetches ``trusted_root.json`` from the mirror (tuf-js), caching under
    ``cache``; ``force_cache`` uses the cache alone (no server needed).
    """
    if not CLI.is_file():
        msg = "@sigstore/cli is not installed: run `make js-oracle` (make test does)"
        raise RuntimeError(msg)
    argv = ["node", str(CLI), "verify", str(bundle), "--certificate-issuer", issuer]
    argv += ["--tuf-mirror-url", mirror, "--tuf-root-path", str(tuf_root)]
    argv += ["--tuf-cache-path", str(cache)]
    if email is not None:
        argv += ["--certificate-identity-email", email]
    if uri is not None:
        argv += ["--certificate-identity-uri", uri]
    if blob is not None:
        argv += ["--blob-file", str(blob)]
    if force_cache:
        argv.append("--tuf-force-cache")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return Verdict(
        ok=done.returncode == 0
        and "Verification succeeded" in done.stdout + done.stderr,
        said=(done.stdout + done.stderr).strip()[-2000:],
    )
