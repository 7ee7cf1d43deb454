"""``bundle-tools trust update``: refresh the Sigstore trust root online, keep it all.

``tuf.ngclient`` does the online TUF client workflow (it verifies everything,
against the wall clock). The result is a *trust capsule*: a directory laid
out as a TUF repository is served, holding every root version the repository
still publishes, the timestamp, snapshot and targets metadata, and the target
files. ``appliance trust import`` replays that chain offline from whatever
root the appliance already trusts, so older appliances catch up too.

The capsule is written under a temporary name and renamed into place: it is
either complete or absent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater, Urllib3Fetcher

from airlock_io.atomic import fsync_dir, sweep, temporary_name
from airlock_io.oserrors import write_error
from appliance.core.errors import InputError, Reason, TrustRootError

if TYPE_CHECKING:
    from collections.abc import Sequence

PUBLIC_GOOD = "public-good"
# A trust root's name, as the appliance takes it (appliance/trust/held.py):
# the capsule goes to OUT/NAME/ and the appliance keeps it under roots/NAME/.
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
PUBLIC_GOOD_URL = "https://tuf-repo-cdn.sigstore.dev"
# Well-known repositories: ``--repository NAME`` alone takes its URL from here.
# Only the URL: the initial root always comes from the operator (``--root
# NAME=FILE``), never from the network (TUF client workflow, 5.2: the trusted
# root is provisioned out of band).
KNOWN_URLS = {
    PUBLIC_GOOD: PUBLIC_GOOD_URL,
    # GitHub's Sigstore instance (fulcio.githubapp.com, timestamp.githubapp.com).
    "github": "https://tuf-repo.github.com",
}
TARGETS = ("trusted_root.json", "signing_config.v0.2.json")
MAX_ROOT_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Capsule:
    """What a refresh put in the capsule."""

    path: Path
    root_versions: tuple[int, ...]
    timestamp_version: int
    snapshot_version: int
    targets_version: int
    targets: dict[str, str]  # name -> sha256


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _older_roots(url: str, first: int) -> dict[int, bytes]:
    """Roots older than the bootstrap, for appliances pinned further back.

    Unverified here; the appliance verifies each one it uses against its own
    pinned root, so a bad one can only fail an import, never pass it.
    """
    fetcher = Urllib3Fetcher()
    found: dict[int, bytes] = {}
    for version in range(1, first):
        try:
            found[version] = fetcher.download_bytes(
                f"{url}/{version}.root.json", MAX_ROOT_BYTES
            )
        except tuf_errors.DownloadError:
            continue
    return found


def _refresh(
    url: str, bootstrap: bytes, metadata: Path, targets_dir: Path
) -> dict[str, bytes]:
    """Run ngclient's refresh; return the downloaded target files."""
    try:
        updater = Updater(
            metadata_dir=str(metadata),
            metadata_base_url=f"{url}/",
            target_base_url=f"{url}/targets/",
            target_dir=str(targets_dir),
            bootstrap=bootstrap,
        )
        updater.refresh()
        downloaded = {}
        for name in TARGETS:
            info = updater.get_targetinfo(name)
            if info is not None:
                downloaded[name] = Path(updater.download_target(info)).read_bytes()
    except tuf_errors.DownloadError as exc:
        raise TrustRootError(
            f"TUF refresh failed to download: {exc}",
            reason=Reason.TRUST_ROOT_INVALID,
            where=url,
        ) from exc
    except tuf_errors.RepositoryError as exc:
        raise TrustRootError(
            f"TUF repository did not verify: {exc}",
            reason=Reason.TRUST_ROOT_INVALID,
            where=url,
        ) from exc
    if "trusted_root.json" not in downloaded:
        raise TrustRootError(
            "the repository has no trusted_root.json target",
            reason=Reason.TRUST_ROOT_INVALID,
            where=url,
        )
    return downloaded


def _write_capsule(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` under a temporary name beside ``out``, then rename."""
    sweep(out)
    staging = temporary_name(out)
    done = False
    try:
        staging.mkdir()
        for name, data in files.items():
            _write(staging / name, data)
        staging.rename(out)
        fsync_dir(out.parent)
        done = True
    except OSError as exc:
        raise write_error(exc, out, doing="cannot write the capsule") from exc
    finally:  # an error or an interruption (Ctrl-C, SIGTERM) keeps nothing
        if not done:
            shutil.rmtree(staging, ignore_errors=True)


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that exists or has no parent, before any network work.

    Raises:
        InputError: either.
    """
    if out.exists():
        raise InputError("already exists; choose a new --out", where=str(out))
    if not out.parent.is_dir():
        raise InputError("its directory does not exist", where=str(out))


def _fetch(url: str, bootstrap: bytes) -> tuple[dict[str, bytes], Capsule]:
    """Refresh from ``url`` starting at ``bootstrap``: the capsule's files, and what they hold.

    The returned capsule's ``path`` is empty: the caller decides where it goes.

    Raises:
        TrustRootError: the repository did not verify, or could not be reached.
    """
    url = url.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="bundle-tools-tuf-") as cache:
        metadata, targets_dir = Path(cache, "metadata"), Path(cache, "targets")
        metadata.mkdir()
        targets_dir.mkdir()
        downloaded = _refresh(url, bootstrap, metadata, targets_dir)
        roots = {
            int(p.name.split(".", 1)[0]): p.read_bytes()
            for p in (metadata / "root_history").glob("*.root.json")
        }
        roots = {**_older_roots(url, min(roots)), **roots}
        versions = {
            role: json.loads((metadata / f"{role}.json").read_bytes())["signed"][
                "version"
            ]
            for role in ("timestamp", "snapshot", "targets")
        }
        files = {f"{version}.root.json": data for version, data in roots.items()}
        files["timestamp.json"] = (metadata / "timestamp.json").read_bytes()
        for role in ("snapshot", "targets"):
            files[f"{versions[role]}.{role}.json"] = (
                metadata / f"{role}.json"
            ).read_bytes()
    for name, data in downloaded.items():
        files[f"targets/{hashlib.sha256(data).hexdigest()}.{name}"] = data
    return files, Capsule(
        path=Path(),
        root_versions=tuple(sorted(roots)),
        timestamp_version=versions["timestamp"],
        snapshot_version=versions["snapshot"],
        targets_version=versions["targets"],
        targets={
            name: hashlib.sha256(data).hexdigest() for name, data in downloaded.items()
        },
    )


def update(*, url: str, bootstrap: bytes, out: Path) -> Capsule:
    """Refresh from ``url`` starting at ``bootstrap``; write the capsule to ``out``.

    Raises:
        InputError: ``out`` exists, or cannot be written.
        TrustRootError: the repository did not verify, or could not be reached.
    """
    _check_out(out)
    files, found = _fetch(url, bootstrap)
    _write_capsule(out, files)
    return dataclasses.replace(found, path=out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Repository:
    """One named TUF repository to refresh, and the initial root the operator trusts for it."""

    name: str
    url: str
    bootstrap: bytes


def update_many(
    repositories: Sequence[Repository], out: Path
) -> tuple[tuple[str, Capsule], ...]:
    """Refresh every repository; write them all under ``out`` in one rename.

    ``public-good``'s capsule is ``out`` itself (where a single refresh puts
    it, so ``--trust-capsule out`` and ``appliance trust import out`` keep
    working); every other name's is ``out/<name>/``, which ``bundle-tools
    export --trust-dir out`` carries as that name's capsule. All or nothing:
    one repository failing leaves no ``out`` at all, and the error names it.

    Raises:
        InputError: ``out`` exists, or cannot be written.
        TrustRootError: a repository did not verify, or could not be reached
            (``where`` names it and its URL).
    """
    _check_out(out)
    files: dict[str, bytes] = {}
    done: list[tuple[str, Capsule]] = []
    for repository in repositories:
        try:
            got, found = _fetch(repository.url, repository.bootstrap)
        except TrustRootError as exc:
            raise TrustRootError(
                exc.message,
                reason=exc.reason,
                where=f"repository {repository.name} ({repository.url})",
            ) from exc
        prefix = "" if repository.name == PUBLIC_GOOD else f"{repository.name}/"
        files.update({prefix + name: data for name, data in got.items()})
        done.append(
            (
                repository.name,
                dataclasses.replace(found, path=out / prefix if prefix else out),
            )
        )
    _write_capsule(out, files)
    return tuple(done)
