"""Debian's docker-registry on 127.0.0.1, started and stopped by the test suite.

A real CNCF distribution 2.8 server with filesystem storage in a temporary
directory, plus the two ways tests move images in and out of it: skopeo (always
with ``--preserve-digests``, so signatures stay valid) and raw HTTP reads that
hash the body themselves.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.helpers import netguard

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.pki import CA, Issued
    from tests.helpers.token_server import TokenServer

_ACCEPT = (
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)
_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: "{addr}"
"""
_AUTH = """\
auth:
  htpasswd:
    realm: basic-realm
    path: {path}
"""


class RegistryError(RuntimeError):
    """The registry did not start, or answered something unexpected."""


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it."""

    body: bytes
    media_type: str
    digest: str  # sha256 of ``body``, computed here, never taken from a header
    header_digest: str | None


@dataclass
class Registry:
    """A running docker-registry process."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    credentials: tuple[str, str] | None = None
    # TLS (a private CA's server certificate) and token auth, when configured.
    ca: CA | None = None
    client: Issued | None = None  # the client certificate mutual TLS demands
    token_server: TokenServer | None = None

    @property
    def address(self) -> str:
        """``host:port`` as image references spell it (``[::1]:PORT`` for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        """Whether it speaks HTTPS."""
        return self.ca is not None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.ca is None:
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        if self.client is not None:
            context.load_cert_chain(self.client.cert, self.client.key)
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=timeout, context=context
        )

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one HTTP request and return status, headers and body."""
        conn = self._connection(10)
        try:
            conn.request(method, path, headers={**self._auth(path), **(headers or {})})
            resp = conn.getresponse()
            return (
                resp.status,
                {k.lower(): v for k, v in resp.getheaders()},
                resp.read(),
            )
        finally:
            conn.close()

    def _auth(self, path: str = "") -> dict[str, str]:
        if self.token_server is not None:
            named = re.match(r"/v2/(.+?)/(?:blobs|manifests|tags)/", path)
            names = {*self._repositories(), *([named.group(1)] if named else [])}
            everything = [
                {"type": "repository", "name": name, "actions": ["pull", "push"]}
                for name in sorted(names)
            ] + [{"type": "registry", "name": "catalog", "actions": ["*"]}]
            return {"Authorization": f"Bearer {self.token_server.mint(everything)}"}
        if self.credentials is None:
            return {}
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _repositories(self) -> list[str]:
        """Every repository name the storage holds (the test's own view, for an all-access token)."""
        root = self.workdir / "storage" / "docker/registry/v2/repositories"
        if not root.is_dir():
            return []
        return sorted(str(p.parent.relative_to(root)) for p in root.rglob("_manifests"))

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """Fetch a manifest by tag or digest and hash its exact bytes."""
        status, headers, body = self.request(
            "GET", f"/v2/{repo}/manifests/{ref}", {"Accept": _ACCEPT}
        )
        if status != 200:
            msg = f"GET manifest {repo}:{ref}: HTTP {status}"
            raise RegistryError(msg)
        return Manifest(
            body=body,
            media_type=headers.get("content-type", ""),
            digest="sha256:" + hashlib.sha256(body).hexdigest(),
            header_digest=headers.get("docker-content-digest"),
        )

    def get_blob(self, repo: str, digest: str) -> bytes:
        """Fetch a blob and check it hashes to ``digest``."""
        status, _, body = self.request("GET", f"/v2/{repo}/blobs/{digest}")
        if status != 200:
            msg = f"GET blob {repo}@{digest}: HTTP {status}"
            raise RegistryError(msg)
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            msg = f"blob {digest} came back with other bytes"
            raise RegistryError(msg)
        return body

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload a blob (monolithic POST then PUT); return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        if status == 200:
            return digest
        status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        if status != 202:
            msg = f"POST upload {repo}: HTTP {status} {body[:200]!r}"
            raise RegistryError(msg)
        location = headers["location"]
        path = location.split(self.address, 1)[-1] if "://" in location else location
        separator = "&" if "?" in path else "?"
        conn = self._connection(30)
        try:
            conn.request(
                "PUT",
                f"{path}{separator}digest={digest}",
                body=data,
                headers={
                    "Content-Type": "application/octet-stream",
                    **self._auth(path),
                },
            )
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                msg = f"PUT blob {repo}: HTTP {resp.status}"
                raise RegistryError(msg)
        finally:
            conn.close()
        return digest

    def push_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or its digest; return its digest."""
        conn = self._connection(30)
        try:
            conn.request(
                "PUT",
                f"/v2/{repo}/manifests/{ref}",
                body=data,
                headers={
                    "Content-Type": media_type,
                    **self._auth(f"/v2/{repo}/manifests/"),
                },
            )
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 201:
                msg = f"PUT manifest {repo}:{ref}: HTTP {resp.status} {body[:300]!r}"
                raise RegistryError(msg)
        finally:
            conn.close()
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def blob_path(self, digest: str) -> Path:
        """Where the registry stores a blob on disk (to corrupt it in tests)."""
        hexdigest = digest.removeprefix("sha256:")
        return (
            self.workdir
            / "storage"
            / "docker/registry/v2/blobs/sha256"
            / hexdigest[:2]
            / hexdigest
            / "data"
        )

    def skopeo_flags(self, side: str) -> list[str]:
        """skopeo's flags to reach this registry as ``src`` or ``dest``."""
        flags = [f"--{side}-tls-verify=false"]
        if self.ca is not None:
            certs = self.workdir / "skopeo-certs"
            certs.mkdir(exist_ok=True)
            (certs / "ca.crt").write_bytes(self.ca.cert.read_bytes())
            if self.client is not None:
                (certs / "client.cert").write_bytes(self.client.cert.read_bytes())
                (certs / "client.key").write_bytes(self.client.key.read_bytes())
            flags = [f"--{side}-cert-dir={certs}"]
        if self.token_server is not None:
            user, password = next(iter(self.token_server.policy.users.items()))
            flags.append(f"--{side}-creds={user}:{password}")
        elif self.credentials is not None:
            flags.append(f"--{side}-creds={':'.join(self.credentials)}")
        return flags

    def push_layout(self, layout: Path, tag: str, repo_tag: str) -> None:
        """Copy ``layout:tag`` to ``repo_tag`` here with skopeo, digests preserved."""
        _skopeo(
            "copy",
            "--all",
            "--preserve-digests",
            *self.skopeo_flags("dest"),
            f"oci:{layout}:{tag}",
            f"docker://{self.address}/{repo_tag}",
        )

    def pull_layout(self, repo_tag: str, layout: Path, tag: str) -> None:
        """Copy ``repo_tag`` from here into ``layout:tag`` with skopeo, digests preserved."""
        _skopeo(
            "copy",
            "--all",
            "--preserve-digests",
            *self.skopeo_flags("src"),
            f"docker://{self.address}/{repo_tag}",
            f"oci:{layout}:{tag}",
        )

    def stop(self) -> None:
        """Stop the server and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _skopeo(*args: str) -> None:
    # --insecure-policy: the image trust policy is what we test, not skopeo's;
    # loopback only, and the suite's own verifier is the judge.
    cmd = ["skopeo", "--insecure-policy", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        msg = f"{' '.join(cmd)} failed: {done.stderr.strip()}"
        raise RegistryError(msg)


def start(
    workdir: Path,
    *,
    timeout_seconds: float = 15.0,
    credentials: tuple[str, str] | None = None,
    ca: CA | None = None,
    mutual: bool = False,
    token_server: TokenServer | None = None,
    bind: str = "127.0.0.1",
) -> Registry:
    """Start docker-registry on a free loopback port with storage in ``workdir``.

    With ``credentials``, the registry demands them (htpasswd basic auth, a
    bcrypt file written by Debian's ``htpasswd``). With ``ca``, it speaks TLS
    with a server certificate from that CA; with ``mutual`` too, it demands a
    client certificate chaining to it (``clientcas``). With ``token_server``,
    it uses token auth (``auth: token``) and verifies that server's JWTs.
    ``bind`` ``::1`` listens on IPv6 loopback.
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        msg = "docker-registry is not installed (make test installs it)"
        raise RegistryError(msg)
    port = netguard.free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    host = f"[{bind}]" if ":" in bind else bind
    text = _CONFIG.format(storage=storage, addr=f"{host}:{port}")
    client: Issued | None = None
    if ca is not None:
        server = ca.issue("registry-server", server=True)
        text += f"  tls:\n    certificate: {server.cert}\n    key: {server.key}\n"
        if mutual:
            text += f"    clientcas:\n      - {ca.cert}\n"
            client = ca.issue("registry-client", client=True)
    if token_server is not None:
        from tests.helpers import token_server as tokens  # noqa: PLC0415

        text += (
            "auth:\n  token:\n"
            f"    realm: {token_server.realm}\n"
            f"    service: {tokens.SERVICE}\n"
            f"    issuer: {tokens.ISSUER}\n"
            f"    rootcertbundle: {token_server.signer.cert}\n"
        )
    elif credentials is not None:
        htpasswd = workdir / "htpasswd"
        subprocess.run(
            ["htpasswd", "-Bbc", str(htpasswd), *credentials],
            check=True,
            capture_output=True,
        )
        text += _AUTH.format(path=htpasswd)
    config.write_text(text)
    with (workdir / "registry.log").open(
        "wb"
    ) as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    registry = Registry(
        host=bind,
        port=port,
        process=process,
        workdir=workdir,
        credentials=credentials,
        ca=ca,
        client=client,
        token_server=token_server,
    )
    deadline = time.monotonic() + timeout_seconds
    with netguard.loopback():
        while time.monotonic() < deadline:
            if process.poll() is not None:
                msg = f"docker-registry exited with {process.returncode}: {(workdir / 'registry.log').read_text()[-500:]}"
                raise RegistryError(msg)
            try:
                status, _, _ = registry.request("GET", "/v2/")
            except OSError:
                time.sleep(0.05)
                continue
            if status in (200, 401):  # 401: up, and asking for credentials
                return registry
    registry.stop()
    msg = f"docker-registry did not answer on {registry.address} within {timeout_seconds} s"
    raise RegistryError(msg)
