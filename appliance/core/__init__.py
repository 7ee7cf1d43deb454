"""The pure verification core: bytes, trust and ``now`` in, a verdict out.

Nothing here opens files, reads the clock or the environment, or touches the
network; callers do I/O at the edges and pass values in. The error hierarchy
lives in :mod:`appliance.core.errors`.

Example::

    from appliance.core import VerificationError, Reason

    try:
        ...
    except VerificationError as exc:
        assert exc.reason is Reason.DIGEST_MISMATCH
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
