"""Semantic versions (SemVer 2.0.0) and ranges such as ``>=1.4, <2``, strictly.

Tags are versions only when they are SemVer 2.0.0 to the letter
(https://semver.org/spec/v2.0.0.html, §2, §9, §10), with one allowance
every registry needs: a leading ``v`` (``v1.2.3``), as Helm, Go modules and
most release tags write it. Anything else (``1.2``, ``latest``,
``1.02.3``, ``1.2.3.4``) is not a version and never matches a range or
``newest``; it is listed in the ledger as "not semver".

Precedence is §11: major, minor, patch numerically; a pre-release sorts
before its release; pre-release identifiers compare numerically when both
are numeric, else in ASCII order, numeric below alphanumeric, and a longer
list above its prefix. Build metadata (``+...``) is ignored for precedence
(§10), so ``1.2.3+a`` and ``1.2.3+b`` are equal: ties are broken by the tag
text, so that every ordering is total and every export reproducible.

A range is comparators joined by ``,`` (all must hold): ``>=``, ``>``,
``<=``, ``<``, ``=`` (or ``==``), each with a version whose minor and patch
may be left out (``<2`` is ``<2.0.0``; ``=1.4`` is ``1.4.0`` exactly). A
pre-release (``1.5.0-rc.1``) is inside a range only when the entry asks for
pre-releases: a range is what an operator wants to run, and a release
candidate is rarely that (npm and oc-mirror make the same choice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Final

from appliance.core.errors import InputError, Reason

# semver.org's own regular expression (§ "Is there a suggested regular
# expression"), with the optional leading "v".
_VERSION: Final = re.compile(
    r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
_PARTIAL: Final = re.compile(
    r"v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?)?)?",
    re.ASCII,
)
_COMPARATOR: Final = re.compile(r"\s*(>=|<=|==|=|>|<)\s*(\S+)\s*")
_MAX_COMPARATORS: Final = 8
_MAX_TEXT: Final = 256


def _identifier_key(part: str) -> tuple[int, int, str]:
    # §11.4.1-3: numeric identifiers below alphanumeric ones, compared as numbers.
    return (0, int(part), "") if part.isdigit() else (1, 0, part)


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A SemVer 2.0.0 version; ``tag`` is the text it was read from."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    tag: str = ""

    @property
    def is_prerelease(self) -> bool:
        """Whether the version has a pre-release part (``-rc.1``)."""
        return bool(self.prerelease)

    def _key(self) -> tuple[object, ...]:
        pre: tuple[object, ...] = (
            (1,)
            if not self.prerelease
            else (0, tuple(_identifier_key(p) for p in self.prerelease))
        )
        return (self.major, self.minor, self.patch, pre, self.tag)

    def precedence(self) -> tuple[object, ...]:
        """The §11 precedence key, build metadata (and the tag text) left out."""
        return self._key()[:4]

    def __lt__(self, other: object) -> bool:
        """Precedence order (§11), ties broken by the tag text."""
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        """The tag the version was read from."""
        return self.tag


def parse_version(tag: str) -> Version | None:
    """``tag`` as a version, or None when it is not SemVer 2.0.0 (``v`` allowed)."""
    if len(tag) > _MAX_TEXT:
        return None
    match = _VERSION.fullmatch(tag)
    if match is None:
        return None
    major, minor, patch, pre, _build = match.groups()
    return Version(
        int(major),
        int(minor),
        int(patch),
        tuple(pre.split(".")) if pre else (),
        tag,
    )


@dataclass(frozen=True, slots=True)
class Comparator:
    """One ``OP VERSION`` of a range."""

    op: str
    version: Version

    def holds(self, version: Version) -> bool:
        """Whether ``version`` satisfies this comparator (by §11 precedence)."""
        have, want = version.precedence(), self.version.precedence()
        return {
            ">=": have >= want,
            ">": have > want,
            "<=": have <= want,
            "<": have < want,
            "=": have == want,
        }[self.op]


@dataclass(frozen=True, slots=True)
class Range:
    """Comparators that must all hold; ``text`` is what the operator wrote."""

    text: str
    comparators: tuple[Comparator, ...]

    def contains(self, version: Version, *, prereleases: bool = False) -> bool:
        """Whether ``version`` is in the range (pre-releases only when asked for)."""
        if version.is_prerelease and not prereleases:
            return False
        return all(c.holds(version) for c in self.comparators)


def parse_range(text: str, *, where: str) -> Range:
    """Parse ``>=1.4, <2``.

    Raises:
        InputError: empty, too long, an unknown operator, or a bound that is
            not a (partial) version; reason ``usage``.
    """

    def fail(why: str) -> InputError:
        return InputError(
            f"semver range {text[:60]!r}: {why}", where=where, reason=Reason.USAGE
        )

    if not text.strip() or len(text) > _MAX_TEXT:
        msg = "empty or too long"
        raise fail(msg)
    parts = text.split(",")
    if len(parts) > _MAX_COMPARATORS:
        msg = f"at most {_MAX_COMPARATORS} comparators"
        raise fail(msg)
    comparators = []
    for part in parts:
        match = _COMPARATOR.fullmatch(part)
        if match is None:
            msg = f"{part.strip()!r} is not OP VERSION (OP one of >= > <= < =)"
            raise fail(msg)
        op, bound = match.groups()
        version = _PARTIAL.fullmatch(bound)
        if version is None:
            msg = f"{bound!r} is not a version such as 1, 1.4 or 1.4.2"
            raise fail(msg)
        major, minor, patch, pre = version.groups()
        comparators.append(
            Comparator(
                "=" if op == "==" else op,
                Version(
                    int(major),
                    int(minor or 0),
                    int(patch or 0),
                    tuple(pre.split(".")) if pre else (),
                    bound,
                ),
            )
        )
    return Range(text, tuple(comparators))
