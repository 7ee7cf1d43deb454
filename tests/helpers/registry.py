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
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.helpers import netguard

if TYPE_CHECKING:
    from pathlib import Path

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
  addr: 127.0.0.1:{port}
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

    @property
    def address(self) -> str:
        """``host:port`` as image references spell it."""
        return f"{self.host}:{self.port}"

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one HTTP request and return status, headers and body."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, headers={**self._auth(), **(headers or {})})
            resp = conn.getresponse()
            return (
                resp.status,
                {k.lower(): v for k, v in resp.getheaders()},
                resp.read(),
            )
        finally:
            conn.close()

    def _auth(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return {"Authorization": f"Basic {token}"}

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
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(
                "PUT",
                f"{path}{separator}digest={digest}",
                body=data,
                headers={"Content-Type": "application/octet-stream", **self._auth()},
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
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(
                "PUT",
                f"/v2/{repo}/manifests/{ref}",
                body=data,
                headers={"Content-Type": media_type, **self._auth()},
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

    def push_layout(self, layout: Path, tag: str, repo_tag: str) -> None:
        """Copy ``layout:tag`` to ``repo_tag`` here with skopeo, digests preserved."""
        _skopeo(
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{layout}:{tag}",
            f"docker://{self.address}/{repo_tag}",
        )

    def pull_layout(self, repo_tag: str, layout: Path, tag: str) -> None:
        """Copy ``repo_tag`` from here into ``layout:tag`` with skopeo, digests preserved."""
        _skopeo(
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
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
) -> Registry:
    """Start docker-registry on a free loopback port with storage in ``workdir``.

    With ``credentials``, the registry demands them (htpasswd basic auth, a
    bcrypt file written by Debian's ``htpasswd``).
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        msg = "docker-registry is not installed (make test installs it)"
        raise RegistryError(msg)
    port = netguard.free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    text = _CONFIG.format(storage=storage, port=port)
    if credentials is not None:
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
        host="127.0.0.1",
        port=port,
        process=process,
        workdir=workdir,
        credentials=credentials,
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
