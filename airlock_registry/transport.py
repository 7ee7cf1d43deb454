"""The one HTTP transport to a registry, for both programs: session, auth, TLS, redirects, proxies, retries.

It replaces oras-py 0.2.43, whose defects made token registries unusable
(issue #21): ``TokenAuth`` keeps the first bearer token and resends it for
every later request (another repository, a push after a pull, after it
expired), it reads credentials only from ``~/.docker/config.json``, it cannot
present a client certificate or take a CA, its retry decorator sleeps for
minutes with nothing printed, and it forwards ``Authorization`` wherever
requests follows a redirect. What is done here instead:

* **auth**: the challenge of ``/v2/`` decides the scheme; bearer tokens are
  asked for exactly the scopes each request needs and kept per (realm,
  service, scope set) until shortly before ``expires_in`` runs out
  (:mod:`.auth`); a ``401`` answered with ``insufficient_scope`` or
  ``invalid_token`` gets one fresh token and one retry, and a ``401`` after a
  fresh token names the scope refused;
* **TLS**: :mod:`.tls` (system trust store, certs.d, cosign's flags); errors
  name the host, the cause and the fix;
* **redirects**: followed by hand for ``GET``/``HEAD`` (storage back ends),
  never to plain HTTP from HTTPS, with ``Authorization`` dropped when the host
  changes (RFC 9110 §15.4 leaves it to the client; docker and containerd drop
  it too);
* **hosts**: every host other than the registry (a token realm, a storage
  redirect) is first put to ``admit`` (the appliance's seal decides there),
  and every host contacted is recorded for the audit line;
* **proxies**: the environment's (``HTTPS_PROXY``, ``NO_PROXY``) when
  ``proxies`` is None (the connected side), else exactly those given;
* **retries**: 408, 429, 5xx and broken connections, with backoff;
  ``Retry-After`` honoured up to :data:`MAX_RETRY_AFTER` seconds, each wait
  told through ``notice``.
"""

from __future__ import annotations

import base64
import email.utils
import os
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import requests
import requests.adapters
import requests.utils
import urllib3.exceptions
import urllib3.util

from airlock_registry import credentials, tls
from airlock_registry.auth import Challenge, Token, merge_scopes, parse_challenges
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Iterator, Mapping

TIMEOUT: Final = (10.0, 120.0)  # connect, read (seconds)
# The longest Retry-After honoured: registries ask for seconds to a minute
# (Docker Hub's pull limit answers with hours, which no command should sit out).
MAX_RETRY_AFTER: Final = 120.0
_RETRY_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS: Final = 5


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how patiently, to retry a transient failure."""

    attempts: int = 4
    backoff_seconds: tuple[float, ...] = (0.25, 1.0, 3.0)
    max_wait_seconds: float = MAX_RETRY_AFTER


class HostRefusedError(InputError):
    """A host the registry named was refused (by the seal's ``admit``)."""


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class _TLSAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose pools use one SSL context (and nothing requests adds)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:  # noqa: ANN401
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:  # noqa: ANN401, ARG002
        # requests would load certifi's bundle into our context on every new
        # connection (verify=True means "certifi" to it): the context already
        # holds the system's trust and the operator's CAs.
        conn.cert_reqs = "CERT_REQUIRED"


@dataclass(frozen=True, slots=True)
class EnvironmentProxy:
    """The proxy the environment names for a URL (its credentials never shown)."""

    variable: str  # HTTPS_PROXY, https_proxy, ALL_PROXY...
    url: str = field(repr=False)

    @property
    def netloc(self) -> str:
        """``host:port`` of the proxy, without any user info."""
        return netloc_of(self.url)


def environment_proxy(url: str) -> EnvironmentProxy | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` name for ``url``, unless ``NO_PROXY`` exempts it."""
    proxies = requests.utils.get_environ_proxies(url)
    scheme = urllib.parse.urlsplit(url).scheme
    chosen = proxies.get(scheme) or proxies.get("all")
    if not chosen:
        return None
    names = [f"{scheme}_proxy", "all_proxy"]
    variable = next(
        (v for n in names for v in (n.upper(), n) if os.environ.get(v) == chosen),
        f"{scheme.upper()}_PROXY",
    )
    return EnvironmentProxy(variable, chosen)


def netloc_of(url: str) -> str:
    r"""``host:port`` of a URL as written (an IPv6 literal keeps its brackets), else as dialled.

    urllib.parse and urllib3 (which requests dials with) split some
    authorities differently: ``https://evil\@registry/`` is ``registry`` to
    the first and ``evil`` to the second (WHATWG URL treats ``\`` as ``/``).
    A registry's ``Location`` or realm must not look like the registry to the
    credential and seal checks while another host is dialled: where the two
    disagree, the host dialled is the answer.
    """
    written = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
    try:
        dialled = urllib3.util.parse_url(url).netloc or ""
    except urllib3.exceptions.LocationParseError:
        return written
    # Case, and an IPv6 zone's "%25" (RFC 6874) urllib3 writes as "%", are
    # spelling, not another host.
    same = written.lower().replace("%25", "%") == dialled.lower().replace("%25", "%")
    return written if same else dialled


def _with_port(netloc: str, scheme: str) -> str:
    """``netloc`` with its port written: the scheme's default when it names none."""
    host = netloc.rpartition("]")[2] if netloc.startswith("[") else netloc
    if ":" in host and host.rpartition(":")[2].isdigit():
        return netloc
    return f"{netloc}:{80 if scheme == 'http' else 443}"


class Transport:
    """Authenticated, retried HTTP to one registry host.

    Args:
        host: ``name[:port]`` (``[::1]:5000`` for an IPv6 literal).
        plain_http: speak HTTP (only when the operator said so).
        login: credentials; else the Docker config's, looked up on demand.
        tls_options: CA and client-certificate files.
        retry: the retry policy.
        admit: asked before any other host is contacted, with its
            ``host:port`` and why it is wanted; raises to refuse.
        proxies: None for the environment's proxies, else exactly these.
        notice: where waits are told (stderr by default).
        tokens: a token cache to share with other transports to the same
            registry (the exporter's per-thread clients), else its own.
    """

    def __init__(  # noqa: PLR0913 - each part of a connection named
        self,
        host: str,
        *,
        plain_http: bool = False,
        login: credentials.Credentials | None = None,
        tls_options: tls.TLSOptions | None = None,
        retry: RetryPolicy | None = None,
        admit: Callable[[str, str], None] | None = None,
        proxies: Mapping[str, str] | None = None,
        notice: Callable[[str], None] | None = None,
        tokens: dict[tuple[str, str, tuple[str, ...]], Token] | None = None,
    ) -> None:
        self.host = host
        self.scheme = "http" if plain_http else "https"
        self.retry = retry or RetryPolicy()
        self.tls = tls_options or tls.TLSOptions()
        self.admit = admit
        self.proxies = None if proxies is None else dict(proxies)
        self.notice = notice or _stderr
        self.session = requests.Session()
        self.session.trust_env = False  # proxies, CAs and netrc are decided here
        self.contacted: list[str] = []
        self._login = login
        self._login_looked_up = login is not None
        self._challenge: Challenge | None = None
        self._pinged = False
        self._origins: dict[str, list[str]] = {}
        self._tokens = {} if tokens is None else tokens

    # -- hosts, TLS and sending ------------------------------------------------

    def _origin(self, url: str, why: str) -> list[str]:
        """Admit and prepare the origin of ``url``; the TLS files it uses (for errors)."""
        parts = urllib.parse.urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key in self._origins:
            return self._origins[key]
        netloc = netloc_of(url)
        if netloc != self.host and self.admit is not None:
            # The port dialled when none is written is the scheme's (RFC 9110
            # §4.2): a realm at http://auth/ is auth:80, not auth:443.
            self.admit(_with_port(netloc, parts.scheme), why)
        sources: list[str] = []
        if parts.scheme == "https":
            context, sources = tls.context_for(
                netloc, self.tls, client_cert=netloc == self.host, registry=self.host
            )
            self.session.mount(key + "/", _TLSAdapter(context))
        self._origins[key] = sources
        self.contacted.append(netloc)
        return sources

    def _proxies_for(self, url: str) -> dict[str, str]:
        if self.proxies is not None:
            return self.proxies
        return dict(requests.utils.get_environ_proxies(url))

    def send(  # noqa: PLR0913 - one HTTP exchange, each part named
        self,
        method: str,
        url: str,
        *,
        what: str,
        why: str = "",
        headers: Mapping[str, str] | None = None,
        data: bytes | Iterator[bytes] | Mapping[str, str] | None = None,
        stream: bool = False,
        attempts: int | None = None,
    ) -> requests.Response:
        """One request, retried on transient failures; one clear error otherwise.

        Raises:
            InputError: TLS failed, the host was unreachable or refused, or
                the failure outlasted the retries.
        """
        sources = self._origin(url, why or what)
        netloc = netloc_of(url)
        where = f"registry {self.host}"
        attempts = attempts or self.retry.attempts
        failure = ""
        for attempt in range(attempts):
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    data=data,
                    stream=stream,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                    proxies=self._proxies_for(url),
                )
            except requests.exceptions.SSLError as exc:
                raise InputError(
                    tls.explain(netloc, exc, sources),
                    where=where,
                    reason=Reason.INPUT_UNREADABLE,
                ) from exc
            except ValueError as exc:
                # requests parses a redirect's Location even when it does not
                # follow it (Session.send prepares ``response.next``). Only the
                # type is named: InvalidHeader quotes the header (a token).
                msg = f"answers {what} with a URL or header that cannot be used ({type(exc).__name__})"
                raise InputError(
                    msg, where=where, reason=Reason.INPUT_UNREADABLE
                ) from exc
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                if "the appliance is sealed" in str(exc):
                    msg = f"refused by the appliance's seal: {netloc} (wanted for {why or what}) is not a host this command may reach"
                    raise HostRefusedError(
                        msg, where=where, reason=Reason.INPUT_UNREADABLE
                    ) from exc
                failure = f"cannot reach {netloc} for {what} ({type(exc).__name__})"
                if not isinstance(data, (bytes, type(None), dict)):
                    break  # a stream is sent once
                self._wait(attempt, attempts, None, failure)
                continue
            if response.status_code in _RETRY_STATUS and isinstance(
                data, (bytes, type(None), dict)
            ):
                failure = f"HTTP {response.status_code} for {what}"
                retry_after = response.headers.get("Retry-After")
                response.close()
                self._wait(attempt, attempts, retry_after, failure)
                continue
            return response
        msg = f"{failure} (after {attempts} attempt{'s' if attempts > 1 else ''})"
        raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE)

    def _wait(
        self, attempt: int, attempts: int, retry_after: str | None, failure: str
    ) -> None:
        """Sleep before the next attempt, saying so; refuse a wait over the cap."""
        if attempt + 1 >= attempts:
            return
        backoff = self.retry.backoff_seconds
        delay = backoff[min(attempt, len(backoff) - 1)]
        told = _retry_after_seconds(retry_after)
        reason = "backing off"
        if told is not None:
            if told > self.retry.max_wait_seconds:
                msg = (
                    f"{failure}: the registry asks to wait {told:.0f} s (Retry-After), "
                    f"over the {self.retry.max_wait_seconds:.0f} s this client waits; try again later"
                )
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
            delay, reason = max(delay, told), "Retry-After"
        self.notice(
            f"registry {self.host}: {failure}; waiting {delay:g} s ({reason}) "
            f"before attempt {attempt + 2} of {attempts}"
        )
        time.sleep(delay)

    # -- authentication ------------------------------------------------------------

    def credentials(self) -> credentials.Credentials | None:
        """The caller's credentials, else the Docker config's for this host."""
        if not self._login_looked_up:
            self._login = credentials.lookup(self.host)
            self._login_looked_up = True
        return self._login

    def ping(self) -> None:
        """``GET /v2/``: learn how the registry wants to be authenticated.

        Raises:
            InputError: it is not a registry API, or it cannot be reached.
        """
        if self._pinged:
            return
        response = self.send(
            "GET", f"{self.scheme}://{self.host}/v2/", what="the API root /v2/"
        )
        with response:
            if response.status_code == 401:  # noqa: PLR2004
                found = parse_challenges(response.headers.get("WWW-Authenticate", ""))
                self._challenge = _preferred(found)
                if self._challenge is None:
                    msg = "answers /v2/ with HTTP 401 but no Bearer or Basic challenge"
                    raise InputError(
                        msg,
                        where=f"registry {self.host}",
                        reason=Reason.INPUT_UNREADABLE,
                    )
            elif response.status_code not in (200, 404):
                msg = (
                    f"answers /v2/ with HTTP {response.status_code}: not a registry API"
                )
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
        self._pinged = True

    def _authorization(self, scopes: tuple[str, ...], *, fresh: bool) -> dict[str, str]:
        challenge = self._challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            login = self.credentials()
            if login is None or login.identity_token is not None:
                msg = (
                    "needs credentials (basic auth): give --registry-username (password on stdin) "
                    f"or log in with docker/skopeo (Docker config {credentials.config_path()})"
                )
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
            return {"Authorization": _basic(login)}
        realm = challenge.params.get("realm", "")
        service = challenge.params.get("service", "")
        key = (realm, service, scopes)
        token = self._tokens.get(key)
        if fresh or token is None or not token.fresh():
            token = self._fetch_token(realm, service, scopes)
            self._tokens[key] = token
        return {"Authorization": f"Bearer {token.value}"}

    def _fetch_token(self, realm: str, service: str, scopes: tuple[str, ...]) -> Token:
        """Ask the realm for a token for exactly ``scopes`` (token spec "Requesting a Token").

        Raises:
            InputError: the realm is unusable, refused the credentials, or
                answered without a token.
        """
        where = f"registry {self.host}"
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            msg = f"names a token realm that is not an HTTP(S) URL ({realm[:100]!r})"
            raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE)
        if parts.scheme == "http" and self.scheme == "https":
            msg = f"names a token realm over plain HTTP ({parts.netloc}) for an HTTPS registry: credentials would travel in clear"
            raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE)
        login = self.credentials()
        what = f"a token for {' '.join(scopes) or 'the registry'} from {parts.netloc}"
        why = f"its token realm {realm}"
        if login is not None and login.identity_token is not None:
            # OAuth2 token spec: a refresh token is exchanged with a POST.
            form = {
                "grant_type": "refresh_token",
                "refresh_token": login.identity_token,
                "service": service,
                "client_id": "airlock",
                "scope": " ".join(scopes),
            }
            response = self.send("POST", realm, what=what, why=why, data=form)
        else:
            query = [("service", service)] if service else []
            query += [("scope", scope) for scope in scopes]
            separator = "&" if parts.query else "?"
            url = realm + (separator + urllib.parse.urlencode(query) if query else "")
            headers = {} if login is None else {"Authorization": _basic(login)}
            response = self.send("GET", url, what=what, why=why, headers=headers)
        with response:
            if response.status_code in (401, 403):
                who = "anonymous access" if login is None else "the credentials given"
                msg = f"the token server {parts.netloc} refused {who} (HTTP {response.status_code}) for {' '.join(scopes) or 'the registry'}"
                raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE)
            if response.status_code != 200:  # noqa: PLR2004
                msg = f"the token server {parts.netloc} answered HTTP {response.status_code}"
                raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE)
            try:
                doc = response.json()
                value = doc.get("token") or doc.get("access_token")
            except (ValueError, AttributeError) as exc:
                msg = f"the token server {parts.netloc} answered something that is not a token"
                raise InputError(
                    msg, where=where, reason=Reason.INPUT_UNREADABLE
                ) from exc
        if not isinstance(value, str) or not value:
            msg = f"the token server {parts.netloc} answered without a token"
            raise InputError(msg, where=where, reason=Reason.INPUT_UNREADABLE)
        return Token.issued(value, doc.get("expires_in"))

    # -- the request the client makes --------------------------------------------------

    def request(  # noqa: PLR0913 - the auth and redirect dance in one place
        self,
        method: str,
        path: str,
        *,
        what: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None = None,
        data: bytes | Iterator[bytes] | None = None,
        stream: bool = False,
        retry: bool = True,
        storage_redirects: bool = False,
    ) -> requests.Response:
        """An authenticated request for ``scopes``, following allowed redirects.

        Args:
            method: the HTTP method.
            path: a path on the registry, or an absolute URL on its host.
            what: how errors name the request.
            scopes: the token scopes it needs.
            headers: extra headers.
            data: a body (bytes are resent after a 401; an iterator is not).
            stream: leave the body unread.
            retry: retry transient failures.
            storage_redirects: the request may be redirected to another host
                (blob GET/HEAD to the registry's storage).

        Raises:
            InputError: refused with a fresh token (the scope is named),
                wrong credentials, a redirect the seal or the scheme forbids,
                or any failure :meth:`send` reports.
        """
        self.ping()
        url = path if "://" in path else f"{self.scheme}://{self.host}{path}"
        attempts = None if retry else 1
        auth = self._authorization(scopes, fresh=False)
        replayable = not (data is not None and not isinstance(data, bytes))
        response = self.send(
            method,
            url,
            what=what,
            headers={**(headers or {}), **auth},
            data=data,
            stream=stream,
            attempts=attempts,
        )
        if response.status_code == 401 and replayable:  # noqa: PLR2004
            challenge = _preferred(
                parse_challenges(response.headers.get("WWW-Authenticate", ""))
            )
            response.close()
            if challenge is not None and challenge.scheme == "bearer":
                # RFC 6750 §3.1: insufficient_scope or invalid_token (expired,
                # revoked): one fresh token for what the registry asked, once.
                self._challenge = challenge
                scopes = merge_scopes(scopes, challenge.scopes)
                auth = self._authorization(scopes, fresh=True)
                response = self.send(
                    method,
                    url,
                    what=what,
                    headers={**(headers or {}), **auth},
                    data=data,
                    stream=stream,
                    attempts=attempts,
                )
            elif challenge is not None and challenge.scheme == "basic":
                self._challenge = challenge
                auth = self._authorization(scopes, fresh=True)
                response = self.send(
                    method,
                    url,
                    what=what,
                    headers={**(headers or {}), **auth},
                    data=data,
                    stream=stream,
                    attempts=attempts,
                )
        if response.status_code in (401, 403):
            response.close()
            raise InputError(
                self._refusal(response, what, scopes),
                where=f"registry {self.host}",
                reason=Reason.INPUT_UNREADABLE,
            )
        hops = 0
        while response.status_code in _REDIRECTS and method in ("GET", "HEAD"):
            hops += 1
            location = response.headers.get("Location", "")
            response.close()
            if hops > _MAX_HOPS or not location:
                msg = f"redirects {what} {'too often' if location else 'without a Location'}"
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
            try:
                target = urllib.parse.urljoin(url, location)
                # Both parsers must accept it: urlsplit (port range, IPv6
                # brackets) and urllib3, which dials.
                _ = urllib.parse.urlsplit(target).port
                urllib3.util.parse_url(target)
            except ValueError as exc:  # LocationParseError is one too
                msg = f"redirects {what} to a URL that cannot be followed ({location[:100]!r})"
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                ) from exc
            if (
                urllib.parse.urlsplit(target).scheme == "http"
                and self.scheme == "https"
            ):
                msg = f"redirects {what} to plain HTTP ({netloc_of(target)}): refused, never a downgrade"
                raise InputError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
            other = netloc_of(target) != self.host
            if other and not storage_redirects:
                msg = f"redirects {what} to another host ({netloc_of(target)}), which only blob downloads may do"
                raise HostRefusedError(
                    msg, where=f"registry {self.host}", reason=Reason.INPUT_UNREADABLE
                )
            # The registry's token is for the registry: never sent to its storage.
            sent = {**(headers or {})} if other else {**(headers or {}), **auth}
            url = target
            response = self.send(
                method,
                url,
                what=what,
                why=f"a storage redirect of {what}",
                headers=sent,
                stream=stream,
                attempts=attempts,
            )
        return response

    def _refusal(
        self, response: requests.Response, what: str, scopes: tuple[str, ...]
    ) -> str:
        challenge = _preferred(
            parse_challenges(response.headers.get("WWW-Authenticate", ""))
        )
        error = "" if challenge is None else challenge.params.get("error", "")
        if self._challenge is not None and self._challenge.scheme == "bearer":
            # Actions in a stable order: registries list them as they please.
            asked = " ".join(
                merge_scopes(
                    challenge.scopes if challenge and challenge.scopes else scopes
                )
            )
            return (
                f"refused {what} (HTTP {response.status_code}{', ' + error if error else ''}) "
                f"with a fresh token: the token server did not grant {asked or 'access'}"
            )
        if self._challenge is not None and self._challenge.scheme == "basic":
            return f"refused {what} (HTTP {response.status_code}): wrong credentials (user name or password)"
        return f"refused {what} (HTTP {response.status_code})"

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()


def _preferred(challenges: list[Challenge]) -> Challenge | None:
    """Bearer over Basic; None if neither is offered."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


def _basic(login: credentials.Credentials) -> str:
    token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
    return f"Basic {token}"


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
