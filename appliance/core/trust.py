"""Trust material ready for verification, built once from a trusted root.

Parsing keys and certificates once per trusted root (not once per bundle)
keeps verification fast; every validity window stays attached to what it
bounds, so a key is only ever used inside its window.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from appliance.core import certs, keys
from appliance.core.errors import InputError, Reason, TrustRootError
from trustroot.model import TrustedRoot, TrustRootFormatError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from appliance.core.keys import PublicKey
    from trustroot.model import CertificateAuthority, LogInstance, TimeRange


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedLog:
    """A log's identity, key and window."""

    log_id: bytes
    key: PublicKey
    host: str
    note_names: frozenset[str]
    base_url: str
    checkpoint_hint: bytes
    valid_for: TimeRange


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedAuthority:
    """A CA or TSA chain (leaf or intermediates first, root last) and its window.

    ``sct_issuer_key_hash`` is, for a Fulcio CA, the key hash an embedded SCT
    over a leaf it issued names (computed once, here, not once per bundle).
    """

    uri: str
    certificates: tuple[x509.Certificate, ...]
    valid_for: TimeRange
    sct_issuer_key_hash: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitView:
    """Proof that a log showed two different trees of the same size."""

    origin: str
    size: int
    roots: tuple[bytes, bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class LogMemory:
    """What the appliance remembers of each log across runs (its state).

    Attributes:
        roots: ``(origin, tree size) -> root hash`` of every checkpoint that
            verified before. A checkpoint of a remembered size with another
            root proves the log showed two views of its history.
        split_logs: log ids (key ids) of logs caught doing so, with the proof:
            their entries count for nothing until an operator acts.
    """

    roots: Mapping[tuple[str, int], bytes] = field(default_factory=dict)
    split_logs: Mapping[bytes, SplitView] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustMaterial:
    """Everything the verifier trusts, with where it came from.

    ``stale_since`` is the earliest expiry of the TUF metadata behind the
    trusted root that has already passed, if any: the report says so.
    """

    tlogs: tuple[TrustedLog, ...]
    ctlogs: tuple[TrustedLog, ...]
    fulcio: tuple[TrustedAuthority, ...]
    tsas: tuple[TrustedAuthority, ...]
    source: str  # e.g. "embedded public-good", or a file path
    sha256: str
    tuf_backed: bool
    stale_since: datetime | None = None
    memory: LogMemory = field(default_factory=LogMemory)
    name: str = "public-good"  # the operator's name for this root (policy `trust`)

    @property
    def requires_tlog(self) -> bool:
        """Whether material must carry a counted transparency-log entry.

        The rule lives with the root, as the Sigstore clients define it: a
        root that lists transparency logs demands an entry in one of them
        (sigstore-go ``WithTransparencyLog(1)``); a root with none, such as
        GitHub's instance (fulcio.githubapp.com, timestamp.githubapp.com),
        demands a verified RFC 3161 timestamp instead (``gh attestation
        verify``: ``WithSignedTimestamps(1)``, no log). Never a global switch.
        """
        return bool(self.tlogs)

    @property
    def requires_sct(self) -> bool:
        """Whether a certificate must carry an SCT from one of this root's CT logs.

        A root without CT logs cannot verify any SCT; the GitHub instance's
        root lists none and its clients demand none (``gh``: no
        ``WithSignedCertificateTimestamps`` for it).
        """
        return bool(self.ctlogs)

    @property
    def min_timestamps(self) -> int:
        """Verified RFC 3161 timestamps the root's rule demands (0 or 1)."""
        return 0 if self.requires_tlog else 1

    def tlog(self, log_id: bytes) -> TrustedLog | None:
        """The transparency log with this id, if trusted."""
        return next((log for log in self.tlogs if log.log_id == log_id), None)

    def ctlog(self, log_id: bytes) -> TrustedLog | None:
        """The CT log with this id, if trusted."""
        return next((log for log in self.ctlogs if log.log_id == log_id), None)

    def fulcio_at(self, when: datetime) -> tuple[TrustedAuthority, ...]:
        """Fulcio CAs whose window contains ``when``."""
        return tuple(ca for ca in self.fulcio if ca.valid_for.contains(when))

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        source: str,
        tuf_backed: bool,
        stale_since: datetime | None = None,
    ) -> TrustMaterial:
        """Build trust material from ``trusted_root.json`` bytes.

        Raises:
            TrustRootError: the trusted root is malformed or holds unusable keys.
        """
        try:
            root = TrustedRoot.from_bytes(data)
        except TrustRootFormatError as exc:
            raise TrustRootError(
                str(exc), reason=Reason.TRUST_ROOT_INVALID, where=source
            ) from exc
        return cls.from_model(
            root, source=source, tuf_backed=tuf_backed, stale_since=stale_since
        )

    @classmethod
    def from_model(
        cls,
        root: TrustedRoot,
        *,
        source: str,
        tuf_backed: bool,
        stale_since: datetime | None = None,
    ) -> TrustMaterial:
        """Build trust material from a parsed trusted root.

        Raises:
            TrustRootError: a key or certificate in it cannot be used.
        """
        try:
            return cls(
                tlogs=tuple(
                    _log(log, f"tlogs[{i}]") for i, log in enumerate(root.tlogs)
                ),
                ctlogs=tuple(
                    _log(log, f"ctlogs[{i}]") for i, log in enumerate(root.ctlogs)
                ),
                fulcio=tuple(
                    _authority(ca, f"certificateAuthorities[{i}]")
                    for i, ca in enumerate(root.certificate_authorities)
                ),
                tsas=tuple(
                    TrustedAuthority(
                        uri=ca.uri,
                        certificates=tuple(
                            x509.load_der_x509_certificate(c) for c in ca.chain
                        ),
                        valid_for=ca.valid_for,
                    )
                    for ca in root.timestamp_authorities
                ),
                source=source,
                sha256=root.sha256,
                tuf_backed=tuf_backed,
                stale_since=stale_since,
            )
        except (
            ValueError,
            TypeError,
            UnsupportedAlgorithm,
            x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType,
        ) as exc:  # InputError from keys, or a certificate that does not parse
            raise TrustRootError(
                f"unusable trust material: {exc}",
                reason=Reason.TRUST_ROOT_INVALID,
                where=source,
            ) from exc


PUBLIC_GOOD = "public-good"
GITHUB = "github"
# Names for the roots `gh attestation trusted-root` prints, by their Fulcio
# CA's URI (the operator's file, so the name is theirs, not an archive's).
_KNOWN_FULCIO = {
    "fulcio.sigstore.dev": PUBLIC_GOOD,
    "fulcio.githubapp.com": GITHUB,
    "fulcio.sigstage.dev": "staging",
}


def known_name(root: TrustedRoot) -> str | None:
    """The conventional name of a root, from its Fulcio CA's host, if known."""
    for ca in root.certificate_authorities:
        host = ca.uri.removeprefix("https://").split("/", 1)[0]
        if host in _KNOWN_FULCIO:
            return _KNOWN_FULCIO[host]
    return None


def materials_from_bytes(
    data: bytes, *, source: str, tuf_backed: bool
) -> tuple[TrustMaterial, ...]:
    """One ``trusted_root.json``, or ``gh attestation trusted-root``'s JSON lines.

    A single document is the default root (named ``public-good``), whatever
    it holds, as ``--trusted-root`` has always meant. In JSON lines each line
    is a root of its own, named by its Fulcio CA (``public-good``,
    ``github``, ``staging``), else ``line-N``; material then verifies when it
    verifies under one of them by that root's own rules.

    Raises:
        TrustRootError: a root is malformed, or two lines claim one name.
    """
    try:
        single = TrustedRoot.from_bytes(data)
    except TrustRootFormatError as whole:
        lines = [
            (n, line)
            for n, line in enumerate(data.splitlines(), start=1)
            if line.strip()
        ]
        if len(lines) < 2:  # noqa: PLR2004 - one line is one document: its own error
            raise TrustRootError(
                str(whole), reason=Reason.TRUST_ROOT_INVALID, where=source
            ) from whole
    else:
        return (named_material(single, source=source, tuf_backed=tuf_backed),)
    found: list[TrustMaterial] = []
    for n, line in lines:
        where = f"{source} line {n}"
        try:
            root = TrustedRoot.from_bytes(line)
        except TrustRootFormatError as exc:
            raise TrustRootError(
                str(exc), reason=Reason.TRUST_ROOT_INVALID, where=where
            ) from exc
        name = known_name(root) or f"line-{n}"
        if any(m.name == name for m in found):
            msg = f"a second root named {name!r} (each line must be another instance)"
            raise TrustRootError(msg, reason=Reason.TRUST_ROOT_INVALID, where=where)
        found.append(
            named_material(
                root, source=f"{where} ({name})", tuf_backed=tuf_backed, name=name
            )
        )
    return tuple(found)


def named_material(
    root: TrustedRoot, *, source: str, tuf_backed: bool, name: str = PUBLIC_GOOD
) -> TrustMaterial:
    """:meth:`TrustMaterial.from_model` under a name."""
    material = TrustMaterial.from_model(root, source=source, tuf_backed=tuf_backed)
    return material if name == PUBLIC_GOOD else replace(material, name=name)


def _authority(ca: CertificateAuthority, where: str) -> TrustedAuthority:
    """Load a CA chain and check its links once (each issued by the next).

    The verifier then anchors paths at the issuing certificate; a chain whose
    links do not hold is a broken trusted root, refused as a whole.
    """
    certificates = tuple(x509.load_der_x509_certificate(c) for c in ca.chain)
    for i, (child, parent) in enumerate(itertools.pairwise(certificates)):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
            raise ValueError(
                f"{where}: certificate {i} is not issued by certificate {i + 1}"
            ) from exc
    return TrustedAuthority(
        uri=ca.uri,
        certificates=certificates,
        valid_for=ca.valid_for,
        sct_issuer_key_hash=certs.sct_issuer_key_hash(certificates),
    )


def _log(log: LogInstance, where: str) -> TrustedLog:
    try:
        key = keys.load_der(log.public_key, where=where)
    except InputError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return TrustedLog(
        log_id=log.log_id,
        key=key,
        host=log.host,
        note_names=log.note_names,
        base_url=log.base_url,
        # The note key hint is the first 4 bytes of the key id (C2SP signed-note).
        checkpoint_hint=(log.checkpoint_key_id or log.log_id)[:4],
        valid_for=log.valid_for,
    )
