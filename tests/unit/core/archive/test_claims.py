"""Which images an archive claims: index.json and the ledger must say the same, names in the grammar."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.archive import media
from appliance.core.archive.claims import read_claims
from appliance.core.archive.intake import Contents
from appliance.core.archive.ledger import ImageEntry, Ledger, PlatformEntry, TrustEntry
from appliance.core.archive.manifest import Descriptor, ImageIndex, digest_of, parse

NAME = "reg.test/app:v1"


def _manifest(seed: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": {
                "mediaType": media.OCI_CONFIG,
                "digest": "sha256:" + "0" * 64,
                "size": 2,
            },
            "layers": [],
            "annotations": {"seed": seed},
        }
    ).encode()


AMD, ARM = _manifest("amd64"), _manifest("arm64")
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": media.OCI_INDEX,
        "manifests": [
            {"mediaType": media.OCI_MANIFEST, "digest": digest_of(AMD), "size": len(AMD),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": media.OCI_MANIFEST, "digest": digest_of(ARM), "size": len(ARM),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    }
).encode()  # fmt: skip
SINGLE = _manifest("single")


def _contents(entries: list[Descriptor], documents: list[bytes]) -> Contents:
    docs = {digest_of(d): d for d in documents}
    return Contents(
        index=ImageIndex(media_type=media.OCI_INDEX, manifests=tuple(entries)),
        manifests={k: parse(v, media_type=None, where=k) for k, v in docs.items()},
        documents=docs,
        blobs={k: len(v) for k, v in docs.items()},
        media_types={},
    )


def _entry(data: bytes, reference: str = NAME, asked: str | None = None, **more: str) -> Descriptor:  # fmt: skip
    return Descriptor(
        media_type=media.OCI_MANIFEST,
        digest=digest_of(data),
        size=len(data),
        annotations={media.KIND: "image", media.REF_NAME: asked or reference,
                     media.REFERENCE: reference, **more},
    )  # fmt: skip


def _image(data: bytes, reference: str = NAME, **changes: Any) -> ImageEntry:
    image = ImageEntry(
        asked=reference,
        reference=reference,
        digest=digest_of(data),
        media_type=media.OCI_MANIFEST,
        size=len(data),
    )
    return replace(image, **changes)


def _ledger(*images: ImageEntry) -> Ledger:
    return Ledger(
        tool="t",
        tool_version="0",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        images=images,
        trust=TrustEntry(kind="none"),
        contents=(),
    )


def test_agreeing_documents_make_one_claim_and_no_problem() -> None:
    claims, problems = read_claims(_contents([_entry(SINGLE)], [SINGLE]), _ledger(_image(SINGLE)))  # fmt: skip
    assert problems == []
    [claim] = claims
    assert (claim.reference, claim.digest, claim.repository, claim.tag) == (
        NAME, digest_of(SINGLE), "reg.test/app", "v1")  # fmt: skip
    assert claim.invalid is None
    assert claim.platforms == ()


def test_one_digest_under_two_names_is_two_claims() -> None:
    other = "reg.test/twin:v1"
    claims, problems = read_claims(
        _contents([_entry(SINGLE), _entry(SINGLE, other)], [SINGLE]),
        _ledger(_image(SINGLE), _image(SINGLE, other)),
    )
    assert problems == []
    assert [c.reference for c in claims] == [NAME, other]


@pytest.mark.parametrize(
    ("entries", "images", "words"),
    [
        ([_entry(SINGLE)], [], "which the ledger does not list as such"),
        ([], [_image(SINGLE)], "which index.json does not"),
        ([_entry(SINGLE, "reg.test/app:v2")], [_image(SINGLE)], "does not list as such"),
        ([_entry(SINGLE, asked="other")], [_image(SINGLE)], "does not list as such"),
        ([_entry(SINGLE), _entry(SINGLE)], [_image(SINGLE)], "a second time"),
        ([_entry(SINGLE), _entry(AMD)], [_image(SINGLE), _image(AMD)], "a second time"),
        ([_entry(SINGLE)], [_image(SINGLE), _image(SINGLE)], "which index.json does not"),
        ([_entry(SINGLE, **{media.REPOSITORY: "reg.test/evil"})], [_image(SINGLE)],
         "says repository reg.test/evil"),
        ([_entry(SINGLE)], [_image(SINGLE, size=1)], "is 1 bytes; its manifest is"),
        ([replace(_entry(SINGLE), annotations={media.KIND: "image"})], [_image(SINGLE)],
         "names no reference"),
        ([_entry(SINGLE)], [_image(SINGLE, digest=digest_of(AMD))], "does not list as such"),
    ],
)  # fmt: skip
def test_any_disagreement_is_a_problem(
    entries: list[Descriptor], images: list[ImageEntry], words: str
) -> None:
    _, problems = read_claims(_contents(entries, [SINGLE, AMD]), _ledger(*images))
    assert any(words in p for p in problems), problems


def _matched_by_scan(
    entries: list[Descriptor], images: list[ImageEntry]
) -> tuple[list[ImageEntry | None], int, list[ImageEntry]]:
    """The matching as first written (every unmatched ledger image scanned per entry): the reference.

    Returns each claim's ledger image, how many entries matched none or
    several, and the ledger's images left over, in order.
    """
    unmatched, matched, unlisted, seen = list(images), [], 0, set()
    for entry in entries:
        asked = entry.annotations.get(media.REF_NAME)
        reference = entry.annotations.get(media.REFERENCE)
        if not asked or not reference or reference in seen:
            continue
        seen.add(reference)
        same = [
            i
            for i in unmatched
            if (i.asked, i.reference, i.digest) == (asked, reference, entry.digest)
        ]
        unlisted += len(same) != 1
        if same:
            unmatched.remove(same[0])
        matched.append(same[0] if same else None)
    return matched, unlisted, unmatched


_NAMES = [NAME, "reg.test/app:v2", "reg.test/twin:v1"]


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.sampled_from([SINGLE, AMD]), st.sampled_from(_NAMES),
                  st.sampled_from([None, "asked"])),
        max_size=6,
    ),
    images=st.lists(
        st.tuples(st.sampled_from([SINGLE, AMD]), st.sampled_from(_NAMES),
                  st.sampled_from([None, "asked"]), st.sampled_from([(), ("x",)])),
        max_size=6,
    ),
)  # fmt: skip
def test_each_ledger_image_answers_one_entry_whatever_the_order_and_repeats(
    entries: list[tuple[bytes, str, str | None]],
    images: list[tuple[bytes, str, str | None, tuple[str, ...]]],
) -> None:
    """The ledger's images matched by key, each once, as a scan of them all per entry did."""
    descriptors = [_entry(data, name, asked) for data, name, asked in entries]
    # Ledger lines of one key may differ elsewhere (what they left out).
    listed = [
        _image(data, name, asked=asked or name, left_out=left_out)
        for data, name, asked, left_out in images
    ]
    claims, problems = read_claims(
        _contents(descriptors, [SINGLE, AMD]), _ledger(*listed)
    )
    matched, unlisted, left = _matched_by_scan(descriptors, listed)
    assert [id(c.entry) for c in claims] == [id(i) for i in matched]
    assert sum("does not list as such" in p for p in problems) == unlisted
    assert [p for p in problems if p.endswith("which index.json does not")] == [
        f"the ledger lists image {i.asked} ({i.digest}), which index.json does not"
        for i in left
    ]
    kept = {id(c.entry) for c in claims}
    assert [i for i in listed if id(i) not in kept] == left


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("reg.test/App:v1", "not an image reference"),
        ("reg.test/app:v1!", "bad tag"),
        ("reg.test//app:v1", "not an image reference"),
        ("reg.test/app", "not in normal form"),
        ("app:v1", "not in normal form"),
        ("reg.test/app:" + "v" * 129, "bad tag"),
        ("reg.test/app@sha256:" + "1" * 64, "names another digest"),
        ("index.docker.io/library/app:v1", "not in normal form"),
    ],
)
def test_a_name_outside_the_grammar_or_its_normal_form_is_refused(name: str, words: str) -> None:  # fmt: skip
    claims, problems = read_claims(
        _contents([_entry(SINGLE, name)], [SINGLE]), _ledger(_image(SINGLE, name))
    )
    assert problems == []
    [claim] = claims
    assert claim.name is None
    assert claim.invalid is not None
    assert words in claim.invalid


def _platforms(amd: bool, arm: bool) -> tuple[PlatformEntry, ...]:
    return (
        PlatformEntry(platform="linux/amd64", digest=digest_of(AMD), included=amd),
        PlatformEntry(platform="linux/arm64/v8", digest=digest_of(ARM), included=arm),
    )


def test_platforms_come_from_the_index_bytes() -> None:
    claims, problems = read_claims(
        _contents([_entry(INDEX)], [INDEX, ARM]),
        _ledger(
            _image(
                INDEX,
                media_type=media.OCI_INDEX,
                platforms=_platforms(amd=False, arm=True),
            )
        ),
    )
    assert problems == []
    [claim] = claims
    assert [(p.platform, p.carried) for p in claim.platforms] == [
        ("linux/amd64", False), ("linux/arm64/v8", True)]  # fmt: skip


@pytest.mark.parametrize(
    ("platforms", "words"),
    [
        (_platforms(amd=False, arm=False), "was left out, but it is carried"),
        (_platforms(amd=True, arm=True), "was carried, but it is absent"),
        (_platforms(amd=False, arm=True)[1:], "which the ledger does not"),
        ((*_platforms(amd=False, arm=True),
          PlatformEntry(platform="linux/s390x", digest=digest_of(SINGLE), included=True)),
         "which its index does not"),
    ],
)  # fmt: skip
def test_the_ledgers_platform_account_must_match_the_index(
    platforms: tuple[PlatformEntry, ...], words: str
) -> None:
    _, problems = read_claims(
        _contents([_entry(INDEX)], [INDEX, ARM]),
        _ledger(_image(INDEX, media_type=media.OCI_INDEX, platforms=platforms)),
    )
    assert any(words in p for p in problems), problems
