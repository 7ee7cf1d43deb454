"""The error hierarchy: one-line diagnostics, a closed set of reasons, exit codes."""

from __future__ import annotations

import pytest

from airlock_io.exit_codes import ExitCode, exit_code_for
from appliance.core.errors import (
    ApplianceError,
    InputError,
    Reason,
    SignerError,
    TrustRootError,
    VerificationError,
)


def test_diagnostics_names_what_and_where() -> None:
    err = VerificationError(
        "digest mismatch", reason=Reason.DIGEST_MISMATCH, where="blobs/sha256/ab12"
    )
    assert err.diagnostics() == "blobs/sha256/ab12: digest mismatch"
    assert str(err) == "digest mismatch"
    assert err.reason is Reason.DIGEST_MISMATCH


@pytest.mark.parametrize(
    "message",
    ["line one\nline two", "tabs\tand  spaces", "trailing newline\n", "\r\nboth\r\n"],
)
def test_diagnostics_is_always_one_line(message: str) -> None:
    line = InputError(message, where="a\nb").diagnostics()
    assert "\n" not in line
    assert "\r" not in line
    assert line == " ".join(line.split())


def test_diagnostics_without_where() -> None:
    assert SignerError("PIN incorrect").diagnostics() == "PIN incorrect"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            VerificationError("x", reason=Reason.SIGNATURE_INVALID),
            ExitCode.VERIFICATION_FAILED,
        ),
        (
            TrustRootError("x", reason=Reason.TRUST_ROOT_EXPIRED),
            ExitCode.VERIFICATION_FAILED,
        ),
        (InputError("x"), ExitCode.USAGE_OR_INPUT),
        (SignerError("x"), ExitCode.USAGE_OR_INPUT),
        (
            ApplianceError("x"),
            ExitCode.VERIFICATION_FAILED,
        ),  # unknown kind: fail closed
    ],
)
def test_exit_code_follows_the_kind(error: ApplianceError, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_trust_root_errors_are_verification_failures() -> None:
    assert issubclass(TrustRootError, VerificationError)


def test_reason_values_are_stable_kebab_case() -> None:
    values = [r.value for r in Reason]
    assert len(values) == len(set(values))
    for value in values:
        assert value == value.lower()
        assert " " not in value
        assert "_" not in value
