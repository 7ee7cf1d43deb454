"""Every single edit an adversary can make to an archive's unsigned parts.

The export ledger and ``index.json`` (with its annotations) are signed by
nobody: whoever handles the media can change them and re-file every digest
consistently. :func:`single_edits` walks both documents of a real archive,
entry by entry and field by field, and lists:

* every entry dropped and duplicated (images, platforms, related artifacts,
  ``index.json`` entries...);
* every field edited once: dropped, or given another value by what it holds
  (a digest re-pointed to another of the archive's, a repository or tag
  renamed, a boolean flipped, a kind, ``found`` string, size or media type
  changed), the options taken in turn across the fields of one name so that
  each is used; the ledger's ``reference`` of each image (the name it is
  judged and pushed under) and each platform's ``included`` get every option;
* additions: an image entry naming a signed digest under a new name, a
  carried manifest filed as a signature, SBOM or referrer of an image that
  passed, an ``omittedAsHeld``, a ``delta``, a platform.

Bookkeeping lists (``contents``, ``omittedAsHeld``, ``evidence``) are edited
through one entry per role (or form and signer): the appliance reads each
entry of them alike, and the world's 80 blobs would otherwise be most of
the list.

Renames draw on :class:`Names`: a repository of the archive that passed, one
refused, one a signed payload names (how a signature made for another
repository is passed off), one no rule covers, and invalid names.
:func:`apply_edits` files edits into an extracted layout as the adversary
would (:class:`~tests.helpers.layout_edit.Layout`). Nothing here judges:
the property is in ``gate_facts`` and the test.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from tests.helpers.layout_edit import Layout

Path = tuple[str | int, ...]
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
RELATED_KINDS = ("signature", "attestation", "sbom", "referrer", "referrers-index")
TRUST_KINDS = ("tuf-capsule", "trusted-root", "none")
REF_NAME = "org.opencontainers.image.ref.name"

# Classes of edit, for grouping a report (one per kind of edit the issue names).
DROP_FIELD = "drop field"
DROP_ENTRY = "drop entry"
DUPLICATE = "duplicate entry"
REPOINT = "re-point digest"
RENAME = "rename repository/tag"
FOUND = "change found"
FLIP = "flip boolean"
KIND = "change kind"
SIZE = "change size"
MEDIA_TYPE = "change media type"
VALUE = "change value"
ADD_IMAGE = "add image entry"
ADD_RELATED = "add related artifact"
ADD_HELD = "add omittedAsHeld"
ADD_DELTA = "add delta"
ADD_PLATFORM = "add platform"
ADD_ANNOTATION = "add annotation"

# Every option on each: the name an image is judged and pushed under, and
# whether a platform was carried (dropped or flipped, each loosens a policy
# differently).
_EVERY_OPTION = frozenset({"reference", "included"})
# Bookkeeping lists, and what tells their entries apart.
_BOOKKEEPING = {
    "contents": ("role",),
    "omittedAsHeld": ("role",),
    "evidence": ("form", "signer"),
}


@dataclass(frozen=True, slots=True, eq=False)
class Edit:
    """One edit of one field or entry of the ledger (``ledger``) or ``index.json`` (``index``)."""

    doc: str  # ledger | index
    cls: str  # the class of edit (DROP_FIELD, REPOINT, ...)
    op: str  # drop | duplicate | set | append
    path: Path
    value: Any = None

    @property
    def key(self) -> tuple[str, str, Path, str]:
        """What makes two edits the same edit (the value as canonical JSON)."""
        return (self.doc, self.op, self.path, json.dumps(self.value, sort_keys=True))

    def describe(self) -> str:
        """``ledger set images[0].reference = "..."``: where, and what (digests shortened)."""
        where = _path_text(self.path)
        if self.op in ("drop", "duplicate"):
            return f"{self.doc} {self.op} {where}"
        return f"{self.doc} {self.op} {where} = {_brief(self.value)}"

    def apply(self, doc: Any) -> bool:
        """Apply to ``doc`` in place; False if an earlier edit took the path away."""
        try:
            parent = doc
            for key in self.path[:-1]:
                parent = parent[key]
            last = self.path[-1]
            if self.op == "drop":
                del parent[last]
            elif self.op == "duplicate":
                parent.insert(int(last) + 1, copy.deepcopy(parent[last]))
            elif self.op == "append":
                parent[last].append(copy.deepcopy(self.value))
            elif isinstance(parent, list) and not 0 <= int(last) < len(parent):
                return False
            else:
                parent[last] = copy.deepcopy(self.value)
        except (KeyError, IndexError, TypeError, AttributeError):
            return False
        return True

    def with_value(self, value: Any) -> Edit:
        """The same edit with another value."""
        return Edit(self.doc, self.cls, self.op, self.path, value)


# What tells an added entry apart, in the order a reader wants it.
_TELLING = (
    "asked",
    "reference",
    "kind",
    "dev.airlock.kind",
    "digest",
    "subject",
    "dev.airlock.subject",
    "repository",
    "dev.airlock.repository",
    REF_NAME,
    "found",
    "platform",
    "included",
    "inventory",
)


def _brief(value: Any) -> str:
    """A value as JSON, an added entry by the fields that tell it apart (digests shortened)."""
    if isinstance(value, dict):
        flat = {**value, **value.get("annotations", {})}
        shown = {k: flat[k] for k in _TELLING if k in flat}
        value = shown or value
    text = json.dumps(value, sort_keys=False)
    text = re.sub(r"sha256:([0-9a-f]{12})[0-9a-f]{52}", r"sha256:\1", text)
    return text if len(text) <= 400 else text[:397] + "..."


def _path_text(path: Path) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text or "(root)"


def _walk(doc: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every node below the root, with its path, parents first."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*path, key), value
            yield from _walk(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield (*path, i), value
            yield from _walk(value, (*path, i))


def split_reference(reference: str) -> tuple[str, str, str]:
    """``(repository, ':' or '@' or '', tag or digest)`` of a reference."""
    if "@" in reference:
        repo, _, digest = reference.partition("@")
        return repo, "@", digest
    head, sep, tag = reference.rpartition(":")
    if sep and "/" not in tag:
        return head, ":", tag
    return reference, "", ""


# -- where the values come from ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Names:
    """What the edits draw their values from: the archive's own, and the policy's classes.

    ``passed`` and ``refused`` are the image digests the unedited archive
    passed and refused under the test's policy; repositories are
    ``registry/repository`` (no tag); ``signed`` are repositories the
    archive's signed payloads name that no image of it has.
    """

    host: str
    passed: tuple[str, ...]
    refused: tuple[str, ...]
    manifests: tuple[str, ...]  # images, platforms and related artifacts
    passed_repositories: tuple[str, ...]
    refused_repositories: tuple[str, ...]
    signed: tuple[str, ...]
    uncovered: str  # a repository no rule of the policy covers

    def digests_for(self, current: str) -> list[str]:
        """An image digest that passed, one refused, another manifest (none ``current``)."""
        pools = (self.passed, self.refused, tuple(reversed(self.manifests)))
        chosen = [next((d for d in pool if d != current), None) for pool in pools]
        return list(dict.fromkeys(d for d in chosen if d is not None))

    def repositories_for(self, current: str) -> list[str]:
        """A repository that passed, one refused, one signed for, one uncovered, two invalid."""
        pools = (self.passed_repositories, self.refused_repositories, self.signed)
        others = [next((r for r in pool if r != current), None) for pool in pools]
        return [
            *dict.fromkeys(r for r in others if r is not None),
            self.uncovered,
            f"{self.host}/Verify/UPPER case",  # not a repository path
            f"{self.host}/verify/../{current.rsplit('/', 1)[-1]}",  # a traversal
        ]

    def references_for(self, current: str) -> list[str]:
        """``current`` under another tag, in another repository, or invalid."""
        repo, sep, tail = split_reference(current)
        return [
            f"{repo}:fuzzed",  # a tag nobody exported
            f"{repo}:v1" if tail != "v1" else f"{repo}:v2",  # a tag the archive knows
            *(f"{r}{sep}{tail}" for r in self.repositories_for(repo)),
            f"{repo}:bad tag!",  # not a tag
        ]


def signed_repositories(layout: Layout) -> list[str]:
    """The repositories the layout's cosign payloads name (``critical.identity.docker-reference``)."""
    found = []
    for blob in sorted((layout.root / "blobs" / "sha256").iterdir()):
        if blob.stat().st_size > 64 * 1024:
            continue  # a layer, not a payload
        try:
            named = json.loads(blob.read_bytes())["critical"]["identity"]
            found.append(str(named["docker-reference"]))
        except (ValueError, KeyError, TypeError):
            continue
    return list(dict.fromkeys(found))


def names_of(
    ledger: dict[str, Any],
    index: dict[str, Any],
    *,
    passed: set[tuple[str, str]],
    signed: Sequence[str],
    uncovered: str,
) -> Names:
    """The :class:`Names` of one archive; ``passed``: the (reference, digest) that passed unedited.

    Judged by reference: a digest shared by a passed and a refused reference
    is among the passed digests, and its refused reference's repository
    among the refused repositories.
    """
    images = ledger["images"]
    manifests = [e["digest"] for e in index["manifests"]]
    manifests += [p["digest"] for i in images for p in i["platforms"]]
    manifests += [r["digest"] for i in images for r in i["related"]]
    ok = [(i["reference"], i["digest"]) in passed for i in images]
    good = dict.fromkeys(i["digest"] for i, y in zip(images, ok, strict=True) if y)
    bad = dict.fromkeys(
        i["digest"]
        for i, y in zip(images, ok, strict=True)
        if not y and i["digest"] not in good
    )
    repositories = [split_reference(i["reference"])[0] for i in images]
    return Names(
        host=images[0]["reference"].split("/", 1)[0],
        passed=tuple(good),
        refused=tuple(bad),
        manifests=tuple(dict.fromkeys(manifests)),
        passed_repositories=tuple(
            dict.fromkeys(r for r, y in zip(repositories, ok, strict=True) if y)
        ),
        refused_repositories=tuple(
            dict.fromkeys(r for r, y in zip(repositories, ok, strict=True) if not y)
        ),
        signed=tuple(s for s in signed if s not in repositories),
        uncovered=uncovered,
    )


# -- one field, one entry -------------------------------------------------------------


def _values(name: str, value: Any, names: Names) -> list[tuple[str, Any]]:  # noqa: C901, PLR0911, PLR0912 - one table of field kinds
    """``(class, new value)`` for one field, by what it holds."""
    if isinstance(value, bool):
        return [(FLIP, not value)]
    if isinstance(value, int):
        return [(SIZE if name == "size" else VALUE, value + 1)]
    if isinstance(value, str) and DIGEST.fullmatch(value):
        return [(REPOINT, d) for d in names.digests_for(value)]
    if name in ("asked", "reference", REF_NAME, "dev.airlock.reference"):
        return [(RENAME, r) for r in names.references_for(value) if r != value]
    if name in ("repository", "dev.airlock.repository"):
        return [(RENAME, r) for r in names.repositories_for(value) if r != value]
    if name == "found":
        options = ("tag v1", "referrers API", "tag ../../v1")
        return [(FOUND, f) for f in options if f != value]
    if name == "kind":
        kinds = RELATED_KINDS if value in RELATED_KINDS else TRUST_KINDS
        return [(KIND, k) for k in kinds if k != value]
    if name == "dev.airlock.kind":
        # A second ledger or trust entry is refused outright: not offered.
        return [(KIND, k) for k in ("image", *RELATED_KINDS) if k != value]
    if name == "mediaType":
        return [(MEDIA_TYPE, OCI_INDEX if value == OCI_MANIFEST else OCI_MANIFEST)]
    if name == "artifactType":
        return [(MEDIA_TYPE, BUNDLE if value is None else None)]
    if name == "platform" and isinstance(value, str):
        return [(VALUE, "linux/arm64/v8" if value == "linux/amd64" else "linux/amd64")]
    if isinstance(value, str) or value is None:
        return [(VALUE, "fuzzed" if value != "fuzzed" else None)]
    if isinstance(value, list) and not value:
        return [(VALUE, ["fuzzed"])]
    return []


def _skipped(doc: dict[str, Any]) -> set[Path]:
    """Bookkeeping entries left alone (another of their role, or form and signer, is edited)."""
    skipped: set[Path] = set()
    seen: set[tuple[Path, tuple[Any, ...]]] = set()
    for path, value in _walk(doc):
        if (
            len(path) < 2
            or not isinstance(path[-1], int)
            or not isinstance(value, dict)
        ):
            continue
        keys = _BOOKKEEPING.get(str(path[-2]))
        if keys is None:
            continue
        shape = (
            tuple(k for k in path if isinstance(k, str)),
            tuple(value.get(k) for k in keys),
        )
        if shape in seen:
            skipped.add(path)
        seen.add(shape)
    return skipped


def _field_edits(doc_name: str, doc: dict[str, Any], names: Names) -> list[Edit]:
    """Drop and duplicate every entry of ``doc``; edit each of its fields (once, or every way)."""
    edits: list[Edit] = []
    turn: dict[str, int] = {}
    skipped = _skipped(doc)
    for path, value in _walk(doc):
        if path in (("ledgerVersion",), ("schemaVersion",)):
            continue  # a version the reader refuses outright: an input error, not an edit
        if any(path[: len(s)] == s for s in skipped):
            continue
        if isinstance(path[-1], int):
            edits.append(Edit(doc_name, DROP_ENTRY, "drop", path))
            edits.append(Edit(doc_name, DUPLICATE, "duplicate", path))
            if not isinstance(value, str):
                continue  # an entry: its fields are walked themselves
        name = next((k for k in reversed(path) if isinstance(k, str)), "")
        options = [("drop", DROP_FIELD, None)] if isinstance(path[-1], str) else []
        options += [("set", cls, v) for cls, v in _values(name, value, names)]
        take = len(options) if name in _EVERY_OPTION else min(len(options), 1)
        start = turn.get(name, 0)
        turn[name] = start + take
        for k in range(take):
            op, cls, new = options[(start + k) % len(options)]
            edits.append(Edit(doc_name, cls, op, path, new))
    return edits


# -- additions ---------------------------------------------------------------------------


def _found_for(kind: str, subject: str) -> str:
    """How the exporter says it found an artifact of ``kind`` about ``subject``."""
    hexa = subject.removeprefix("sha256:")
    suffix = {"signature": ".sig", "attestation": ".att", "sbom": ".sbom"}.get(kind)
    return f"tag sha256-{hexa}{suffix}" if suffix else f"referrers tag sha256-{hexa}"


def _kind(own: str, turn: int) -> str:
    """What to file a carried manifest as: its own kind, or (in turn) signature, SBOM, referrer."""
    options = list(dict.fromkeys((own, "signature", "sbom", "referrer")))
    return options[turn % len(options)]


def _ledger_images(images: list[dict[str, Any]], names: Names) -> list[Edit]:
    """An image entry naming a signed digest under a new name (two names each, in turn)."""
    edits = []
    for n, image in enumerate(images):
        options = names.references_for(image["reference"])
        for k in (2 * n, 2 * n + 1):
            reference = options[k % len(options)]
            extra = copy.deepcopy(image) | {"asked": reference, "reference": reference}
            edits.append(Edit("ledger", ADD_IMAGE, "append", ("images",), extra))
    return edits


def _ledger_related(images: list[dict[str, Any]], names: Names) -> list[Edit]:
    """Each carried manifest filed as something about an image that passed (kinds in turn)."""
    edits = []
    related = {r["digest"]: r for i in images for r in i["related"]}
    for n, image in enumerate(images):
        if image["digest"] not in names.passed:
            continue
        repository = split_reference(image["reference"])[0]
        own = {r["digest"] for r in image["related"]}
        for turn, found in enumerate(r for d, r in related.items() if d not in own):
            kind = _kind(found["kind"], turn + n)
            extra = copy.deepcopy(found) | {
                "kind": kind,
                "subject": image["digest"],
                "repository": repository,
                "found": _found_for(kind, image["digest"]),
            }
            where = ("images", n, "related")
            edits.append(Edit("ledger", ADD_RELATED, "append", where, extra))
    return edits


def _ledger_platforms(images: list[dict[str, Any]], names: Names) -> list[Edit]:
    """Another index's platform in an index that passed, said to be carried, or left out."""
    edits = []
    for n, image in enumerate(images):
        theirs = [p["digest"] for i in images if i is not image for p in i["platforms"]]
        if image["digest"] not in names.passed or not image["platforms"] or not theirs:
            continue
        for included in (True, False):
            platform = {
                "platform": "linux/amd64",
                "digest": theirs[0],
                "included": included,
                "reason": None,
            }
            where = ("images", n, "platforms")
            edits.append(Edit("ledger", ADD_PLATFORM, "append", where, platform))
    edits.append(
        Edit("ledger", ADD_PLATFORM, "append", ("platforms",), "linux/arm64/v8")
    )
    return edits


def _ledger_held(ledger: dict[str, Any]) -> list[Edit]:
    """Left out as held (a carried layer, a platform, a blob nobody has), and a delta."""
    sizes = {c["digest"]: c["size"] for c in ledger["contents"]}
    layer = next(
        (c["digest"] for c in ledger["contents"] if c["role"] == "layer"), None
    )
    platform = next(
        (p["digest"] for i in ledger["images"] for p in i["platforms"]), None
    )
    edits = [
        Edit(
            "ledger",
            ADD_HELD,
            "append",
            ("omittedAsHeld",),
            {"digest": digest, "size": sizes.get(digest, 1), "role": "layer"},
        )
        for digest in (layer, platform, "sha256:" + "0" * 64)
        if digest is not None
    ]
    delta = {
        "inventory": "sha256:" + "1" * 64,
        "appliance": "fuzzed",
        "inventoryCreated": "2026-09-20T00:00:00Z",
    }
    edits.append(Edit("ledger", ADD_DELTA, "set", ("delta",), delta))
    return edits


def _index_additions(index: dict[str, Any], names: Names) -> list[Edit]:
    edits: list[Edit] = []
    entries = index["manifests"]
    turn = 0
    for n, entry in enumerate(entries):
        annotations = entry.get("annotations", {})
        # An image entry naming a signed digest under a new name (two names each, in turn).
        if annotations.get("dev.airlock.kind") == "image":
            options = names.references_for(annotations.get(REF_NAME, ""))
            for _ in range(2):
                turn += 1
                renamed = options[turn % len(options)]
                extra = copy.deepcopy(entry)
                extra["annotations"] |= {
                    REF_NAME: renamed,
                    "dev.airlock.reference": renamed,
                    "dev.airlock.repository": split_reference(renamed)[0],
                }
                edits.append(Edit("index", ADD_IMAGE, "append", ("manifests",), extra))
        # A subject, or a name (a verified image's tag), where the entry had none.
        added = {
            "dev.airlock.subject": next(iter(names.passed), None),
            REF_NAME: next((f"{r}:v1" for r in names.passed_repositories), None),
        }
        for key, value in added.items():
            if key not in annotations and value is not None:
                where = ("manifests", n, "annotations", key)
                edits.append(Edit("index", ADD_ANNOTATION, "set", where, value))
    # Each carried artifact filed (once more) as something about an image that passed.
    carried = [
        e
        for e in entries
        if e.get("annotations", {}).get("dev.airlock.kind") in RELATED_KINDS
    ]
    for subject in names.passed:
        image: dict[str, Any] = next((e for e in entries if e["digest"] == subject), {})
        repository = image.get("annotations", {}).get("dev.airlock.repository", "")
        for entry in carried:
            if entry["annotations"].get("dev.airlock.subject") == subject:
                continue
            turn += 1
            kind = _kind(entry["annotations"]["dev.airlock.kind"], turn)
            tag = _found_for(kind, subject).rsplit(" ", 1)[-1]
            extra = copy.deepcopy(entry)
            extra["annotations"] = {
                "dev.airlock.kind": kind,
                "dev.airlock.subject": subject,
                "dev.airlock.repository": repository,
                REF_NAME: f"{repository}:{tag}",
            }
            edits.append(Edit("index", ADD_RELATED, "append", ("manifests",), extra))
    return edits


def single_edits(
    ledger: dict[str, Any], index: dict[str, Any], names: Names
) -> list[Edit]:
    """Every single edit of the ledger and ``index.json``, in a fixed order, once each."""
    edits = [
        *_field_edits("ledger", ledger, names),
        *_ledger_images(ledger["images"], names),
        *_ledger_related(ledger["images"], names),
        *_ledger_platforms(ledger["images"], names),
        *_ledger_held(ledger),
        *_field_edits("index", index, names),
        *_index_additions(index, names),
    ]
    unique: dict[tuple[str, str, Path, str], Edit] = {}
    for edit in edits:
        unique.setdefault(edit.key, edit)
    return list(unique.values())


def combinations(
    edits: Sequence[Edit], *, count: int, seed: int, most: int = 4
) -> list[tuple[Edit, ...]]:
    """``count`` seeded combinations of two to ``most`` edits each."""
    rng = random.Random(seed)
    return [tuple(rng.sample(list(edits), rng.randint(2, most))) for _ in range(count)]


# -- filing edits into a layout -----------------------------------------------------------

# What re-filing meets when an edit took the ledger's entry apart: it is then left as is.
_UNREADABLE = (KeyError, IndexError, StopIteration, TypeError, ValueError, OSError)


def apply_edits(layout: Layout, edits: Sequence[Edit]) -> list[Edit]:
    """File ``edits`` into ``layout`` as an adversary would; return those that applied.

    The ledger is rewritten (and re-filed) first, then ``index.json``; blobs
    nothing names any more are swept, and the ledger's ``contents`` lose what
    the sweep took, so that the archive stays as consistent as the edit lets it.
    """
    applied: list[Edit] = []
    ledger_edits = [e for e in edits if e.doc == "ledger"]
    index_edits = [e for e in edits if e.doc == "index"]
    before = _ledger_digest(layout)
    if ledger_edits:
        layout.rewrite_ledger(
            lambda doc: applied.extend(e for e in ledger_edits if e.apply(doc))
        )
    if not index_edits:
        return applied
    after = _ledger_digest(layout)
    index = layout.index
    for edit in index_edits:
        # A re-point to the ledger's manifest follows it to where it was re-filed.
        moved = edit.with_value(after) if edit.value == before != after else edit
        if moved.apply(index):
            applied.append(moved)
    layout.write_index(index)
    blobs = layout.root / "blobs" / "sha256"
    held = {p.name for p in blobs.iterdir()}
    layout.sweep()
    swept = {f"sha256:{h}" for h in held - {p.name for p in blobs.iterdir()}}
    if swept and _ledger_digest(layout) is not None:
        with contextlib.suppress(*_UNREADABLE):
            layout.rewrite_ledger(lambda doc: _forget(doc, swept))
    return applied


def _forget(ledger: Any, swept: set[str]) -> None:
    """Drop from the ledger's ``contents`` the blobs the sweep took away."""
    if isinstance(ledger, dict) and isinstance(ledger.get("contents"), list):
        ledger["contents"] = [
            c
            for c in ledger["contents"]
            if not (isinstance(c, dict) and c.get("digest") in swept)
        ]


def _ledger_digest(layout: Layout) -> str | None:
    """The ledger entry's digest, if ``index.json`` has exactly one, and the blob is there."""
    entries = layout.index.get("manifests")
    found = [
        e
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict)
        and isinstance(e.get("annotations"), dict)
        and e["annotations"].get("dev.airlock.kind") == "ledger"
    ]
    if len(found) != 1 or not layout.blob(str(found[0].get("digest"))).is_file():
        return None
    return str(found[0]["digest"])
