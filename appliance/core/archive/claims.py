"""Which images an archive says it carries, under which names: unsigned claims, cross-checked.

Nothing signs the export ledger or ``index.json``: whoever handles the media
can edit either. So neither alone decides anything. An image is *claimed*
only when both say the same thing: an ``index.json`` entry of kind ``image``
(its digest, ``org.opencontainers.image.ref.name`` as asked and
``dev.airlock.reference`` as resolved) and exactly one ledger image with the
same three. Any disagreement (an entry only one of them lists, a name twice,
a size or type the manifest's own bytes contradict) is an archive problem,
and an archive with a problem passes nothing: unsigned data can only add
failures.

A claimed name must be a reference in the distribution grammar
(:mod:`.reference`), written in its normal form; otherwise that image is
refused before any policy is consulted, so no malformed repository or tag
can reach a registry or a layout. Which policy rule judges the image is then
decided by this name: a name is only ever used for an image whose rule for
that name passed.

Platforms come from the image index's own bytes (its digest is the one
judged), never from the ledger: the ledger's platform list is accounting
only, and must agree with the index (what it says was left out must be what
is absent, and nothing else).

Pure: contents and the ledger in, claims and problems out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core.archive import media
from appliance.core.archive.layout import Kind
from appliance.core.archive.manifest import ImageIndex
from appliance.core.archive.reference import parse_reference
from appliance.core.errors import InputError

if TYPE_CHECKING:
    from appliance.core.archive.intake import Contents
    from appliance.core.archive.ledger import ImageEntry, Ledger
    from appliance.core.archive.manifest import Descriptor, Platform
    from appliance.core.archive.reference import Reference

# How deep nested indexes are walked for platforms (the exporter flattens
# the same way; real images nest at most once).
_MAX_INDEX_DEPTH = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformClaim:
    """One manifest an image index lists: its platform, and whether it is carried."""

    platform: str  # ``os/arch[/variant]`` as the index says, "unknown" if none
    parsed: Platform | None
    digest: str
    carried: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """One image the archive claims: a name (unsigned) and the digest to judge under it."""

    asked: str  # free text, as the exporter was asked (shown, never used)
    reference: str  # the name judged: ``registry/repository:tag`` or ``@digest``
    name: Reference | None  # parsed; None when the name is refused
    digest: str
    platforms: tuple[PlatformClaim, ...]
    entry: ImageEntry | None  # the ledger's account (candidates for evidence)
    invalid: str | None = None  # why the name is refused, if it is

    @property
    def repository(self) -> str:
        """``registry/repository`` (what a rule matches and a legacy payload names)."""
        return "" if self.name is None else self.name.name

    @property
    def tag(self) -> str | None:
        """The tag the name carries, if any."""
        return None if self.name is None else self.name.tag


def canonical(ref: Reference) -> str:
    """A reference as the exporter writes it: ``name:tag``, or ``name@digest``."""
    return f"{ref.name}:{ref.tag}" if ref.tag else f"{ref.name}@{ref.digest}"


def _platforms(contents: Contents, digest: str) -> tuple[PlatformClaim, ...]:
    """Every manifest the index at ``digest`` lists (nested indexes walked), in order."""
    found: list[PlatformClaim] = []
    pending: list[tuple[Descriptor, int]] = []
    top = contents.manifests.get(digest)
    if isinstance(top, ImageIndex):
        pending = [(d, 1) for d in top.manifests]
    seen = {digest}
    while pending:
        desc, depth = pending.pop(0)
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        found.append(
            PlatformClaim(
                platform=str(desc.platform) if desc.platform else "unknown",
                parsed=desc.platform,
                digest=desc.digest,
                carried=desc.digest in contents.manifests,
            )
        )
        child = contents.manifests.get(desc.digest)
        if isinstance(child, ImageIndex) and depth < _MAX_INDEX_DEPTH:
            pending += [(d, depth + 1) for d in child.manifests]
    return tuple(found)


def _name(text: str, digest: str) -> tuple[Reference | None, str | None]:
    """The parsed name, or why it is refused."""
    try:
        ref = parse_reference(text)
    except InputError as exc:
        return None, f"the archive names it {text[:200]!r}, which is {exc}"
    if canonical(ref) != text:
        return None, f"the archive names it {text[:200]!r}, not in normal form"
    if ref.digest is not None and ref.digest != digest:
        return None, f"its name {text[:200]!r} names another digest"
    return ref, None


def _ledger_platforms(claim: Claim, entry: ImageEntry) -> list[str]:
    """Where the ledger's platform list and the index's own disagree."""
    listed = {p.digest: p for p in entry.platforms}
    own = {p.digest: p for p in claim.platforms}
    problems = [
        f"the ledger lists platform {p.platform} ({d}) of {claim.reference}, which its index does not"
        for d, p in listed.items()
        if d not in own
    ]
    problems += [
        f"the index of {claim.reference} lists {p.platform} ({d}), which the ledger does not"
        for d, p in own.items()
        if d not in listed
    ]
    problems += [
        f"the ledger says platform {listed[d].platform} of {claim.reference} was "
        f"{'carried' if listed[d].included else 'left out'}, but it is "
        f"{'carried' if p.carried else 'absent'}"
        for d, p in own.items()
        if d in listed and listed[d].included != p.carried
    ]
    return problems


def read_claims(contents: Contents, ledger: Ledger) -> tuple[list[Claim], list[str]]:
    """The images both ``index.json`` and the ledger claim, and every disagreement.

    Returns:
        The claims in ``index.json``'s order, and the archive problems found
        (each one refuses every image: the caller's rule).
    """
    problems: list[str] = []
    # The ledger's images by what an index.json entry must match, in ledger
    # order; each is matched at most once. (A scan of every unmatched image
    # per entry took 5.8 s at 10,000 images: quadratic.)
    listed: dict[tuple[str, str, str], list[int]] = {}
    for n, image in enumerate(ledger.images):
        listed.setdefault((image.asked, image.reference, image.digest), []).append(n)
    matched: set[int] = set()
    claims: list[Claim] = []
    seen: set[str] = set()
    for position, entry in enumerate(contents.index.manifests):
        if entry.annotations.get(media.KIND) != Kind.IMAGE:
            continue
        asked = entry.annotations.get(media.REF_NAME)
        reference = entry.annotations.get(media.REFERENCE)
        where = f"index.json entry {position} ({entry.digest})"
        if not asked or not reference:
            problems.append(f"{where} names no reference")
            continue
        if reference in seen:
            # Even for another digest: one name, one digest (else the last
            # pushed would win a tag).
            problems.append(f"{where} claims {reference[:200]} a second time")
            continue
        seen.add(reference)
        same = [
            n
            for n in listed.get((asked, reference, entry.digest), ())
            if n not in matched
        ]
        if len(same) != 1:
            problems.append(
                f"{where} claims {reference}, which the ledger does not list as such"
            )
        ledger_entry = ledger.images[same[0]] if same else None
        matched.update(same[:1])
        name, invalid = _name(reference, entry.digest)
        claim = Claim(
            asked=asked,
            reference=reference,
            name=name,
            digest=entry.digest,
            platforms=_platforms(contents, entry.digest),
            entry=ledger_entry,
            invalid=invalid,
        )
        repository = entry.annotations.get(media.REPOSITORY)
        if name is not None and repository is not None and repository != name.name:
            problems.append(
                f"{where} says repository {repository[:200]}, but its reference names {name.name}"
            )
        if ledger_entry is not None:
            problems += _ledger_platforms(claim, ledger_entry)
            data = contents.documents.get(entry.digest)
            if data is not None and ledger_entry.size != len(data):
                problems.append(
                    f"the ledger says {reference} is {ledger_entry.size} bytes; its manifest is {len(data)}"
                )
        claims.append(claim)
    problems += [
        f"the ledger lists image {i.asked} ({i.digest}), which index.json does not"
        for n, i in enumerate(ledger.images)
        if n not in matched
    ]
    return claims, problems
