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


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveLimits:
    """Caps on a transfer archive, checked while it streams by.

    Each is far above a real archive and far below what would exhaust the
    appliance: past any of them, intake stops at once and names the limit.
    """

    max_members: int = 2_000_000
    max_member_bytes: int = 256 * 1024**3  # one layer
    max_total_bytes: int = 4 * 1024**4  # everything decompressed
    max_json_bytes: int = 16 * 1024 * 1024  # one manifest, signature layer, bundle
    max_ledger_bytes: int = 64 * 1024 * 1024
    max_kept_bytes: int = 1024 * 1024 * 1024  # every document kept in memory
    max_json_depth: int = 64
    # A zstd bomb: decompressed/compressed past this ratio, once this much has
    # been decompressed. Image layers are compressed already (ratio ~1); JSON
    # compresses ~10x; a bomb, thousands.
    max_compression_ratio: int = 1000
    ratio_grace_bytes: int = 256 * 1024 * 1024


DEFAULT_ARCHIVE_LIMITS = ArchiveLimits()
