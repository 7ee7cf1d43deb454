"""A registry client (distribution-spec) over oras-py: pulls for the exporter, pushes for ``appliance load``.

oras-py provides the session and the authentication dance (anonymous and
password-backed bearer tokens, basic auth). It lacks what a client that must
drop nothing and trust nothing needs, which is added here:

* manifests fetched byte-exact, their SHA-256 computed over the bytes
  received and checked against the digest asked for and against
  ``Docker-Content-Digest``; ``Content-Type`` checked against the body's
  ``mediaType`` (docs/oci.md §5.2); a size cap before reading;
* blobs streamed to disk with their SHA-256 and size checked as they arrive,
  renamed into place only when both match;
* the referrers API (``GET /v2/<name>/referrers/<digest>``, paginated), and
  its absence told apart (404) so the caller can use the tag fallback;
* bounded retries with backoff on 429, 5xx and broken connections (oras-py's
  own retry sleeps minutes), and timeouts (requests has none by default);
* credentials from ``DOCKER_CONFIG`` (:mod:`.credentials`) or given by the
  caller; plain HTTP only for hosts the operator named;
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
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import oras.provider
import requests

from airlock_io.atomic import sweep, temporary_name
from airlock_io.oserrors import write_error
from airlock_registry import credentials
from appliance.core.archive import media
from appliance.core.archive.manifest import Descriptor, check_digest, digest_of
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024  # the distribution spec's own limit
ACCEPT: Final = f"{media.OCI_INDEX}, {media.OCI_MANIFEST}, {media.DOCKER_LIST}, {media.DOCKER_MANIFEST}"
_RETRY_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504})
_TIMEOUT: Final = (10.0, 120.0)  # connect, read (seconds)
_CHUNK: Final = 1024 * 1024
# Pieces of a streamed blob. Each piece is a new bytes object: at 1 MiB every one
# is a fresh mmap (over glibc's 128 KiB threshold) whose pages the kernel must
# fault in and zero, which doubled the fetch's system time in `make bench`
# (1 GiB: 1.8-2.2 s at 1 MiB, 1.3-1.4 s at 64 KiB). Below the threshold they are
# reused from the heap.
_PIECE: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how patiently, to retry a transient failure."""

    attempts: int = 4
    backoff_seconds: tuple[float, ...] = (0.25, 1.0, 3.0)
    max_wait_seconds: float = 10.0


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

    def __init__(
        self,
        host: str,
        *,
        plain_http: bool = False,
        retry: RetryPolicy | None = None,
        login: credentials.Credentials | None = None,
    ) -> None:
        self.host = host
        self.scheme = "http" if plain_http else "https"
        self.retry = retry or RetryPolicy()
        self.login = login
        self._registry: Any = None
        self._has_login = False

    # -- the connection ------------------------------------------------------

    def _connect(self) -> Any:  # noqa: ANN401 - oras ships no types
        if self._registry is not None:
            return self._registry
        challenge = self._challenge()
        backend = "basic" if challenge.lower().startswith("basic") else "token"
        registry = oras.provider.Registry(
            hostname=self.host, insecure=self.scheme == "http", auth_backend=backend
        )
        session_request = registry.session.request

        def with_timeout(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            kwargs.setdefault("timeout", _TIMEOUT)
            return session_request(*args, **kwargs)

        registry.session.request = with_timeout
        found = self.login or credentials.lookup(self.host)
        if found is not None:
            registry.auth.set_basic_auth(found.username, found.password)
            self._has_login = True
        elif backend == "basic":
            msg = f"needs credentials, and the Docker config ({credentials.config_path()}) has none for it"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            )
        self._registry = registry
        return registry

    def _challenge(self) -> str:
        """The authentication scheme ``/v2/`` asks for (``""`` if none)."""
        response = self._send(
            lambda: requests.get(
                f"{self.scheme}://{self.host}/v2/",
                timeout=_TIMEOUT,
                allow_redirects=False,
            ),
            what="the API root /v2/",
        )
        if response.status_code == 401:  # noqa: PLR2004
            return response.headers.get("WWW-Authenticate", "")
        if response.status_code not in (200, 404):
            msg = f"answers /v2/ with HTTP {response.status_code}: not a registry API"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            )
        return ""

    def _send(
        self,
        call: Callable[[], requests.Response],
        *,
        what: str,
        attempts: int | None = None,
    ) -> requests.Response:
        """Run ``call``, retrying transient failures; one clear error otherwise."""
        where = f"registry {self.host}"
        failure = ""
        attempts = attempts or self.retry.attempts
        for attempt in range(attempts):
            try:
                response = call()
            except requests.exceptions.SSLError as exc:
                msg = f"TLS failed for {what} ({exc.__class__.__name__}); for a plain-HTTP registry, name it with --allow-http-registry"
                raise InputError(
                    msg, where=where, reason=Reason.INPUT_UNREADABLE
                ) from exc
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                if "the appliance is sealed" in str(exc):
                    msg = f"refused by the appliance's seal: {what} needed a host other than the one named"
                    raise InputError(
                        msg, where=where, reason=Reason.INPUT_UNREADABLE
                    ) from exc
                failure = f"cannot reach it ({type(exc).__name__})"
                self._wait(attempt, None)
                continue
            except (
                ValueError
            ) as exc:  # oras: "Cannot respond to request for authentication"
                msg = f"authentication failed for {what}: wrong or missing credentials ({exc})"
                raise InputError(
                    msg, where=where, reason=Reason.INPUT_UNREADABLE
                ) from exc
            if response.status_code in _RETRY_STATUS:
                failure = f"HTTP {response.status_code} for {what}"
                self._wait(attempt, response.headers.get("Retry-After"))
                response.close()
                continue
            return response
        msg = f"{failure} (after {attempts} attempt{'s' if attempts > 1 else ''})"
        raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        if attempt + 1 >= self.retry.attempts:
            return
        delay = self.retry.backoff_seconds[
            min(attempt, len(self.retry.backoff_seconds) - 1)
        ]
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, self.retry.max_wait_seconds))

    def _request(  # noqa: PLR0913 - one HTTP request, each part named
        self,
        path: str,
        *,
        what: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        stream: bool = False,
        data: bytes | Iterator[bytes] | None = None,
        retry: bool = True,
    ) -> requests.Response:
        registry = self._connect()
        url = path if "://" in path else f"{self.scheme}://{self.host}{path}"
        # oras-py's do_request without its retry decorator (minutes of sleep):
        # the retries are ours (_send), bounded and logged in the error.
        do_request = oras.provider.Registry.do_request.__wrapped__
        try:
            response = self._send(
                lambda: do_request(
                    registry,
                    url,
                    method,
                    headers=dict(headers or {}),
                    stream=stream,
                    data=data,
                ),
                what=what,
                attempts=self.retry.attempts if retry else 1,
            )
        except AttributeError as exc:  # oras basic auth with no credentials set
            msg = f"needs credentials for {what}, and the Docker config has none"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            ) from exc
        if response.status_code in (401, 403):
            msg = f"refused {what} (HTTP {response.status_code}): wrong or missing credentials"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            )
        return response

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
    ) -> None:
        """Stream a blob to ``destination``, checked while it arrives.

        Written under a temporary name and renamed only when its size and
        SHA-256 are the descriptor's: ``destination`` never holds a bad blob.

        Raises:
            InputError: the registry failed, the blob is absent, or its bytes
                are not the descriptor's (reason ``digest-mismatch``).
        """
        what = f"blob {descriptor.digest} of {repository}"
        sweep(destination)
        temp = temporary_name(destination)
        try:
            response = self._request(
                f"/v2/{repository}/blobs/{descriptor.digest}", what=what, stream=True
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
            f"/v2/{repository}/blobs/{descriptor.digest}", what=what, stream=True
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

    def _listing(self, path: str, key: str, what: str) -> list[str]:
        """A paginated listing (``_catalog``, ``tags/list``): every name, following ``Link``."""
        names: list[str] = []
        pages = 0
        next_path: str | None = path
        while next_path is not None:
            pages += 1
            if pages > 10_000:  # noqa: PLR2004 - a loop of Link headers
                msg = f"{what}: pagination does not end"
                raise InputError(msg, where=f"registry {self.host}")
            response = self._request(next_path, what=what, stream=True)
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
        return self._listing("/v2/_catalog?n=1000", "repositories", "the catalog")

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository``.

        Raises:
            InputError: the registry failed or refused.
        """
        return self._listing(
            f"/v2/{repository}/tags/list?n=1000", "tags", f"the tags of {repository}"
        )

    def close(self) -> None:
        """Close the session's connections."""
        if self._registry is not None:
            self._registry.session.close()

    # -- pushing -----------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str) -> bool:
        """Whether ``repository`` already holds the blob (``HEAD``: nothing is sent twice).

        Raises:
            InputError: the registry failed.
        """
        what = f"blob {digest} in {repository}"
        response = self._request(
            f"/v2/{repository}/blobs/{digest}", what=what, method="HEAD"
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
        response = self._request(
            f"/v2/{repository}/blobs/uploads/?{query}", what=what, method="POST"
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
        response = self._request(
            f"/v2/{repository}/blobs/uploads/", what=what, method="POST"
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
        registry = self._connect()
        headers = {"Content-Type": "application/octet-stream"}
        if self._has_login or getattr(registry.auth, "token", None):
            # A stream is sent once: authenticate up front, never by oras'
            # answer-the-401-and-resend (which would resend a consumed body).
            headers.update(registry.auth.get_auth_header())
        try:
            response = registry.session.request(
                "PUT", url, data=iter(chunks), headers=headers
            )
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            msg = f"the connection broke while sending {what}"
            if "the appliance is sealed" in str(exc):
                msg = f"refused by the appliance's seal while sending {what}"
            raise InputError(
                msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
            ) from exc
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
