"""Image references, normalised as docker normalises them.

``alpine`` is ``docker.io/library/alpine:latest``; ``org/app`` is
``docker.io/org/app:latest``; a first component with a dot, a colon or named
``localhost`` is a registry host. Grammar from distribution/reference
(docs/oci.md §4): lowercase path components, tags of at most 128
characters, ``sha256`` digests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.core.errors import InputError, Reason

DOCKER_HUB = "docker.io"
# Older spellings of Docker Hub (cosign's payloads say index.docker.io).
_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io"})
# Docker Hub's API is not served on docker.io itself.
_API_HOSTS = {DOCKER_HUB: "registry-1.docker.io"}
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A normalised image reference: where, which repository, and what in it."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        """``registry/repository[:tag][@digest]``."""
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def name(self) -> str:
        """``registry/repository``: what cosign signs as ``docker-reference``."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host (and port) the distribution API is served on."""
        return _API_HOSTS.get(self.registry, self.registry)

    def at(self, digest: str) -> Reference:
        """The same repository at ``digest`` (no tag)."""
        return Reference(
            registry=self.registry, repository=self.repository, digest=digest
        )

    def with_tag(self, tag: str) -> Reference:
        """The same repository at ``tag`` (no digest)."""
        return Reference(registry=self.registry, repository=self.repository, tag=tag)


def _fail(text: str, why: str) -> InputError:
    return InputError(
        f"not an image reference: {why}", where=text[:200], reason=Reason.USAGE
    )


def _registry(host: str, text: str) -> str:
    if not _HOST.fullmatch(host):
        raise _fail(text, f"bad registry host {host!r}")
    return DOCKER_HUB if host in _HUB_ALIASES else host


def parse_reference(text: str) -> Reference:
    """Parse and normalise an image reference.

    Raises:
        InputError: not a valid reference (names what is wrong).
    """
    if not text or text != text.strip() or len(text) > 4096:  # noqa: PLR2004
        raise _fail(text, "empty, padded or too long")
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise _fail(text, "the digest must be sha256:<64 lowercase hex>")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = _registry(first, text), remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag: str | None = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise _fail(text, f"bad tag {tag!r}")
    components = path.split("/")
    if not path or not all(_COMPONENT.fullmatch(c) for c in components):
        raise _fail(text, "repository names are lowercase components separated by /")
    if registry == DOCKER_HUB and len(components) == 1:
        path = f"library/{path}"
    if tag is None and not digest:
        tag = "latest"
    return Reference(registry=registry, repository=path, tag=tag, digest=digest or None)
