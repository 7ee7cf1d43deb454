"""TLS to a registry as docker, skopeo and podman do it: the system's trust, certs.d, the operator's files.

* The operating system's trust store, as ``truststore`` (what pip uses)
  finds it: on macOS and Windows through truststore itself (the platform
  verifier); on Linux, where truststore is OpenSSL with the distribution's CA
  files, the same lookup done once per context here, because truststore
  repeats it on every handshake (``set_default_verify_paths`` per
  ``wrap_socket``: 134 ms a connection measured on the bench machine). So a
  CA added with ``update-ca-certificates`` is trusted, and
  ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are honoured as OpenSSL honours them.
  ``REQUESTS_CA_BUNDLE`` is not read: it would *replace* the public roots
  (requests' semantics), which is the undocumented trap issue #21 reported.
* Per-registry directories ``/etc/containers/certs.d/HOST:PORT/`` and
  ``/etc/docker/certs.d/HOST:PORT/``: every ``*.crt`` is a CA added to the
  trust, every ``*.cert`` with the ``*.key`` of the same stem is a client
  certificate (containers-certs.d(5); docker's "Verify repository client
  certificates").
* The flags cosign names (``--registry-cacert``, ``--registry-client-cert``,
  ``--registry-client-key``).

Never a downgrade: a TLS failure is one error naming the host, the cause
(unknown CA, expired, name mismatch, client certificate refused) and what
would fix it; plain HTTP is only ever what the operator asked for.
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import truststore

from appliance.core.errors import InputError, Reason

# Where skopeo/podman and docker look, in the order containers-certs.d(5) gives.
CERTS_D: Final = (Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d"))
# truststore's own fallbacks when OpenSSL's compiled-in paths hold nothing (a
# sealed build's OpenSSL on another distribution): Alpine/Arch/Fedora/RHEL/BSD,
# Fedora 44+, older Fedora/RHEL, Debian/Ubuntu, SUSE.
_CA_FILES: Final = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)


def _system_context() -> ssl.SSLContext:
    """A client context trusting the operating system's store (hostname checked, TLS 1.2+)."""
    if sys.platform in ("darwin", "win32"):
        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    defaults = ssl.get_default_verify_paths()
    capath = defaults.capath
    if defaults.cafile or (capath and any(Path(capath).glob("*.[0-9]"))):
        context.set_default_verify_paths()
    else:
        for cafile in _CA_FILES:
            if os.path.isfile(cafile):  # noqa: PTH113 - a str path, as OpenSSL takes it
                context.load_verify_locations(cafile=cafile)
                break
    return context


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSOptions:
    """The operator's TLS files for this command (cosign's flag names)."""

    cacert: Path | None = None  # --registry-cacert: added to the system's trust
    client_cert: Path | None = None  # --registry-client-cert
    client_key: Path | None = None  # --registry-client-key
    certs_d: tuple[Path, ...] = CERTS_D

    def __post_init__(self) -> None:
        """A client certificate comes with its key, or not at all.

        Raises:
            InputError: one of the pair without the other.
        """
        if (self.client_cert is None) != (self.client_key is None):
            msg = "give --registry-client-cert and --registry-client-key together"
            raise InputError(msg, where="--registry-client-cert", reason=Reason.USAGE)


def _directory_files(
    host: str, roots: tuple[Path, ...]
) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The CA files and client pairs certs.d holds for ``host`` (``name:port`` as the image reference spells it)."""
    cas: list[Path] = []
    pairs: list[tuple[Path, Path]] = []
    for root in roots:
        directory = root / host
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix == ".crt":
                cas.append(path)
            elif path.suffix == ".cert":
                key = path.with_suffix(".key")
                if not key.is_file():
                    msg = (
                        f"a client certificate without its key ({key.name} is missing)"
                    )
                    raise InputError(
                        msg, where=str(path), reason=Reason.INPUT_UNREADABLE
                    )
                pairs.append((path, key))
    return cas, pairs


def context_for(
    host: str, options: TLSOptions, *, client_cert: bool, registry: str | None = None
) -> tuple[ssl.SSLContext, list[str]]:
    """The SSL context to reach ``host`` and the files it was built from (for error lines).

    Args:
        host: ``name[:port]`` as the operator or the registry named it.
        options: the operator's flags.
        client_cert: present the flags' client certificate (to the registry
            itself, not to a token realm or a storage host on another name).
        registry: the registry that named ``host`` (its realm, its storage):
            that registry's certs.d CAs are trusted for it too, as docker
            builds the token request on the registry's own TLS settings.

    Hosts whose CA files and client pair are the same share one context,
    built once per process (an SSL context is shared safely by threads):
    the exporter's per-thread clients, and a registry and its token realm.

    Raises:
        InputError: a file that cannot be read or is not a certificate or key.
    """
    cas, pairs = _directory_files(host, options.certs_d)
    if registry is not None and registry != host:
        cas += _directory_files(registry, options.certs_d)[0]
    if options.cacert is not None:
        cas.append(options.cacert)
    if (
        client_cert
        and options.client_cert is not None
        and options.client_key is not None
    ):
        pairs = [(options.client_cert, options.client_key)]
    return _built(tuple(dict.fromkeys(cas)), pairs[0] if pairs else None)


@functools.lru_cache(maxsize=64)
def _built(
    cas: tuple[Path, ...], pair: tuple[Path, Path] | None
) -> tuple[ssl.SSLContext, list[str]]:
    context = _system_context()
    sources: list[str] = []
    for ca in cas:
        try:
            context.load_verify_locations(cafile=os.fspath(ca))
        except (OSError, ssl.SSLError) as exc:
            msg = f"not a readable PEM CA certificate ({exc.__class__.__name__}: {exc})"
            raise InputError(
                msg, where=str(ca), reason=Reason.INPUT_UNREADABLE
            ) from exc
        sources.append(str(ca))
    if pair is not None:
        cert, key = pair
        try:
            context.load_cert_chain(os.fspath(cert), os.fspath(key))
        except (OSError, ssl.SSLError) as exc:
            msg = f"client certificate and key cannot be used ({exc.__class__.__name__}: {exc})"
            raise InputError(
                msg, where=str(cert), reason=Reason.INPUT_UNREADABLE
            ) from exc
        sources.append(f"client {cert}")
    return context, sources


def explain(host: str, exc: BaseException, sources: list[str]) -> str:
    """One line saying why TLS to ``host`` failed and what would fix it."""
    text = str(exc)
    lowered = text.lower()
    fix = (
        f"put its CA in /etc/docker/certs.d/{host}/ca.crt (or /etc/containers/certs.d), "
        "give --registry-cacert FILE, or add it to the system trust store"
    )
    if "certificate has expired" in lowered:
        cause, fix = (
            "its certificate has expired",
            "renew the registry's certificate (or check this machine's clock)",
        )
    elif "mismatch" in lowered or "doesn't match" in lowered:
        cause, fix = (
            "its certificate does not name this host",
            "reach it by a name its certificate lists (--to), or reissue the certificate",
        )
    elif (
        "self-signed" in lowered
        or "unable to get local issuer" in lowered
        or "unknown ca" in lowered.split("alert")[0]
    ):
        cause = "its certificate is signed by an unknown CA"
    elif (
        "certificate required" in lowered
        or "bad certificate" in lowered
        or "alert unknown ca" in lowered
    ):
        cause = "it refused this client's certificate (or none was presented)"
        fix = (
            f"give --registry-client-cert FILE --registry-client-key FILE, "
            f"or put client.cert and client.key in /etc/docker/certs.d/{host}/"
        )
    elif "wrong version number" in lowered or "record layer failure" in lowered:
        cause, fix = (
            "it does not speak TLS on that port",
            "check the port; for a plain-HTTP registry on an isolated segment, name it with --allow-http-registry",
        )
    else:
        cause = f"the TLS handshake failed ({_reason(text)})"
    used = f"; trusted beyond the system store: {', '.join(sources)}" if sources else ""
    return f"TLS to {host} failed: {cause}{used}; {fix}"


def _reason(text: str) -> str:
    """The OpenSSL reason inside requests' nested exception text, briefly."""
    marker = "SSLError("
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    return text.strip("()'\" ")[:160]
