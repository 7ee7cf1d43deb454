"""The push plan (appliance.core.archive.plan): each blob's repositories and each subject's referrers.

A blob shared by many images (a base layer, the empty config ``{}``) is
planned once, into every repository that needs it, each named once, in the
order the manifests naming it are planned; a referrer listed under a subject
once, the first kept, in the order met. Built from verified views made here,
no archive read.
"""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from appliance.core.archive import media
from appliance.core.archive.gate import (
    Attached,
    Document,
    PassedFile,
    PassedImage,
    VerifiedView,
)
from appliance.core.archive.manifest import Descriptor, ImageManifest
from appliance.core.archive.plan import BlobPush, Plan, Target, plan_push
from appliance.core.archive.reference import parse_reference

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TARGET = Target(host="gap.example:5000")


def _digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def _blob(name: str) -> Descriptor:
    return Descriptor(media_type=LAYER, digest=_digest(name), size=len(name))


def _document(*blobs: str) -> Document:
    """An image manifest naming ``blobs`` (config first); the same blobs, the same manifest."""
    data = ("manifest " + " ".join(blobs)).encode()
    return Document(
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        media_type=media.OCI_MANIFEST,
        data=data,
        manifest=ImageManifest(
            media_type=media.OCI_MANIFEST,
            config=_blob(blobs[0]),
            layers=tuple(_blob(b) for b in blobs[1:]),
        ),
    )


def _image(
    name: str, *documents: Document, attached: tuple[Attached, ...] = ()
) -> PassedImage:
    reference = f"reg.example/{name}"
    return PassedImage(
        asked=reference,
        reference=reference,
        name=parse_reference(reference),
        digest=documents[-1].digest,
        documents=documents,
        attached=attached,
    )


def _referrer(subject: str, *blobs: str) -> Attached:
    return Attached(
        kind="referrer", subject=subject, tag=None, document=_document(*blobs)
    )


def _view(
    images: list[PassedImage],
    carried: list[str],
    files: tuple[PassedFile, ...] = (),
) -> VerifiedView:
    digests = [_digest(b) for b in carried]
    return VerifiedView(
        images=tuple(images),
        refused=(),
        blobs=dict.fromkeys(digests, 1),
        order=tuple(digests),
        files=files,
    )


def _repositories(blobs: tuple[BlobPush, ...]) -> dict[str, tuple[str, ...]]:
    return {b.descriptor.digest: b.repositories for b in blobs}


def test_a_shared_blob_goes_once_into_each_repository_first_seen_first() -> None:
    # "zeta" comes back (another tag, another manifest): named once, first.
    images = [
        _image("zeta:1", _document("config", "base", "zeta-1")),
        _image("alpha:1", _document("config", "base", "alpha-1")),
        _image("zeta:2", _document("config", "base", "zeta-2")),
        _image("mid:1", _document("config", "base", "mid-1")),
    ]
    carried = ["config", "zeta-1", "alpha-1", "zeta-2", "mid-1"]  # "base": a delta's
    plan = plan_push(_view(images, carried), TARGET)
    blobs = _repositories(plan.blobs)
    assert blobs[_digest("config")] == ("zeta", "alpha", "mid")
    assert blobs[_digest("zeta-2")] == ("zeta",)
    assert _repositories(plan.held) == {_digest("base"): ("zeta", "alpha", "mid")}


def test_a_referrer_is_listed_once_under_its_subject_in_order_met() -> None:
    subject = _digest("subject")
    first, second, third = (
        _referrer(subject, "bundle-1"),
        _referrer(subject, "bundle-2"),
        _referrer(subject, "bundle-3"),
    )
    again = Attached(
        kind="referrer", subject=subject, tag="other", document=first.document
    )
    images = [
        _image("zeta:1", _document("c"), attached=(first, second)),
        _image("zeta:2", _document("c"), attached=(again, third, second)),
        _image("alpha:1", _document("c"), attached=(second,)),
    ]
    file = PassedFile(
        name="kubectl",
        blob=_digest("kubectl"),
        document=_document("file-config", "kubectl"),
        referrers=(third, first, third),
    )
    plan = plan_push(_view(images, ["c"], (file,)), TARGET)
    assert [(r.repository, r.subject, r.image) for r in plan.referrers] == [
        ("zeta", subject, "reg.example/zeta:1"),
        ("alpha", subject, "reg.example/alpha:1"),
        ("files/kubectl", subject, "file:kubectl"),
    ]
    listed = [[d.digest for d in r.referrers] for r in plan.referrers]
    ids = [a.document.digest for a in (first, second, third)]
    assert listed == [ids, [ids[1]], [ids[2], ids[0]]]


# -- the same, for views drawn at random -------------------------------------------

_REPOS = ("zeta", "alpha", "mid")
_BLOBS = tuple(f"blob-{n}" for n in range(5))
_SUBJECTS = tuple(_digest(f"subject-{n}") for n in range(2))

_documents = st.lists(st.sampled_from(_BLOBS), min_size=1, max_size=4).map(
    lambda blobs: _document(*blobs)
)
_attached = st.builds(
    Attached,
    kind=st.sampled_from(("referrer", "signature")),
    subject=st.sampled_from(_SUBJECTS),
    tag=st.none(),
    document=st.sampled_from(_BLOBS).map(lambda b: _document("bundle", b)),
)
_images = st.builds(
    lambda repo, tag, documents, attached: _image(
        f"{repo}:{tag}", *documents, attached=tuple(attached)
    ),
    st.sampled_from(_REPOS),
    st.integers(0, 2),
    st.lists(_documents, min_size=1, max_size=3),
    st.lists(_attached, max_size=4),
)


def _expected(
    plan: Plan, images: list[PassedImage], carried: set[str]
) -> tuple[
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, ...]],
    list[tuple[str, str, list[Descriptor]]],
]:
    """What the plan must hold, worked out the plain way from what it put."""
    documents = {
        d.digest: d
        for i in images
        for d in (*i.documents, *(a.document for a in i.attached))
    }
    blobs: dict[str, dict[str, None]] = {}
    held: dict[str, dict[str, None]] = {}
    for pushed in plan.manifests:
        for child in documents[pushed.digest].manifest.children:
            into = blobs if child.digest in carried else held
            into.setdefault(child.digest, {}).setdefault(pushed.repository)
    referrers: dict[tuple[str, str], dict[str, Descriptor]] = {}
    for image in images:
        for a in image.attached:
            if a.kind == "referrer":
                key = (TARGET.repository(image.name.name), a.subject)
                referrers.setdefault(key, {}).setdefault(
                    a.document.digest, a.descriptor()
                )
    return (
        {d: tuple(r) for d, r in blobs.items()},
        {d: tuple(r) for d, r in held.items()},
        [(r, s, list(listed.values())) for (r, s), listed in referrers.items()],
    )


@given(
    images=st.lists(_images, min_size=1, max_size=6),
    carried=st.sets(st.sampled_from((*_BLOBS, "bundle"))),
)
def test_every_repository_and_referrer_is_planned_once_in_first_seen_order(
    images: list[PassedImage], carried: set[str]
) -> None:
    plan = plan_push(_view(images, sorted(carried)), TARGET)
    blobs, held, referrers = _expected(plan, images, {_digest(b) for b in carried})
    assert _repositories(plan.blobs) == blobs
    assert _repositories(plan.held) == held
    assert [(r.repository, r.subject, list(r.referrers)) for r in plan.referrers] == (
        referrers
    )
