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


# distribution/reference: NameTotalLengthMax, the whole name with its host.
_NAME_MAX = 255
_PORT_MAX = 65535


def _component_problem(component: str) -> str | None:
    """What is wrong with one component of a repository prefix, or None."""
    if not component:
        return "the prefix has an empty component (a leading, trailing or double /)"
    if "@" in component:
        return "the prefix is a repository path: no digest (@...)"
    if ":" in component:
        return "the prefix is a repository path: no tag (:...)"
    if not _COMPONENT.fullmatch(component):
        return (
            f"prefix component {component[:80]!r} is not lowercase letters and "
            "digits joined by '.', '_', '__' or '-'"
        )
    return None


def _target_problem(text: str) -> str | None:
    """What is wrong with a ``HOST[:PORT][/PREFIX]``, or None."""
    if not text or any(c.isspace() for c in text):
        return "empty, or with spaces"
    if len(text) > _NAME_MAX:
        return f"longer than the {_NAME_MAX} characters a repository name may have"
    host, slash, prefix = text.partition("/")
    _, colon, port = host.rpartition(":")
    if not _HOST.fullmatch(host):
        problem: str | None = f"{host[:80]!r} is not a registry host"
    elif "." not in host and ":" not in host and host != "localhost":
        problem = (
            f"name the registry host {host[:80]!r} with a dot or a port (or localhost)"
        )
    elif colon and port.isdigit() and not 0 < int(port) <= _PORT_MAX:
        problem = f"port {port} is out of range"
    else:
        problems = (_component_problem(c) for c in prefix.split("/")) if slash else ()
        problem = next((p for p in problems if p is not None), None)
    return problem


def shown_target(text: str) -> str:
    """``HOST[:PORT][/PREFIX]`` as it may be shown or recorded: any ``userinfo@`` as ``***@``."""
    head, slash, rest = text.partition("/")
    if "@" in head:
        head = "***@" + head.rpartition("@")[2]
    return (head + slash + rest)[:200]


def check_push_target(text: str, *, flag: str = "--to") -> None:
    """Refuse a ``HOST[:PORT][/PREFIX]`` that is not a registry and a repository path.

    Checked before any network or HSM work: the prefix is put in front of
    every pushed repository, so a tag, a digest, an uppercase letter, ``..``
    or an empty component in it would surface only once pushing started.

    Args:
        text: what the operator gave (``--to``).
        flag: the flag named in the error.

    Raises:
        InputError: not a registry host with an optional repository path
            (``reason`` ``usage``; the line names the part at fault).
    """
    if "@" in text.partition("/")[0]:
        # user:password@host: a password typed into a flag would be repeated
        # by this very line, the audit log and the shell's history.
        raise InputError(
            "expected HOST[:PORT][/PREFIX]: credentials do not belong in "
            "the registry name; give --registry-username and the password on stdin",
            where=f"{flag} {shown_target(text)}",
            reason=Reason.USAGE,
        )
    problem = _target_problem(text)
    if problem is not None:
        raise InputError(
            f"expected HOST[:PORT][/PREFIX]: {problem}",
            where=f"{flag} {text[:200]}",
            reason=Reason.USAGE,
        )


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
