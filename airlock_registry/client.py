"""A registry client (distribution-spec): pulls for the exporter, pushes for ``appliance load``.

HTTP, authentication, TLS, redirects, proxies and retries are the
transport's (:mod:`.transport`, which replaced oras-py: see its docstring for
why). This module is what a client that must drop nothing and trust nothing
adds on top:

* manifests fetched byte-exact, their SHA-256 computed over the bytes
  received and checked against the digest asked for and against
  ``Docker-Content-Digest``; ``Content-Type`` checked against the body's
  ``mediaType`` (docs/oci.md §5.2); a size cap before reading;
* blobs streamed to disk with their SHA-256 and size checked as they arrive,
  renamed into place only when both match;
* the referrers API (``GET /v2/<name>/referrers/<digest>``, paginated), and
  its absence told apart (404) so the caller can use the tag fallback;
* each request asks for exactly the token scopes it needs (``pull``;
  ``pull,push`` to upload; ``pull`` on the source of a cross-repository
  mount, token spec "Token Scope Documentation");
* pushes in the order strict registries demand: ``HEAD`` a blob first (never
  send what the registry holds), cross-repository mounts, a streamed upload
  whose last chunk is held back until the caller confirms the bytes hash to
  the digest (the registry checks too), manifests whose
  ``Docker-Content-Digest`` must come back as the digest of the bytes sent.

Every failure is one :class:`InputError` naming the registry and what failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import requests

from airlock_io.atomic import sweep, temporary_name
from airlock_io.oserrors import write_error
from airlock_registry.auth import CATALOG_SCOPE, repository_scope
from airlock_registry.transport import RetryPolicy, Transport
from appliance.core.archive import media
from appliance.core.archive.manifest import Descriptor, check_digest, digest_of
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from pathlib import Path

    from airlock_registry import credentials
    from airlock_registry.auth import Token
    from airlock_registry.tls import TLSOptions

__all__ = ["ACCEPT", "MAX_MANIFEST_BYTES", "Fetched", "RegistryClient", "RetryPolicy"]

MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024  # the distribution spec's own limit
ACCEPT: Final = f"{media.OCI_INDEX}, {media.OCI_MANIFEST}, {media.DOCKER_LIST}, {media.DOCKER_MANIFEST}"
_CHUNK: Final = 1024 * 1024
# Pieces of a streamed blob. Each piece is a new bytes object: at 1 MiB every one
# is a fresh mmap (over glibc's 128 KiB threshold) whose pages the kernel must
# fault in and zero, which doubled the fetch's system time in `make bench`
# (1 GiB: 1.8-2.2 s at 1 MiB, 1.3-1.4 s at 64 KiB). Below the threshold they are
# reused from the heap.
_PIECE: Final = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """A manifest as served: exact bytes, what the server called it, its digest."""

    data: bytes
    media_type: str
    digest: str


class RegistryClient:
    """One registry host: authenticated, retried, digest-checked.

    Args:
        host: ``host[:port]`` of the distribution API.
        plain_http: talk HTTP instead of HTTPS (only for hosts the operator
            allowed with ``--allow-http-registry``).
        retry: the retry policy.
    """

    def __init__(  # noqa: PLR0913 - each part of a connection named
        self,
        host: str,
        *,
        plain_http: bool = False,
        retry: RetryPolicy | None = None,
        login: credentials.Credentials | None = None,
        tls_options: TLSOptions | None = None,
        admit: Callable[[str, str], None] | None = None,
        proxies: Mapping[str, str] | None = None,
        notice: Callable[[str], None] | None = None,
        tokens: dict[tuple[str, str, tuple[str, ...]], Token] | None = None,
    ) -> None:
        self.host = host
        self.transport = Transport(
            host,
            plain_http=plain_http,
            login=login,
            tls_options=tls_options,
            retry=retry or RetryPolicy(),
            admit=admit,
            proxies=proxies,
            notice=notice,
            tokens=tokens,
        )
        self.scheme = self.transport.scheme

    @property
    def contacted(self) -> list[str]:
        """Every ``host:port`` this client has contacted, the registry first."""
        return list(self.transport.contacted)

    def _request(  # noqa: PLR0913 - one HTTP request, each part named
        self,
        path: str,
        *,
        what: str,
        scopes: tuple[str, ...],
        method: str = "GET",
        headers: dict[str, str] | None = None,
        stream: bool = False,
        data: bytes | Iterator[bytes] | None = None,
        retry: bool = True,
        storage_redirects: bool = False,
    ) -> requests.Response:
        return self.transport.request(
            method,
            path,
            what=what,
            scopes=scopes,
            headers=headers,
            stream=stream,
            data=data,
            retry=retry,
            storage_redirects=storage_redirects,
        )

    # -- manifests ---------------------------------------------------------------

    def manifest(
        self, repository: str, reference: str, *, max_bytes: int | None = None
    ) -> Fetched | None:
        """A manifest by tag or digest, byte-exact and digest-checked; None if absent.

        Raises:
            InputError: the registry failed, served more than ``max_bytes``,
                or bytes that do not hash to the digest asked for or announced
                (reason ``digest-mismatch``: bad input for the exporter).
        """
        what, path = _manifest_path(repository, reference)
        response = self._request(
            path,
            what=what,
            scopes=(repository_scope(repository, "pull"),),
            headers={"Accept": ACCEPT},
            stream=True,
        )
        with response:
            if response.status_code == 404:  # noqa: PLR2004
                return None
            if response.status_code != 200:  # noqa: PLR2004
                msg = f"HTTP {response.status_code} for {what}"
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
            data = _read_capped(response, max_bytes or MAX_MANIFEST_BYTES, what=what)
        digest = digest_of(data)
        announced = response.headers.get("Docker-Content-Digest")
        expected = reference if reference.startswith("sha256:") else None
        for claim in (expected, announced):
            if claim is not None and claim != digest:
                msg = f"served bytes whose sha256 is {digest}, not {claim}"
                raise InputError(msg, reason=Reason.DIGEST_MISMATCH, where=what)
        content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return Fetched(data=data, media_type=content_type, digest=digest)

    def referrers(self, repository: str, digest: str) -> list[Descriptor] | None:
        """The referrers API's answer for ``digest``; None if the registry has no such API.

        Follows ``Link`` pagination. A registry that supports the API never
        answers 404 (distribution-spec §Listing Referrers).

        Raises:
            InputError: the registry failed, or answered with something that
                is not an image index.
        """
        check_digest(digest, "referrers")
        path: str | None = f"/v2/{repository}/referrers/{digest}"
        found: list[Descriptor] = []
        pages = 0
        while path is not None:
            pages += 1
            if pages > 1000:  # noqa: PLR2004 - a loop of Link headers
                msg = "referrers pagination does not end"
                raise InputError(msg, where=f"registry {self.host}")
            response = self._request(
                path,
                what=f"referrers of {digest}",
                scopes=(repository_scope(repository, "pull"),),
                headers={"Accept": media.OCI_INDEX},
                stream=True,
            )
            with response:
                if response.status_code in (404, 405):
                    return None if pages == 1 else found
                if response.status_code != 200:  # noqa: PLR2004
                    msg = f"HTTP {response.status_code} for the referrers of {digest}"
                    raise InputError(
                        msg,
                        where=f"registry {self.host}",
                        reason=Reason.INPUT_UNREADABLE,
                    )
                data = _read_capped(
                    response, MAX_MANIFEST_BYTES, what=f"referrers of {digest}"
                )
                link = response.links.get("next", {}).get("url")
            from appliance.core.archive.manifest import ImageIndex, parse  # noqa: PLC0415

            index = parse(
                data, media_type=media.OCI_INDEX, where=f"referrers of {digest}"
            )
            if not isinstance(index, ImageIndex):
                msg = "the referrers API did not answer with an image index"
                raise InputError(msg, where=f"registry {self.host}")
            found.extend(index.manifests)
            path = None if not link else self._same_host_path(path, link)
        return found

    def _same_host_path(self, current: str, link: str) -> str:
        """The path and query of a ``Link: <...>; rel="next"``, on this host only."""
        parts = urllib.parse.urlsplit(
            urllib.parse.urljoin(f"{self.scheme}://{self.host}{current}", link)
        )
        if parts.netloc != self.host:
            msg = f"a pagination link points to another host ({parts.netloc})"
            raise InputError(msg, where=f"registry {self.host}")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # -- blobs -----------------------------------------------------------------------

    def blob(
        self,
        repository: str,
        descriptor: Descriptor,
        destination: Path,
        *,
        progress: Callable[[int], None] | None = None,
        swept: bool = False,
    ) -> None:
        """Stream a blob to ``destination``, checked while it arrives.

        Written under a temporary name and renamed only when its size and
        SHA-256 are the descriptor's: ``destination`` never holds a bad blob.
        A killed run's temporaries of ``destination`` are swept first, unless
        ``swept``: the caller swept a whole batch (:func:`sweep_all`, one
        listing of the directory, not one per blob).

        Raises:
            InputError: the registry failed, the blob is absent, or its bytes
                are not the descriptor's (reason ``digest-mismatch``).
        """
        what = f"blob {descriptor.digest} of {repository}"
        if not swept:
            sweep(destination)
        temp = temporary_name(destination)
        try:
            response = self._request(
                f"/v2/{repository}/blobs/{descriptor.digest}",
                what=what,
                scopes=(repository_scope(repository, "pull"),),
                stream=True,
                storage_redirects=True,
            )
            with response:
                self._ok(response, what)
                size, actual = self._stream_to(
                    temp, response, descriptor, what, progress
                )
            if size != descriptor.size or actual != descriptor.digest:
                msg = f"served {size} bytes hashing to {actual}: not the blob its descriptor names ({descriptor.size} bytes)"
                raise InputError(msg, reason=Reason.DIGEST_MISMATCH, where=what)  # noqa: TRY301 - the temporary is removed below
            temp.replace(destination)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise write_error(
                exc, destination.parent, doing="cannot write to the cache"
            ) from exc
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _ok(self, response: requests.Response, what: str) -> None:
        if response.status_code != 200:  # noqa: PLR2004
            msg = f"HTTP {response.status_code} for {what}"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            )

    def _stream_to(
        self,
        temp: Path,
        response: requests.Response,
        descriptor: Descriptor,
        what: str,
        progress: Callable[[int], None] | None,
    ) -> tuple[int, str]:
        """Write the body to ``temp`` as it arrives; return its size and digest."""
        hasher = hashlib.sha256()
        size = 0
        with temp.open("wb") as handle:
            try:
                for chunk in response.iter_content(_PIECE):
                    size += len(chunk)
                    if size > descriptor.size:
                        msg = f"is longer than the {descriptor.size} bytes its descriptor says"
                        raise InputError(msg, reason=Reason.DIGEST_MISMATCH, where=what)
                    hasher.update(chunk)
                    handle.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                msg = f"the connection broke while sending {what}"
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                ) from exc
        return size, "sha256:" + hasher.hexdigest()

    def blob_bytes(
        self, repository: str, descriptor: Descriptor, *, max_bytes: int
    ) -> bytes:
        """A small blob in memory (a bundle, a signature payload), checked.

        Raises:
            InputError: the registry failed, the blob is over ``max_bytes``,
                or its bytes are not the descriptor's.
        """
        what = f"blob {descriptor.digest} of {repository}"
        if descriptor.size > max_bytes:
            msg = f"{descriptor.size} bytes, over the {max_bytes}-byte limit for a document"
            raise InputError(msg, where=what, reason=Reason.LIMIT_EXCEEDED)
        response = self._request(
            f"/v2/{repository}/blobs/{descriptor.digest}",
            what=what,
            scopes=(repository_scope(repository, "pull"),),
            stream=True,
            storage_redirects=True,
        )
        with response:
            if response.status_code != 200:  # noqa: PLR2004
                msg = f"HTTP {response.status_code} for {what}"
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
            data = _read_capped(response, max_bytes, what=what)
        if len(data) != descriptor.size or digest_of(data) != descriptor.digest:
            msg = f"served {len(data)} bytes hashing to {digest_of(data)}: not the blob its descriptor names"
            raise InputError(msg, reason=Reason.DIGEST_MISMATCH, where=what)
        return data

    def _listing(
        self, path: str, key: str, what: str, scopes: tuple[str, ...]
    ) -> list[str]:
        """A paginated listing (``_catalog``, ``tags/list``): every name, following ``Link``."""
        names: list[str] = []
        pages = 0
        next_path: str | None = path
        while next_path is not None:
            pages += 1
            if pages > 10_000:  # noqa: PLR2004 - a loop of Link headers
                msg = f"{what}: pagination does not end"
                raise InputError(msg, where=f"registry {self.host}")
            response = self._request(next_path, what=what, scopes=scopes, stream=True)
            with response:
                if response.status_code == 404:  # noqa: PLR2004
                    return names
                self._expect(response, (200,), what)
                data = _read_capped(response, MAX_MANIFEST_BYTES, what=what)
                link = response.links.get("next", {}).get("url")
            try:
                listed = json.loads(data).get(key) or []
            except (ValueError, AttributeError) as exc:
                msg = f"{what}: not a listing"
                raise InputError(msg, where=f"registry {self.host}") from exc
            names += [str(n) for n in listed]
            next_path = None if not link else self._same_host_path(next_path, link)
        return names

    def repositories(self) -> list[str]:
        """Every repository (``/v2/_catalog``).

        Raises:
            InputError: the registry failed or refused.
        """
        return self._listing(
            "/v2/_catalog?n=1000", "repositories", "the catalog", (CATALOG_SCOPE,)
        )

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository``.

        Raises:
            InputError: the registry failed or refused.
        """
        return self.list_tags(repository)

    def list_tags(self, repository: str, *, page_size: int = 1000) -> list[str]:
        """Every tag of ``repository``, page by page (distribution-spec "Listing Tags").

        Asks ``?n=page_size`` and follows ``Link: <...?n=&last=>; rel="next"``
        on the same host until a page has none; a registry that ignores ``n``
        and answers everything at once is fine too. An absent repository
        lists no tags.

        Raises:
            InputError: the registry failed or refused, a page is not a tag
                list, or a link points to another host.
        """
        return self._listing(
            f"/v2/{repository}/tags/list?n={page_size}",
            "tags",
            f"the tags of {repository}",
            (repository_scope(repository, "pull"),),
        )

    def close(self) -> None:
        """Close the session's connections."""
        self.transport.close()

    # -- pushing -----------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str) -> bool:
        """Whether ``repository`` already holds the blob (``HEAD``: nothing is sent twice).

        Raises:
            InputError: the registry failed.
        """
        what = f"blob {digest} in {repository}"
        response = self._request(
            f"/v2/{repository}/blobs/{digest}",
            what=what,
            scopes=(repository_scope(repository, "pull"),),
            method="HEAD",
            storage_redirects=True,
        )
        with response:
            if response.status_code == 404:  # noqa: PLR2004
                return False
            self._expect(response, (200,), what)
            return True

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Link a blob ``source`` holds into ``repository``; False if the registry will not.

        Raises:
            InputError: the registry failed.
        """
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        what = f"mount of {digest} into {repository}"
        # Token spec: a mount needs pull on the source in the same token.
        scopes = (
            repository_scope(repository, "pull", "push"),
            repository_scope(source, "pull"),
        )
        response = self._request(
            f"/v2/{repository}/blobs/uploads/?{query}",
            what=what,
            scopes=scopes,
            method="POST",
        )
        with response:
            if response.status_code == 201:  # noqa: PLR2004
                return True
            self._expect(response, (202,), what)
            location = response.headers.get("Location")
        if location:  # an upload session was opened instead: close it unused
            with contextlib.suppress(InputError):
                self._request(
                    self._upload_url(location, {}),
                    what=what,
                    scopes=scopes,
                    method="DELETE",
                    retry=False,
                ).close()
        return False

    def push_blob(
        self, repository: str, descriptor: Descriptor, chunks: Iterable[bytes]
    ) -> None:
        """Upload a blob from ``chunks``, streamed (chunked transfer encoding).

        The caller's iterator decides the upload's fate: it raises to abort
        (the registry never commits a partial upload), and may hold its last
        chunk back until it has checked the digest. The registry checks the
        digest again before committing.

        Raises:
            InputError: the registry refused or failed; the upload is not
                committed (a re-run sends it again).
        """
        what = f"blob {descriptor.digest} to {repository}"
        scopes = (repository_scope(repository, "pull", "push"),)
        response = self._request(
            f"/v2/{repository}/blobs/uploads/", what=what, scopes=scopes, method="POST"
        )
        with response:
            self._expect(response, (202,), what)
            location = response.headers.get("Location", "")
        if not location:
            msg = f"opened no upload for {what} (no Location header)"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            )
        url = self._upload_url(location, {"digest": descriptor.digest})
        # A stream is sent once: the transport authenticates it up front with
        # the token the POST just used, and never answers a 401 by resending.
        response = self._request(
            url,
            what=what,
            scopes=scopes,
            method="PUT",
            headers={"Content-Type": "application/octet-stream"},
            data=iter(chunks),
            retry=False,
        )
        with response:
            self._expect(response, (201,), what)
            self._announced(response, descriptor.digest, what)

    def push_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> None:
        """``PUT`` a manifest under a tag or its digest; the registry must name the same digest.

        Raises:
            InputError: refused (a missing blob or child, an invalid manifest),
                failed, or the registry computed another digest.
        """
        what, path = _manifest_path(repository, reference)
        response = self._request(
            path,
            what=what,
            scopes=(repository_scope(repository, "pull", "push"),),
            method="PUT",
            headers={"Content-Type": media_type},
            data=data,
        )
        with response:
            self._expect(response, (201,), what)
            self._announced(response, digest_of(data), what)

    def _upload_url(self, location: str, query: dict[str, str]) -> str:
        """The upload session's URL (relative or absolute, on this host only) plus ``query``."""
        parts = urllib.parse.urlsplit(
            urllib.parse.urljoin(f"{self.scheme}://{self.host}/", location)
        )
        if parts.netloc != self.host:
            msg = f"an upload location points to another host ({parts.netloc})"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            )
        if parts.scheme != "https" and self.scheme == "https":
            # Same host and port, plain HTTP: the blob and the token in clear.
            msg = f"an upload location points to plain HTTP ({parts.netloc}): refused, never a downgrade"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            )
        pairs = [
            *urllib.parse.parse_qsl(parts.query, keep_blank_values=True),
            *query.items(),
        ]
        return urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(pairs), "")
        )

    def _expect(
        self, response: requests.Response, statuses: tuple[int, ...], what: str
    ) -> None:
        if response.status_code in statuses:
            return
        detail = ""
        with contextlib.suppress(Exception):
            errors = response.json().get("errors") or []
            detail = "; ".join(
                f"{e.get('code')}: {e.get('message')}"
                for e in errors
                if isinstance(e, dict)
            )[:300]
        msg = f"HTTP {response.status_code} for {what}" + (
            f" ({detail})" if detail else ""
        )
        raise InputError(
            msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
        )

    def _announced(self, response: requests.Response, digest: str, what: str) -> None:
        announced = response.headers.get("Docker-Content-Digest")
        if announced is not None and announced != digest:
            msg = f"the registry stored {announced}, not {digest}"
            raise InputError(msg, where=what, reason=Reason.DIGEST_MISMATCH)


def _manifest_path(repository: str, reference: str) -> tuple[str, str]:
    """How errors name a manifest, and its API path (a tag or a digest)."""
    what = (
        f"manifest {repository}:{reference}"
        if ":" not in reference
        else f"manifest {repository}@{reference}"
    )
    return what, f"/v2/{repository}/manifests/{urllib.parse.quote(reference, safe=':')}"


def _read_capped(response: requests.Response, max_bytes: int, *, what: str) -> bytes:
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        msg = f"is {announced} bytes, over the {max_bytes}-byte limit"
        raise InputError(msg, where=what, reason=Reason.LIMIT_EXCEEDED)
    data = bytearray()
    try:
        for chunk in response.iter_content(_CHUNK):
            data += chunk
            if len(data) > max_bytes:
                msg = f"is over the {max_bytes}-byte limit"
                raise InputError(msg, where=what, reason=Reason.LIMIT_EXCEEDED)
    except (
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
    ) as exc:
        msg = f"the connection broke while reading {what}"
        raise InputError(msg, where=what, reason=Reason.INPUT_UNREADABLE) from exc
    return bytes(data)
