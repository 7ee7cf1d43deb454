#!/usr/bin/env python3
"""sigstore-conformance entrypoint for the Airlock appliance.

The conformance suite calls::

    ENTRYPOINT verify-bundle [--staging] --bundle FILE
        (--certificate-identity ID --certificate-oidc-issuer URL | --key PEMFILE)
        [--trusted-root FILE] FILE_OR_DIGEST

and reads only the exit status. This is a thin translation onto
``appliance verify-blob``; ``--staging`` selects the staging trusted root
sealed into the appliance. Signing needs the network and is refused.

Run it from a checkout (or anywhere ``appliance`` is installed)::

    python conformance/entrypoint.py verify-bundle --bundle b.json ... a.txt
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a source checkout

from appliance import _seal
from appliance.cli.main import main

USAGE = 2


def translate(argv: list[str]) -> list[str] | None:
    """Map the suite's arguments onto ``verify-blob``; None if unsupported."""
    if not argv or argv[0] != "verify-bundle":
        return None
    *options, artifact = argv[1:] or [""]
    if "--staging" in options:
        options.remove("--staging")
        if "--trusted-root" not in options:
            staging = resources.files("trustroot").joinpath(
                "data", "staging", "trusted_root.json"
            )
            options += ["--trusted-root", str(staging)]
    return ["verify-blob", artifact, *options]


def run(argv: list[str]) -> int:
    """Run one conformance call and return its exit status."""
    translated = translate(argv)
    if translated is None:
        print(
            f"conformance entrypoint: unsupported call {argv[:1]} (offline verification only)",
            file=sys.stderr,
        )
        return USAGE
    _seal.install()
    return main(translated)


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
