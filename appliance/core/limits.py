"""Resource limits the core enforces, with their defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Caps on untrusted input. Defaults follow sigstore-go where it has one."""

    max_bundle_bytes: int = 16 * 1024 * 1024
    max_tlog_entries: int = 32  # sigstore-go
    max_timestamps: int = 32  # sigstore-go, sigstore-python
    max_proof_hashes: int = 64  # a 2**64-leaf tree needs no more
    max_statement_subjects: int = 1024  # sigstore-go
    max_subject_digests: int = 32  # sigstore-go


DEFAULT_LIMITS = Limits()
