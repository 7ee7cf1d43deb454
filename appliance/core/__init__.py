"""The pure verification core: bytes, trust and ``now`` in, a verdict out.

Nothing here opens files, reads the clock or the environment, or touches the
network; callers do I/O at the edges and pass values in. The error hierarchy
lives in :mod:`appliance.core.errors`.

Example::

    from appliance.core import Reason, VerificationError
    from appliance.core.bundle import Bundle
    from appliance.core.verifier import verify_bundle

    try:
        result = verify_bundle(Bundle.from_bytes(data), artifact=artifact,
                               trust=trust, policy=policy, now=now)
    except VerificationError as exc:
        print(exc.reason, exc.diagnostics())
"""

from __future__ import annotations

from appliance.core.errors import (
    ApplianceError,
    InputError,
    Reason,
    SignerError,
    TrustRootError,
    VerificationError,
)

__all__ = [
    "ApplianceError",
    "InputError",
    "Reason",
    "SignerError",
    "TrustRootError",
    "VerificationError",
]
