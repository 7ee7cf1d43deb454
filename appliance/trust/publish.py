"""Publish the trust the appliance holds as a gap-local TUF repository.

Clients inside the gap (cosign ``initialize --mirror``, policy-controller's
``TrustRoot``, sigstore-js ``--tuf-mirror-url``, python-tuf's ngclient) fetch
the Sigstore trusted root through TUF and cannot use a copy of the public-good
repository for long: its timestamp expires within days. So the appliance runs
its own repository (TUF specification 1.0, §4 "Document formats"), signed by
its own keys: an offline root key set with a threshold, and one online key for
targets, snapshot and timestamp, any of them an HSM key.

The layout is the one TUF clients read with consistent snapshots (§6.2,
"Consistent snapshots")::

    root.json                     the newest root: what clients bootstrap from
    N.root.json                   every root version, the chain a client walks
    timestamp.json                written last: the commit point of a publish
    N.snapshot.json, N.targets.json
    targets/<sha256>.<name>       trusted_root.json, <name>.trusted_root.json
    targets/<name>                the newest of each, for tools that read it by name

Every file is written atomically (temporary name, fsync, rename), targets and
versioned metadata first and ``timestamp.json`` last, so a client that reads
while a publish runs sees the old repository or the new one. A repository
already in the directory is checked (each role against the root's keys and
threshold, each target against its hash) before it is continued: nothing is
re-signed that the appliance did not sign.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from securesystemslib.signer import Key, Signature, SSlibKey
from securesystemslib.signer import Signer as TufSigner
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from airlock_io import inputs
from airlock_io.atomic import locked, write_atomically
from airlock_io.oserrors import write_error
from appliance.core.errors import InputError, Reason, SignerError, TrustRootError
from trustroot import strict_json

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from securesystemslib.signer import SecretsHandler

    from appliance.signer.interface import Signer

ONLINE_ROLES = ("targets", "snapshot", "timestamp")
# Pretty-printed as python-tuf and the public-good repository serve it; the
# signature covers the canonical form of ``signed`` whatever the layout.
_SERIALIZER = JSONSerializer(compact=False)
_MAX_METADATA_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifetimes:
    """How long each role's metadata stays valid (documented defaults)."""

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=30)
    snapshot: timedelta = timedelta(days=7)
    timestamp: timedelta = timedelta(days=1)

    def check(self) -> None:
        """Refuse a lifetime that cannot work.

        Raises:
            InputError: a lifetime is not positive, or the timestamp outlives
                the snapshot (a refresh could never keep them fresh).
        """
        for role in ("root", "targets", "snapshot", "timestamp"):
            if getattr(self, role) <= timedelta(0):
                msg = "must be longer than zero"
                raise InputError(msg, where=f"--{role}-expires", reason=Reason.USAGE)
        if self.timestamp > self.snapshot:
            msg = "the timestamp must not outlive the snapshot it names"
            raise InputError(msg, where="--timestamp-expires", reason=Reason.USAGE)
        if self.root <= self.targets:
            # Else every publish would find the root expiring within the
            # targets' lifetime and sign a new root version.
            msg = "the root must outlive the targets"
            raise InputError(msg, where="--root-expires", reason=Reason.USAGE)


class HeldKeySigner(TufSigner):
    """python-tuf's signer seam over one of ours (an HSM key or a key file).

    The key is an ECDSA P-256 key (the only kind our signers hold), named in
    TUF as ``ecdsa`` / ``ecdsa-sha2-nistp256`` with its PEM public key, as the
    public-good root names its keys; the signature is the DER one the signer
    returns, hex-encoded (securesystemslib's encoding for that scheme).
    """

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self._key = SSlibKey.from_crypto(
            signer.public_key, scheme="ecdsa-sha2-nistp256"
        )

    @property
    def public_key(self) -> Key:
        """The TUF key (its keyid is the hash of its canonical form, TUF §4.2)."""
        return self._key

    def sign(self, payload: bytes) -> Signature:
        """Sign ``payload`` (the canonical bytes of ``signed``) with our signer."""
        return Signature(self._key.keyid, self._signer.sign(payload).hex())

    @classmethod
    def from_priv_key_uri(
        cls,
        priv_key_uri: str,
        public_key: Key,
        secrets_handler: SecretsHandler | None = None,
    ) -> HeldKeySigner:
        """Not used: keys are opened by :mod:`appliance.signer.opener`."""
        del priv_key_uri, public_key, secrets_handler
        msg = "open keys with appliance.signer.opener"
        raise NotImplementedError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """What the repository holds after a publish or a refresh."""

    directory: Path
    versions: dict[str, int]
    expires: dict[str, datetime]
    signed: tuple[str, ...]  # the roles signed anew by this run, in order
    targets: dict[str, str]  # target name -> sha256
    root_keyids: tuple[str, ...]
    root_threshold: int
    online_keyid: str
    refreshed: bool

    def to_json(self) -> dict[str, Any]:
        """As ``trust publish -o json`` prints it, and the audit line records it."""
        return {
            "directory": str(self.directory),
            "refreshed": self.refreshed,
            "signed": list(self.signed),
            "roles": {
                role: {
                    "version": self.versions[role],
                    "expires": self.expires[role].strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for role in ("root", *ONLINE_ROLES)
            },
            "targets": self.targets,
            "root_keyids": list(self.root_keyids),
            "root_threshold": self.root_threshold,
            "online_keyid": self.online_keyid,
        }


@dataclass(slots=True, kw_only=True)
class _Repository:
    """The four top-level roles as they are, and the target files they name."""

    root: Metadata[Root]
    targets: Metadata[Targets]
    snapshot: Metadata[Snapshot]
    timestamp: Metadata[Timestamp]
    files: dict[str, bytes] = field(default_factory=dict)  # path in DIR -> bytes


def _utc(when: datetime) -> datetime:
    # TUF expiries are whole seconds, "Z" (§4.2); python-tuf refuses others.
    return when.astimezone(UTC).replace(microsecond=0)


def _damaged(message: str, where: Path) -> TrustRootError:
    return TrustRootError(
        f"the repository is not one this appliance published intact: {message}",
        reason=Reason.TRUST_ROOT_INVALID,
        where=str(where),
    )


def _read(directory: Path, name: str) -> bytes:
    return inputs.read_file(
        directory / name, what="TUF metadata", max_bytes=_MAX_METADATA_BYTES
    )


def _load(directory: Path, name: str, role: str) -> Metadata[Any]:
    try:
        md: Metadata[Any] = Metadata.from_dict(
            strict_json.loads(_read(directory, name))
        )
    except (ValueError, KeyError, TypeError, tuf_errors.RepositoryError) as exc:
        raise _damaged(f"{name} is not TUF metadata ({exc})", directory) from exc
    if md.signed.type != role:
        raise _damaged(f"{name} holds {md.signed.type} metadata", directory)
    return md


def _check(root: Root, role: str, md: Metadata[Any], name: str, where: Path) -> None:
    try:
        root.verify_delegate(role, md.signed_bytes, md.signatures)
    except tuf_errors.UnsignedMetadataError as exc:
        raise _damaged(f"{name} is not signed by its keys ({exc})", where) from exc


def _meta(md: Metadata[Any], data: bytes) -> MetaFile:
    return MetaFile(
        version=md.signed.version,
        length=len(data),
        hashes={"sha256": hashlib.sha256(data).hexdigest()},
    )


def _open(directory: Path) -> _Repository | None:
    """The repository in ``directory``, checked, or None if there is none yet.

    Raises:
        TrustRootError: the repository is damaged or not self-consistent.
        InputError: the directory holds other files and no repository.
    """
    if not (directory / "root.json").exists():
        others = (
            [p for p in directory.iterdir() if p.name != ".lock"]
            if directory.is_dir()
            else []
        )
        if others:
            msg = "holds files but no root.json: publish into an empty directory"
            raise InputError(msg, where=str(directory), reason=Reason.USAGE)
        return None
    root: Metadata[Root] = _load(directory, "root.json", Root.type)
    version = root.signed.version
    if _read(directory, f"{version}.root.json") != _read(directory, "root.json"):
        raise _damaged(f"root.json is not {version}.root.json", directory)
    _check(root.signed, Root.type, root, "root.json", directory)
    timestamp: Metadata[Timestamp] = _load(directory, "timestamp.json", Timestamp.type)
    _check(root.signed, Timestamp.type, timestamp, "timestamp.json", directory)
    snap_meta = timestamp.signed.snapshot_meta
    snap_name = f"{snap_meta.version}.snapshot.json"
    snap_bytes = _read(directory, snap_name)
    snapshot: Metadata[Snapshot] = _load(directory, snap_name, Snapshot.type)
    _check(root.signed, Snapshot.type, snapshot, snap_name, directory)
    targets_meta = snapshot.signed.meta.get("targets.json")
    if targets_meta is None:
        raise _damaged(f"{snap_name} lists no targets.json", directory)
    targets_name = f"{targets_meta.version}.targets.json"
    targets_bytes = _read(directory, targets_name)
    targets: Metadata[Targets] = _load(directory, targets_name, Targets.type)
    _check(root.signed, Targets.type, targets, targets_name, directory)
    try:
        snap_meta.verify_length_and_hashes(snap_bytes)
        targets_meta.verify_length_and_hashes(targets_bytes)
    except tuf_errors.LengthOrHashMismatchError as exc:
        raise _damaged(str(exc), directory) from exc
    repo = _Repository(
        root=root, targets=targets, snapshot=snapshot, timestamp=timestamp
    )
    for name, target in targets.signed.targets.items():
        paths = [f"targets/{target.hashes['sha256']}.{name}", f"targets/{name}"]
        for path in paths:
            if path == paths[1] and not (directory / path).exists():
                continue  # the plain name is a convenience, not TUF
            data = inputs.read_file(
                directory / path,
                what="TUF target",
                max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES,
            )
            try:
                target.verify_length_and_hashes(data)
            except tuf_errors.LengthOrHashMismatchError as exc:
                raise _damaged(f"{path}: {exc}", directory) from exc
            repo.files[path] = data
    return repo


def _sign(md: Metadata[Any], signers: Sequence[HeldKeySigner]) -> bytes:
    md.signatures.clear()
    for signer in signers:
        try:
            md.sign(signer, append=True)
        except tuf_errors.UnsignedMetadataError as exc:
            # Our signers raise SignerError; anything else is wrapped here.
            cause = exc.__cause__
            if isinstance(cause, SignerError):
                raise cause from None
            raise SignerError(f"cannot sign {md.signed.type}: {exc}") from exc
    return md.to_bytes(_SERIALIZER)


def _keyids(root: Root, role: str) -> tuple[str, ...]:
    return tuple(sorted(root.roles[role].keyids))


def _new_root(
    previous: Metadata[Root] | None,
    *,
    root_keys: Sequence[HeldKeySigner],
    threshold: int,
    online: HeldKeySigner,
    expires: datetime,
) -> Metadata[Root]:
    root = Root(
        version=1 if previous is None else previous.signed.version + 1,
        expires=expires,
        consistent_snapshot=True,
    )
    for signer in root_keys:
        root.add_key(signer.public_key, Root.type)
    root.roles[Root.type].threshold = threshold
    for role in ONLINE_ROLES:
        root.add_key(online.public_key, role)
    return Metadata(root)


def _root_changes(
    held: Root, *, root_keys: Sequence[HeldKeySigner], threshold: int, online: str
) -> bool:
    wanted = tuple(sorted({s.public_key.keyid for s in root_keys}))
    return (
        _keyids(held, Root.type) != wanted
        or held.roles[Root.type].threshold != threshold
        or any(_keyids(held, role) != (online,) for role in ONLINE_ROLES)
    )


def _sign_root(  # noqa: PLR0913 - every key set named
    held: Metadata[Root] | None,
    *,
    root_keys: Sequence[HeldKeySigner],
    previous_root_keys: Sequence[HeldKeySigner],
    threshold: int,
    online: HeldKeySigner,
    expires: datetime,
    where: Path,
) -> tuple[Metadata[Root], bytes]:
    """Root v1, or root N+1 signed by the old keys and the new (TUF §5.3.4).

    Raises:
        InputError: the keys given cannot sign the next root.
    """
    new = _new_root(
        held, root_keys=root_keys, threshold=threshold, online=online, expires=expires
    )
    signers = list(root_keys)
    if held is not None:
        old_ids = set(held.signed.roles[Root.type].keyids)
        given = {s.public_key.keyid: s for s in [*root_keys, *previous_root_keys]}
        signers = [given[k] for k in sorted(given) if k in old_ids] + [
            s for s in root_keys if s.public_key.keyid not in old_ids
        ]
    data = _sign(new, signers)
    try:
        if held is not None:
            # The chain a client walks: the old root's threshold of old keys.
            held.signed.verify_delegate(Root.type, new.signed_bytes, new.signatures)
        new.signed.verify_delegate(Root.type, new.signed_bytes, new.signatures)
    except tuf_errors.UnsignedMetadataError as exc:
        msg = (
            "the keys given cannot sign the next root: a rotation needs a threshold of the "
            "current root keys (--previous-root-key) and of the new ones (--root-key)"
        )
        raise InputError(
            msg, where=str(where / "root.json"), reason=Reason.USAGE
        ) from exc
    return new, data


def _write(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write in order: a client never sees a timestamp before what it names."""
    try:
        for name, data in files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
    except OSError as exc:
        raise write_error(exc, directory) from exc


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One publish or refresh at a time (a timer and an operator)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with locked(directory / ".lock"):
            yield
    except OSError as exc:
        raise write_error(exc, directory) from exc


def publish(  # noqa: PLR0913 - every key and input named
    directory: Path,
    *,
    roots: Mapping[str, bytes],
    root_keys: Sequence[Signer],
    online: Signer,
    threshold: int,
    previous_root_keys: Sequence[Signer] = (),
    lifetimes: Lifetimes,
    now: datetime,
) -> Published:
    """Publish ``roots`` (target name -> the verified trusted root) into ``directory``.

    A new repository starts at root v1. An existing one continues: new
    targets, snapshot and timestamp versions, and a new root version when
    the root keys, threshold or online key change, or the root would expire
    within the targets' lifetime.

    Raises:
        InputError: bad thresholds, keys that cannot sign the next root, an
            unwritable directory.
        TrustRootError: the repository already there is damaged.
        SignerError: a key refused to sign.
    """
    lifetimes.check()
    roots_signers = [HeldKeySigner(s) for s in root_keys]
    online_signer = HeldKeySigner(online)
    distinct = {s.public_key.keyid for s in roots_signers}
    if not 1 <= threshold <= len(distinct):
        msg = f"needs between 1 and {len(distinct)} (the distinct root keys given)"
        raise InputError(msg, where="--root-threshold", reason=Reason.USAGE)
    if not roots:
        msg = "the appliance holds no verified trusted root to publish"
        raise InputError(msg, where=str(directory))
    now = _utc(now)
    with _locked(directory):
        held = _open(directory)
        files: dict[str, bytes] = {}
        signed: list[str] = []
        root = None if held is None else held.root
        if root is None or (
            _root_changes(
                root.signed,
                root_keys=roots_signers,
                threshold=threshold,
                online=online_signer.public_key.keyid,
            )
            or root.signed.expires < now + lifetimes.targets
        ):
            root, root_bytes = _sign_root(
                root,
                root_keys=roots_signers,
                previous_root_keys=[HeldKeySigner(s) for s in previous_root_keys],
                threshold=threshold,
                online=online_signer,
                expires=now + lifetimes.root,
                where=directory,
            )
            files[f"{root.signed.version}.root.json"] = root_bytes
            signed.append(Root.type)
        targets = Metadata(
            Targets(
                version=1 if held is None else held.targets.signed.version + 1,
                expires=now + lifetimes.targets,
            )
        )
        for name, data in sorted(roots.items()):
            target = TargetFile.from_data(name, data, ["sha256"])
            targets.signed.targets[name] = target
            files[f"targets/{target.hashes['sha256']}.{name}"] = data
            # Not part of TUF with consistent snapshots (§5.7.3 fetches by hash):
            # the plain name is for tools that read the target directly.
            files[f"targets/{name}"] = data
        repo = _Repository(
            root=root,
            targets=targets,
            snapshot=Metadata(
                Snapshot(
                    version=1 if held is None else held.snapshot.signed.version + 1
                )
            ),
            timestamp=Metadata(
                Timestamp(
                    version=1 if held is None else held.timestamp.signed.version + 1
                )
            ),
        )
        return _commit(
            directory,
            repo,
            files=files,
            signed=signed,
            due=ONLINE_ROLES,
            online=online_signer,
            lifetimes=lifetimes,
            now=now,
        )


def refresh(
    directory: Path, *, online: Signer, lifetimes: Lifetimes, now: datetime
) -> Published:
    """Re-sign the timestamp, and the snapshot and targets when they would expire first.

    The root is never touched (its key is offline); the targets keep their
    content. For a timer: run it more often than the timestamp's lifetime.

    Raises:
        InputError: no repository in ``directory``, or ``online`` is not the
            key the root names for the roles to re-sign.
        TrustRootError: the repository is damaged.
        SignerError: the key refused to sign.
    """
    lifetimes.check()
    online_signer = HeldKeySigner(online)
    now = _utc(now)
    with _locked(directory):
        held = _open(directory)
        if held is None:
            msg = "no repository to refresh: run `appliance trust publish` first"
            raise InputError(msg, where=str(directory), reason=Reason.USAGE)
        due: list[str] = ["timestamp"]
        new_timestamp_expiry = now + lifetimes.timestamp
        if held.snapshot.signed.expires < new_timestamp_expiry:
            due.append("snapshot")
        if held.targets.signed.expires < now + lifetimes.snapshot:
            due += ["targets", "snapshot"]
        keyid = online_signer.public_key.keyid
        for role in set(due):
            if keyid not in held.root.signed.roles[role].keyids:
                msg = f"is not the {role} key of {directory / 'root.json'}"
                raise InputError(msg, where="--online-key", reason=Reason.USAGE)
        if held.root.signed.expires < new_timestamp_expiry:
            msg = (
                f"root v{held.root.signed.version} expires before the new timestamp would: "
                "publish with the root key"
            )
            raise InputError(msg, where=str(directory / "root.json"))
        files = dict(held.files) if "targets" in due else {}
        for role in set(due) - {"timestamp"}:
            md = held.snapshot if role == "snapshot" else held.targets
            md.signed.version += 1
        held.timestamp.signed.version += 1
        return _commit(
            directory,
            held,
            files=files,
            signed=[],
            due=tuple(r for r in ONLINE_ROLES if r in due),
            online=online_signer,
            lifetimes=lifetimes,
            now=now,
            refreshed=True,
        )


def _commit(  # noqa: PLR0913 - every part named
    directory: Path,
    repo: _Repository,
    *,
    files: dict[str, bytes],
    signed: list[str],
    due: Sequence[str],
    online: HeldKeySigner,
    lifetimes: Lifetimes,
    now: datetime,
    refreshed: bool = False,
) -> Published:
    """Sign the online roles that are due, bound each to the next, write them all."""
    if "targets" in due:
        repo.targets.signed.expires = now + lifetimes.targets
        targets_bytes = _sign(repo.targets, [online])
        files[f"{repo.targets.signed.version}.targets.json"] = targets_bytes
        repo.snapshot.signed.meta["targets.json"] = _meta(repo.targets, targets_bytes)
        signed.append(Targets.type)
    if "snapshot" in due:
        repo.snapshot.signed.expires = now + lifetimes.snapshot
        snapshot_bytes = _sign(repo.snapshot, [online])
        files[f"{repo.snapshot.signed.version}.snapshot.json"] = snapshot_bytes
        repo.timestamp.signed.snapshot_meta = _meta(repo.snapshot, snapshot_bytes)
        signed.append(Snapshot.type)
    repo.timestamp.signed.expires = now + lifetimes.timestamp
    timestamp_bytes = _sign(repo.timestamp, [online])
    signed.append(Timestamp.type)
    if Root.type in signed:
        files["root.json"] = files[f"{repo.root.signed.version}.root.json"]
    files["timestamp.json"] = timestamp_bytes
    _write(directory, files)
    root = repo.root.signed
    return Published(
        directory=directory,
        versions={
            "root": root.version,
            "targets": repo.targets.signed.version,
            "snapshot": repo.snapshot.signed.version,
            "timestamp": repo.timestamp.signed.version,
        },
        expires={
            "root": root.expires,
            "targets": repo.targets.signed.expires,
            "snapshot": repo.snapshot.signed.expires,
            "timestamp": repo.timestamp.signed.expires,
        },
        signed=tuple(signed),
        targets={
            name: str(t.hashes["sha256"])
            for name, t in sorted(repo.targets.signed.targets.items())
        },
        root_keyids=_keyids(root, Root.type),
        root_threshold=root.roles[Root.type].threshold,
        online_keyid=online.public_key.keyid,
        refreshed=refreshed,
    )


_REPOSITORY_FILE = re.compile(
    r"(root|timestamp|[0-9]{1,20}\.(root|snapshot|targets))\.json"
    r"|targets/([0-9a-f]{64}\.)?[A-Za-z0-9._-]{1,200}"
)
# Where the appliance remembers its last published repository (for ``load``).
_PUBLISHED_RECORD = "published.json"


def repository_files(directory: Path) -> tuple[tuple[str, bytes], ...]:
    """Every file of the repository in ``directory`` (path in it, bytes), checked first.

    Raises:
        InputError: no repository there.
        TrustRootError: the repository is damaged.
    """
    if _open(directory) is None:
        msg = "holds no TUF repository: run `appliance trust publish` first"
        raise InputError(msg, where=str(directory))
    found = []
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if (
            path.is_file()
            and not path.is_symlink()
            and _REPOSITORY_FILE.fullmatch(name)
        ):
            found.append((name, _read(directory, name)))
    return tuple(found)


def remember(state_dir: Path, directory: Path) -> None:
    """Record where the repository was published, for ``load`` to carry it too.

    Raises:
        InputError: the state directory cannot be written.
    """
    doc = json.dumps({"directory": str(directory.resolve())}).encode()
    try:
        (state_dir / "trust").mkdir(parents=True, exist_ok=True)
        write_atomically(state_dir / "trust" / _PUBLISHED_RECORD, doc)
    except OSError as exc:
        raise write_error(exc, state_dir) from exc


def remembered(state_dir: Path) -> Path | None:
    """The directory last published into, if any and if it still holds a repository."""
    record = state_dir / "trust" / _PUBLISHED_RECORD
    if not record.is_file():
        return None
    try:
        doc = strict_json.loads(
            inputs.read_file(record, what="publish record", max_bytes=64 * 1024)
        )
        directory = Path(str(doc["directory"]))
    except (ValueError, KeyError, TypeError, InputError):
        return None
    return directory if (directory / "root.json").is_file() else None


def status(state_dir: Path) -> dict[str, Any] | None:
    """The repository last published, for ``trust show``: versions and expiries, or what is wrong."""
    directory = remembered(state_dir)
    if directory is None:
        return None
    try:
        repo = _open(directory)
    except (TrustRootError, InputError) as exc:
        return {"directory": str(directory), "damaged": exc.diagnostics()}
    if repo is None:
        return None
    roles = {
        "root": repo.root.signed,
        "targets": repo.targets.signed,
        "snapshot": repo.snapshot.signed,
        "timestamp": repo.timestamp.signed,
    }
    return {
        "directory": str(directory),
        "roles": {
            name: {
                "version": signed.version,
                "expires": signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for name, signed in roles.items()
        },
    }
