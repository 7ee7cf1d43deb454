"""The appliance's error hierarchy, grouped by who must act.

``str(exc)`` holds the short cause; :meth:`ApplianceError.diagnostics` gives the
one line an operator reads, naming what was wrong and where. Exceptions never
exit the process: only the CLI turns them into exit codes.

This module defines the *kinds* of failure; it performs no checks itself.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

# RFC 7512 pin-value, however the URI around it is spelled (``PKCS11:``, a
# leading space, percent-encoding, a quoted repr): a PIN is never repeated.
_PIN_VALUE = re.compile(r"(pin-value\s*=\s*)[^&;?\s'\"]*", re.IGNORECASE)


class Reason(StrEnum):
    """Why something was not positively verified: a closed set.

    JSON output, the TUI and tests rely on these values, never on message text,
    so a value once published is never renamed.
    """

    # Input and structure
    MALFORMED_INPUT = "malformed-input"
    UNSUPPORTED_FORMAT = "unsupported-format"
    LIMIT_EXCEEDED = "limit-exceeded"
    # Content addressing
    DIGEST_MISMATCH = "digest-mismatch"
    # Signatures and identity
    SIGNATURE_INVALID = "signature-invalid"
    CERTIFICATE_INVALID = "certificate-invalid"
    CHAIN_UNTRUSTED = "chain-untrusted"
    IDENTITY_MISMATCH = "identity-mismatch"
    ISSUER_MISMATCH = "issuer-mismatch"
    SCT_INVALID = "sct-invalid"
    # Transparency log and time
    TLOG_ENTRY_MISSING = "tlog-entry-missing"
    TLOG_ENTRY_INVALID = "tlog-entry-invalid"
    SET_INVALID = "set-invalid"
    INCLUSION_PROOF_INVALID = "inclusion-proof-invalid"
    CHECKPOINT_INVALID = "checkpoint-invalid"
    SPLIT_VIEW = "split-view"  # a log showed two trees of one size (log memory)
    TIMESTAMP_INVALID = "timestamp-invalid"
    NO_VERIFIED_TIME = "no-verified-time"
    OUTSIDE_VALIDITY = "outside-validity"
    # Trust root
    TRUST_ROOT_INVALID = "trust-root-invalid"
    TRUST_ROOT_EXPIRED = "trust-root-expired"
    ROLLBACK = "rollback"
    THRESHOLD_NOT_MET = "threshold-not-met"
    METADATA_MISMATCH = (
        "metadata-mismatch"  # a role's bytes differ from what its parent signed
    )
    BAD_VERSION = "bad-version"  # not the version the chain demands
    CLOCK_BEFORE_FLOOR = "clock-before-floor"  # the clock is behind a time already seen
    # Policy
    POLICY_UNSATISFIED = "policy-unsatisfied"
    # Revocation (docs/revocation.md): a deny entry of the policy or of an
    # applied feed; the feed itself; two-person integrity.
    DENIED_DIGEST = "denied-digest"  # the image (or a platform) is denied
    DENIED_SIGNER = "denied-signer"  # a signature's signer, key, entry or serial
    REVOCATIONS_STALE = "revocations-stale"  # newest feed older than allowed
    FEED_UNTRUSTED = "feed-untrusted"  # a feed no revocation key verifies
    APPROVALS_MISSING = "approvals-missing"  # fewer approvers than the controls demand
    # Not verification outcomes: what input and signer errors report in JSON.
    USAGE = "usage"  # bad flags or arguments
    INPUT_UNREADABLE = "input-unreadable"  # a file that cannot be read or written
    SIGNER_FAILED = "signer-failed"  # PKCS#11 module, token, PIN or key
    INTERRUPTED = "interrupted"  # SIGINT or SIGTERM: nothing was completed
    NOTHING_MATCHED = (
        "nothing-matched"  # an image-set entry the registry has nothing for
    )


def redact(text: str) -> str:
    """``text`` with every ``pin-value=...`` replaced by ``pin-value=***``."""
    return _PIN_VALUE.sub(r"\1***", text)


def _rebuild(
    cls: type[ApplianceError], args: tuple[object, ...], state: dict[str, Any]
) -> ApplianceError:
    """An error as :meth:`ApplianceError.__reduce__` pickled it (no ``__init__`` call)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ApplianceError(Exception):
    """Base of every error the appliance reports to an operator.

    Args:
        message: the short cause, e.g. ``"digest mismatch"``.
        where: what the error is about: a file, a member, a field, a URI.
    """

    reason: Reason = Reason.MALFORMED_INPUT

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle whole, though ``__init__`` takes keyword-only arguments.

        A verdict judged in a worker process (``--jobs``) carries its errors
        back to the parent: the reason, the place and any evidence (a split
        view's checkpoints) must arrive as they left.
        """
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def diagnostics(self) -> str:
        """Return one line for the operator: what was wrong, and where.

        A PKCS#11 ``pin-value`` is redacted, whatever the message quotes.
        """
        text = self.message if self.where is None else f"{self.where}: {self.message}"
        # One line, always: an embedded newline would break log parsing and the TUI.
        return redact(" ".join(text.split()))


class VerificationError(ApplianceError):
    """Something was not positively verified (exit 1).

    Args:
        message: the short cause.
        reason: the closed reason code that tests and JSON output rely on.
        where: what failed verification.
    """

    def __init__(
        self, message: str, *, reason: Reason, where: str | None = None
    ) -> None:
        super().__init__(message, where=where)
        self.reason = reason
        # Who signed, when everything but the policy verified (the chain,
        # the SCT, the signature): (SAN, issuer). Shown to help write a
        # policy; never a reason to accept anything.
        self.signed_by: tuple[str, str | None] | None = None


class SplitViewError(VerificationError):
    """A log showed two trees of one size: the evidence, for the log memory.

    Args:
        message: the short cause.
        log_id: the log's key id.
        origin: the checkpoints' origin.
        size: the tree size both checkpoints claim.
        roots: the remembered root, then the conflicting one.
        where: the entry that brought the conflicting checkpoint.
    """

    def __init__(  # noqa: PLR0913 - the evidence, each part named
        self,
        message: str,
        *,
        log_id: bytes,
        origin: str,
        size: int,
        roots: tuple[bytes, bytes],
        where: str | None = None,
    ) -> None:
        super().__init__(message, reason=Reason.SPLIT_VIEW, where=where)
        self.log_id = log_id
        self.origin = origin
        self.size = size
        self.roots = roots


class TrustRootError(VerificationError):
    """The trust root is invalid, expired, rolled back or missing (exit 1).

    Fail closed: without a verified trust root nothing can be verified.
    """


class InputError(ApplianceError):
    """Bad flags, or input that cannot be read or parsed at all (exit 2).

    Args:
        message: the short cause.
        where: the flag, file, member or field at fault.
        reason: ``malformed-input`` (default), ``limit-exceeded``, ``usage``
            or ``input-unreadable``: what JSON output reports.
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        reason: Reason = Reason.MALFORMED_INPUT,
    ) -> None:
        super().__init__(message, where=where)
        self.reason = reason


class SignerError(ApplianceError):
    """A PKCS#11 module, token, PIN or key problem (exit 2)."""

    reason = Reason.SIGNER_FAILED
