r"""The image-set file: which repositories, and which of their tags, ``export --set`` carries.

::

    version = 1

    [[images]]
    repository = "registry.example:5000/acme/app"
    tags = ["v1.2.3"]                  # exact tags
    digests = ["sha256:..."]           # exact digests
    regex = "^v1\\.[0-9]+$"            # RE2, searched (anchor it yourself)
    semver = ">=1.4, <2"               # a SemVer range (bundle_tools.semver)
    newest = 3                         # the newest N versions (of those the filters keep)
    all_tags = false                   # every tag
    prereleases = false                # let semver / newest count 1.5.0-rc.1
    platforms = ["linux/amd64"]        # default: every platform
    optional = false                   # matching nothing is an error unless true
    signatures_from = ["registry.example:5000/acme/signatures"]

The file is read and checked whole before any network access, as the
appliance's policy file is (:mod:`appliance.core.policyfile`, whose line
finder it shares): an unknown key, a wrong type, an empty list, a bad
pattern, range or reference is an input error naming ``FILE:LINE``.

How an entry selects (docs/image-sets.md): exact ``tags`` and ``digests``
are taken as named; the tag filters (``regex``, ``semver``, ``newest``)
narrow the registry's tag list one after the other, ``newest`` last;
``all_tags`` takes the whole list and cannot be combined with them. The
entry's selection is the union. An exact tag the registry does not list, or
filters that keep nothing, fail the export unless ``optional = true``.
Tags that are not SemVer 2.0.0 never pass ``semver`` or ``newest``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from appliance.core.archive.ledger import Match, Resolution
from appliance.core.archive.manifest import Platform
from appliance.core.archive.reference import Reference, parse_reference
from appliance.core.errors import InputError, Reason
from appliance.core.pattern import Pattern, compile_pattern
from appliance.core.policyfile import LineFinder, check_keys
from bundle_tools import semver

if TYPE_CHECKING:
    from collections.abc import Callable

SET_VERSION: Final = 1
MAX_SET_BYTES: Final = 4 * 1024 * 1024
MAX_ENTRIES: Final = 10_000
MAX_NEWEST: Final = 10_000
_TOP: Final = frozenset({"version", "images", "files"})
_FILE: Final = frozenset(
    {
        "name",
        "path",
        "url",
        "bundle",
        "signature",
        "checksums",
        "checksums_bundle",
        "checksums_signature",
    }
)
# A file's name is what `extract --files` writes: one plain component.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,254}")
_IMAGE: Final = frozenset(
    {
        "repository",
        "tags",
        "digests",
        "regex",
        "semver",
        "newest",
        "all_tags",
        "prereleases",
        "platforms",
        "optional",
        "signatures_from",
    }
)
_FILTERS: Final = ("regex", "semver", "newest")
_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")

_KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSpec:
    """One ``[[images]]`` entry, validated."""

    source: str  # FILE:LINE
    repository: Reference  # no tag, no digest
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()
    regex: Pattern | None = None
    semver: semver.Range | None = None
    newest: int | None = None
    all_tags: bool = False
    prereleases: bool = False
    platforms: tuple[Platform, ...] = ()
    optional: bool = False
    signatures_from: tuple[Reference, ...] = ()

    @property
    def lists_tags(self) -> bool:
        """Whether resolving needs the registry's tag list (only digests: no)."""
        return bool(self.tags) or self.all_tags or self.filtered

    @property
    def filtered(self) -> bool:
        """Whether any tag filter (``regex``, ``semver``, ``newest``) is given."""
        return (
            self.regex is not None or self.semver is not None or self.newest is not None
        )

    def filters(self) -> dict[str, Any]:
        """The entry's selection as written, for the ledger."""
        given: dict[str, Any] = {
            "tags": list(self.tags),
            "digests": list(self.digests),
            "regex": None if self.regex is None else self.regex.text,
            "semver": None if self.semver is None else self.semver.text,
            "newest": self.newest,
            "allTags": self.all_tags,
            "prereleases": self.prereleases,
            "platforms": [str(p) for p in self.platforms],
            "signaturesFrom": [r.name for r in self.signatures_from],
        }
        return {k: v for k, v in given.items() if v not in (None, [], False)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where a file, bundle, signature or checksum file is read: a local path or an https URL."""

    text: str  # as written (a path relative to the set file, or the URL)
    url: bool

    def __str__(self) -> str:
        """As written."""
        return self.text


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSpec:
    """One ``[[files]]`` entry, validated: the file and how it is signed."""

    source: str  # FILE:LINE
    name: str
    file: Location
    form: str  # bundle | key-signature | checksums
    signature: Location  # the bundle or signature (of the checksum file, for checksums)
    checksums: Location | None = None
    signature_form: str = "bundle"  # bundle | key-signature: how ``signature`` signs


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSet:
    """A parsed, validated image-set file."""

    source: str
    sha256: str
    images: tuple[ImageSpec, ...]
    files: tuple[FileSpec, ...] = ()

    @classmethod
    def from_toml(cls, data: bytes, *, source: str) -> ImageSet:  # noqa: C901 - each check named
        """Parse and validate an image-set file.

        Raises:
            InputError: not TOML, or anything the format does not allow,
                naming the line (reason ``usage``).
        """
        if len(data) > MAX_SET_BYTES:
            msg = f"over the {MAX_SET_BYTES}-byte limit for an image-set file"
            raise InputError(msg, where=source, reason=Reason.LIMIT_EXCEEDED)
        try:
            text = data.decode("utf-8")
            doc = tomllib.loads(text)
        except UnicodeDecodeError as exc:
            msg = "not UTF-8 text"
            raise InputError(msg, where=source) from exc
        except tomllib.TOMLDecodeError as exc:
            msg = f"not valid TOML ({exc})"
            raise InputError(msg, where=source, reason=Reason.USAGE) from exc
        lines = LineFinder(text, source)
        check_keys(doc, _TOP, lines, ())
        version = doc.get("version")
        if type(version) is not int or version != SET_VERSION:
            lines.fail(
                ("version",),
                f"version = {SET_VERSION} is required (got {str(version)[:20]})",
            )
        images = doc.get("images", [])
        files = doc.get("files", [])
        for key, value in (("images", images), ("files", files)):
            if not isinstance(value, list) or (key in doc and not value):
                lines.fail(
                    (key,), f"{key} must be a non-empty list of [[{key}]] tables"
                )
            if len(value) > MAX_ENTRIES:
                lines.fail((key,), f"at most {MAX_ENTRIES} [[{key}]] entries")
        if not images and not files:
            lines.fail(
                ("images",),
                "the set has no [[images]] and no [[files]]: it would carry nothing",
            )
        parsed = tuple(_file(raw, i, lines) for i, raw in enumerate(files))
        names = [f.name for f in parsed]
        for index, name in enumerate(names):
            if name in names[:index]:
                lines.fail(
                    ("files", index, "name"),
                    f"two [[files]] entries are named {name!r}",
                )
        return cls(
            source=source,
            sha256=hashlib.sha256(data).hexdigest(),
            images=tuple(_image(raw, i, lines) for i, raw in enumerate(images)),
            files=parsed,
        )


def _fail_type(lines: LineFinder, path: _KeyPath, what: str) -> None:
    lines.fail(path, f"{path[-1]} must be {what}")


def _strings(
    obj: dict[str, Any], key: str, lines: LineFinder, path: _KeyPath
) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v for v in value)
    ):
        _fail_type(lines, (*path, key), "a non-empty list of non-empty strings")
    if len(set(value)) != len(value):
        lines.fail((*path, key), f"{key} names the same value twice")
    return list(value)


def _flag(obj: dict[str, Any], key: str, lines: LineFinder, path: _KeyPath) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        _fail_type(lines, (*path, key), "true or false")
    return bool(value)


def _repository(text: str, lines: LineFinder, path: _KeyPath) -> Reference:
    last = text.rsplit("/", 1)[-1]
    if "@" in text or ":" in last:
        lines.fail(path, f"{path[-1]} names a repository, without tag or digest")
    try:
        ref = parse_reference(text)
    except InputError as exc:
        lines.fail(path, f"{path[-1]}: {exc.message}")
    return Reference(registry=ref.registry, repository=ref.repository)


def _image(raw: object, index: int, lines: LineFinder) -> ImageSpec:  # noqa: C901, PLR0912 - one check per key, each named
    path: _KeyPath = ("images", index)
    if not isinstance(raw, dict):
        lines.fail(path, "each [[images]] entry must be a table")
    entry: dict[str, Any] = raw  # checked just above
    check_keys(entry, _IMAGE, lines, path)
    where = f"{lines.source}:{lines.line(path)}"
    repository = entry.get("repository")
    if not isinstance(repository, str) or not repository:
        lines.fail((*path, "repository"), "each [[images]] entry needs a repository")
    repo = _repository(repository, lines, (*path, "repository"))
    tags = _strings(entry, "tags", lines, path)
    for tag in tags:
        if not _TAG.fullmatch(tag):
            lines.fail(
                (*path, "tags"), f"{tag[:40]!r} is not a tag (A-Z a-z 0-9 _ . -)"
            )
    digests = _strings(entry, "digests", lines, path)
    for digest in digests:
        if not _DIGEST.fullmatch(digest):
            lines.fail(
                (*path, "digests"), f"{digest[:80]!r} is not sha256:<64 lowercase hex>"
            )
    regex = entry.get("regex")
    pattern = None
    if regex is not None:
        if not isinstance(regex, str) or not regex:
            _fail_type(lines, (*path, "regex"), "a non-empty RE2 pattern")
        try:
            pattern = compile_pattern(regex, where=lines.source)
        except InputError as exc:
            lines.fail((*path, "regex"), exc.message)
    rng = entry.get("semver")
    version_range = None
    if rng is not None:
        if not isinstance(rng, str):
            _fail_type(lines, (*path, "semver"), 'a range such as ">=1.4, <2"')
        version_range = semver.parse_range(
            rng, where=f"{lines.source}:{lines.line((*path, 'semver'))}"
        )
    newest = entry.get("newest")
    if newest is not None and (
        isinstance(newest, bool)
        or not isinstance(newest, int)
        or not 1 <= newest <= MAX_NEWEST
    ):
        _fail_type(lines, (*path, "newest"), f"an integer from 1 to {MAX_NEWEST}")
    all_tags = _flag(entry, "all_tags", lines, path)
    if all_tags and any(entry.get(k) is not None for k in _FILTERS):
        lines.fail(
            (*path, "all_tags"),
            "all_tags takes every tag: it cannot be combined with regex, semver or newest",
        )
    if not (
        tags or digests or all_tags or any(entry.get(k) is not None for k in _FILTERS)
    ):
        lines.fail(
            path,
            "the entry selects nothing: give tags, digests, regex, semver, newest or all_tags",
        )
    platforms = []
    for text in _strings(entry, "platforms", lines, path):
        try:
            platforms.append(Platform.parse(text))
        except InputError:
            lines.fail(
                (*path, "platforms"),
                f"platform {text[:40]!r} is not OS/ARCH or OS/ARCH/VARIANT",
            )
    signatures_from = tuple(
        _repository(r, lines, (*path, "signatures_from"))
        for r in _strings(entry, "signatures_from", lines, path)
    )
    return ImageSpec(
        source=where,
        repository=repo,
        tags=tuple(tags),
        digests=tuple(digests),
        regex=pattern,
        semver=version_range,
        newest=newest,
        all_tags=all_tags,
        prereleases=_flag(entry, "prereleases", lines, path),
        platforms=tuple(platforms),
        optional=_flag(entry, "optional", lines, path),
        signatures_from=signatures_from,
    )


def _location(
    entry: dict[str, Any], key: str, lines: LineFinder, path: _KeyPath
) -> Location | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 4096:  # noqa: PLR2004
        _fail_type(lines, (*path, key), "a non-empty path or https:// URL")
    if "://" in value and not value.startswith("https://"):
        lines.fail(
            (*path, key), f"{key} must be a local path or an https:// URL (TLS only)"
        )
    return Location(text=value, url=value.startswith("https://"))


def _one(
    entry: dict[str, Any], keys: tuple[str, ...], lines: LineFinder, path: _KeyPath
) -> str:
    given = [k for k in keys if entry.get(k) is not None]
    if len(given) != 1:
        lines.fail(
            path,
            f"a [[files]] entry needs exactly one of {', '.join(keys)}"
            + (f" (got {', '.join(given)})" if given else ""),
        )
    return given[0]


def _file(raw: object, index: int, lines: LineFinder) -> FileSpec:
    path: _KeyPath = ("files", index)
    if not isinstance(raw, dict):
        lines.fail(path, "each [[files]] entry must be a table")
    entry: dict[str, Any] = raw  # checked just above
    check_keys(entry, _FILE, lines, path)
    where = f"{lines.source}:{lines.line(path)}"
    locations = {k: _location(entry, k, lines, path) for k in sorted(_FILE - {"name"})}
    file = locations[_one(entry, ("path", "url"), lines, path)]
    form = _one(entry, ("bundle", "signature", "checksums"), lines, path)
    name = entry.get("name")
    if name is None:
        name = file.text.rstrip("/").rsplit("/", 1)[-1] if file is not None else ""
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        lines.fail(
            (*path, "name"),
            f"the file name {str(name)[:60]!r} must be one plain component "
            "(A-Z a-z 0-9 . _ + -, not starting with a dot): give name = ...",
        )
    signature_form = "bundle"
    checksums = None
    if form == "checksums":
        signed_by = _one(
            entry, ("checksums_bundle", "checksums_signature"), lines, path
        )
        signature_form = (
            "bundle" if signed_by == "checksums_bundle" else "key-signature"
        )
        checksums, signature = locations["checksums"], locations[signed_by]
    else:
        for key in ("checksums_bundle", "checksums_signature"):
            if entry.get(key) is not None:
                lines.fail((*path, key), f"{key} signs a checksum file: give checksums")
        signature = locations[form]
        signature_form = form if form == "bundle" else "key-signature"
    assert file is not None  # noqa: S101 - _one chose a key that is present
    assert signature is not None  # noqa: S101 - likewise
    return FileSpec(
        source=where,
        name=name,
        file=file,
        form="key-signature" if form == "signature" else form,
        signature=signature,
        checksums=checksums,
        signature_form=signature_form,
    )


# -- selection (pure: the listing in, matches out) ---------------------------------


def select(spec: ImageSpec, listed: list[str] | None) -> Resolution:
    """What ``spec`` selects from the registry's tag list ``listed``, and why.

    ``listed`` is None when the entry names only digests (nothing listed).

    Raises:
        InputError: an exact tag the registry does not list, or filters that
            keep nothing, unless the entry is optional (reason
            ``nothing-matched``).
    """
    tags = sorted(set(listed or ()))
    why: dict[str, list[str]] = {}
    missing = [t for t in spec.tags if t not in set(tags)]
    for tag in spec.tags:
        if tag not in missing:
            why.setdefault(tag, []).append("tags")
    if spec.all_tags:
        for tag in tags:
            why.setdefault(tag, []).append("all_tags")
    kept = _filtered(spec, tags) if spec.filtered else {}
    for tag, reasons in kept.items():
        why.setdefault(tag, []).extend(reasons)
    matched = [Match(target=t, why="; ".join(why[t])) for t in sorted(why)]
    matched += [Match(target=d, why="digests") for d in spec.digests]
    problems = []
    if missing:
        problems.append(
            f"the registry lists no tag {', '.join(repr(t) for t in missing)}"
        )
    if (spec.filtered or spec.all_tags) and not (kept or (spec.all_tags and tags)):
        problems.append(
            f"the filters ({_describe(spec)}) match none of the {len(tags)} tags listed"
        )
    if problems and not spec.optional:
        msg = (
            f"{spec.repository.name}: {'; '.join(problems)} "
            "(set optional = true if that may happen)"
        )
        raise InputError(msg, where=spec.source, reason=Reason.NOTHING_MATCHED)
    return Resolution(
        source=spec.source,
        repository=spec.repository.name,
        filters=spec.filters(),
        listed=None if listed is None else tuple(tags),
        matched=tuple(matched),
        optional=spec.optional,
    )


def _describe(spec: ImageSpec) -> str:
    parts = []
    if spec.regex is not None:
        parts.append(f"regex {spec.regex.text}")
    if spec.semver is not None:
        parts.append(f"semver {spec.semver.text}")
    if spec.newest is not None:
        parts.append(f"newest {spec.newest}")
    if spec.all_tags:
        parts.append("all_tags")
    return ", ".join(parts)


def _filtered(spec: ImageSpec, tags: list[str]) -> dict[str, list[str]]:
    """The tags ``regex``, ``semver`` and ``newest`` keep, in that order, and why."""
    why: dict[str, list[str]] = {t: [] for t in tags}
    if spec.regex is not None:
        regex = spec.regex
        why = {
            t: [*r, f"regex {regex.text}"] for t, r in why.items() if regex.search(t)
        }
    if spec.semver is None and spec.newest is None:
        return why
    # Only SemVer 2.0.0 tags (pre-releases when asked for) go on.
    versions = {
        t: v
        for t in why
        if (v := semver.parse_version(t)) is not None
        and (spec.prereleases or not v.is_prerelease)
    }
    why = {t: r for t, r in why.items() if t in versions}
    if spec.semver is not None:
        rng = spec.semver
        why = {
            t: [*r, f"semver {rng.text}"]
            for t, r in why.items()
            if rng.contains(versions[t], prereleases=spec.prereleases)
        }
    if spec.newest is not None:
        ranked = sorted(why, key=versions.__getitem__, reverse=True)[: spec.newest]
        why = {
            t: [*why[t], f"newest {spec.newest} (#{n})"]
            for n, t in enumerate(ranked, 1)
        }
    return why


# -- resolution (the registry's tag list) ------------------------------------------


def resolve(
    image_set: ImageSet, list_tags: Callable[[Reference], list[str]]
) -> list[Resolution]:
    """Each entry of ``image_set`` resolved against the tags ``list_tags`` returns.

    Raises:
        InputError: an entry matches nothing and is not optional; the
            registry failed.
    """
    return [
        select(spec, list_tags(spec.repository) if spec.lists_tags else None)
        for spec in image_set.images
    ]


def references(
    image_set: ImageSet, resolved: list[Resolution]
) -> list[tuple[str, Reference, ImageSpec]]:
    """The references the resolution names, as asked (``repo:tag``, ``repo@digest``)."""
    found = []
    for spec, resolution in zip(image_set.images, resolved, strict=True):
        for match in resolution.matched:
            ref = (
                spec.repository.at(match.target)
                if match.target.startswith("sha256:")
                else spec.repository.with_tag(match.target)
            )
            found.append((str(ref), ref, spec))
    return found
