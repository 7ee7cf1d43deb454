"""A layout directory is read in the order a tar carries it: ``Intake.next_wanted``'s walk, resumed.

The walk is kept between calls (one walk from the top per blob was
quadratic); whatever arrives, is absent, or learns its children late, each
call must name what a walk from the top would name (the reference below).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.archive import media
from appliance.core.archive.intake import Intake
from appliance.core.archive.manifest import Descriptor, ImageIndex


def _digest(n: int) -> str:
    return f"sha256:{n:064x}"


def _from_the_top(
    roots: list[str],
    children: dict[str, tuple[str, ...]],
    arrived: set[str],
    absent: set[str],
) -> str | None:
    """The walk as first written: depth-first, pre-order, from index.json, every call."""
    seen: set[str] = set()
    stack = list(reversed(roots))
    while stack:
        digest = stack.pop()
        if digest in seen:
            continue
        seen.add(digest)
        if digest not in arrived and digest not in absent:
            return digest
        stack.extend(reversed(children.get(digest, ())))
    return None


_NODES = 12


@settings(max_examples=300, deadline=None)
@given(
    roots=st.lists(st.integers(0, _NODES - 1), min_size=1, max_size=4),
    graph=st.dictionaries(
        st.integers(0, _NODES - 1),
        st.lists(st.integers(0, _NODES - 1), max_size=4),  # cycles and repeats too
    ),
    data=st.data(),
)
def test_each_call_names_what_a_walk_from_the_top_would(
    roots: list[int], graph: dict[int, list[int]], data: st.DataObject
) -> None:
    intake = Intake()
    root_digests = [_digest(r) for r in roots]
    intake._index = ImageIndex(  # the state a parsed index.json leaves
        media_type=media.OCI_INDEX,
        manifests=tuple(
            Descriptor(media_type=media.OCI_MANIFEST, digest=d, size=1)
            for d in root_digests
        ),
    )
    names = {_digest(k): tuple(_digest(c) for c in v) for k, v in graph.items()}
    absent: set[str] = set()
    for _ in range(4 * _NODES):
        wanted = intake.next_wanted()
        assert wanted == _from_the_top(
            root_digests,
            intake._children,
            set(intake._blobs),
            absent,
        )
        if wanted is None:
            return
        if data.draw(st.booleans(), label="arrives"):
            intake._blobs[wanted] = 1  # what end() records
            if wanted in names and data.draw(st.booleans(), label="a manifest now"):
                intake._learned(wanted, names[wanted])
        else:
            intake.absent(wanted)
            absent.add(wanted)
        # A blob that arrived before anything named it as a manifest learns
        # its children late (Intake._named), after the walk passed it.
        late = [d for d in intake._blobs if d in names and d not in intake._children]
        if late != [] and data.draw(st.booleans(), label="late children"):
            digest = data.draw(st.sampled_from(late), label="which")
            intake._learned(digest, names[digest])
    raise AssertionError("the walk did not end")  # pragma: no cover
