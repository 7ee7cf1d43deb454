"""Where evidence is looked for (appliance.core.archive.forms.catalog).

Each (kind, subject) lists every manifest the ledger or ``index.json`` files
there, once each, in the order met (the ledger's first); an entry without a
kind or a subject files nothing. Only what both file counts (``agreed``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from appliance.core.archive import media
from appliance.core.archive.forms import catalog
from appliance.core.archive.intake import Contents
from appliance.core.archive.ledger import ImageEntry, Ledger, Related, TrustEntry
from appliance.core.archive.manifest import Descriptor, ImageIndex

Triple = tuple[str, str, str]  # (kind, subject, manifest digest)


def _digest(n: int) -> str:
    return f"sha256:{n:064x}"


def _archive(ledgered: list[Triple], indexed: list[Triple]) -> tuple[Contents, Ledger]:
    """``ledgered`` filed by two ledger images (the first half, the rest), ``indexed`` by index.json."""

    def related(kind: str, subject: str, digest: str) -> Related:
        return Related(
            kind=kind,
            subject=subject,
            found="test",
            repository="reg.example/app",
            digest=digest,
            media_type=media.OCI_MANIFEST,
            artifact_type=None,
            size=1,
        )

    half = len(ledgered) // 2
    images = tuple(
        ImageEntry(
            asked=f"reg.example/app:{n}",
            reference=f"reg.example/app:{n}",
            digest=_digest(1000 + n),
            media_type=media.OCI_MANIFEST,
            size=1,
            related=tuple(related(*t) for t in part),
        )
        for n, part in enumerate((ledgered[:half], ledgered[half:]))
    )
    ledger = Ledger(
        tool="test",
        tool_version="0",
        created=datetime(2026, 11, 1, tzinfo=UTC),
        images=images,
        trust=TrustEntry(kind="none"),
        contents=(),
    )
    index = ImageIndex(
        media_type=media.OCI_INDEX,
        manifests=tuple(
            Descriptor(
                media_type=media.OCI_MANIFEST,
                digest=digest,
                size=1,
                annotations={
                    k: v
                    for k, v in ((media.KIND, kind), (media.SUBJECT, subject))
                    if v  # an entry without the annotation at all
                },
            )
            for kind, subject, digest in indexed
        ),
    )
    contents = Contents(
        index=index, manifests={}, documents={}, blobs={}, media_types={}
    )
    return contents, ledger


def test_each_manifest_is_listed_once_under_its_subject_in_order_met() -> None:
    s, t = _digest(1), _digest(2)
    d = [_digest(10 + n) for n in range(6)]
    contents, ledger = _archive(
        [("signature", s, d[1]), ("signature", s, d[0]), ("signature", s, d[1])],
        [
            ("signature", s, d[0]),
            ("signature", s, d[2]),
            ("", s, d[3]),
            ("signature", "", d[4]),
            ("attestation", t, d[5]),
            ("attestation", t, d[5]),
        ],
    )
    about, agreed = catalog(contents, ledger)
    assert list(about.items()) == [
        (("signature", s), [d[1], d[0], d[2]]),
        (("attestation", t), [d[5]]),
    ]
    assert agreed == {("signature", s, d[0])}


def _plain(pairs: list[Triple]) -> dict[tuple[str, str], list[str]]:
    """The catalog worked out the plain way: a scan of each list."""
    about: dict[tuple[str, str], list[str]] = defaultdict(list)
    for kind, subject, digest in pairs:
        if kind and subject and digest not in about[kind, subject]:
            about[kind, subject].append(digest)
    return about


_triples = st.lists(
    st.tuples(
        st.sampled_from(("", "signature", "attestation")),
        st.sampled_from(("", _digest(1), _digest(2))),
        st.integers(10, 14).map(_digest),
    ),
    max_size=12,
)


@given(ledgered=_triples, indexed=_triples)
def test_the_catalog_is_the_plain_one(
    ledgered: list[Triple], indexed: list[Triple]
) -> None:
    contents, ledger = _archive(ledgered, indexed)
    about, agreed = catalog(contents, ledger)
    assert list(about.items()) == list(_plain(ledgered + indexed).items())
    assert agreed == set(ledgered) & set(indexed)
