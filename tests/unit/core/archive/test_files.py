"""Files on the appliance (appliance.core.archive.files): which rule judges a file, and checksum lines."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.archive import media
from appliance.core.archive.files import NAME, _check_listed, _referrers, rule_for_file
from appliance.core.archive.intake import Contents
from appliance.core.archive.layout import Kind
from appliance.core.archive.ledger import FileEntry
from appliance.core.archive.manifest import Descriptor, ImageIndex
from appliance.core.archive.verdict import Unmet
from appliance.core.errors import Reason
from appliance.core.policyfile import PolicySpec

if TYPE_CHECKING:
    from appliance.core.policyfile import ResolvedRule

BODY = b"kubectl bytes"
HEX = hashlib.sha256(BODY).hexdigest()
KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)


def _rules(*matches: list[str]) -> tuple[ResolvedRule, ...]:
    text = "version = 1\n" + "".join(
        f"[[rules]]\nmatch = {m!r}\n[[rules.signers]]\nkey = 'k.pub'\n".replace(
            "'", '"'
        )
        for m in matches
    )
    return PolicySpec.from_toml(text.encode(), source="p.toml").resolve(lambda _: KEY)


@pytest.mark.parametrize(
    ("matches", "name", "line"),
    [
        ([["file:kubectl"]], "kubectl", 2),
        ([["file:tool-*"]], "tool-linux-amd64", 2),
        ([["**"], ["file:*"]], "anything", 6),  # image patterns never judge files
        ([["file:tool-?"]], "tool-1", 2),
        ([["file:tool-[ab]"]], "tool-b", 2),
    ],
)
def test_the_first_file_rule_that_fits(
    matches: list[list[str]], name: str, line: int
) -> None:
    resolved = rule_for_file(_rules(*matches), name)
    assert resolved is not None
    assert resolved.rule.line == line


@pytest.mark.parametrize(
    ("matches", "name"),
    [
        ([["**"]], "kubectl"),
        ([["*"]], "kubectl"),
        ([["file:tool-*"]], "kubectl"),
        ([["file:kubectl"]], "kubectl.exe"),
        ([["file:Kubectl"]], "kubectl"),  # case matters
        ([["127.0.0.1:5000/file:kubectl"]], "kubectl"),
    ],
)
def test_no_rule_judges_a_file_its_patterns_do_not_name(
    matches: list[list[str]], name: str
) -> None:
    assert rule_for_file(_rules(*matches), name) is None


class _Contents:
    def __init__(self, text: bytes) -> None:
        self.documents = {"sha256:" + "c" * 64: text}


def _entry(name: str = "kubectl") -> FileEntry:
    return FileEntry(
        name=name,
        digest="sha256:" + "a" * 64,
        blob="sha256:" + HEX,
        size=len(BODY),
        source="x",
        form="checksums",
        checksums="sha256:" + "c" * 64,
    )


@pytest.mark.parametrize(
    "text",
    [
        f"{HEX}  kubectl\n",
        f"{HEX} *kubectl\n",  # binary mode
        f"{HEX.upper()}  kubectl\r\n",
        f"{'0' * 64}  kubectl.exe\n{HEX}  kubectl\n",
    ],
)
def test_a_checksum_file_that_lists_the_file(text: str) -> None:
    _check_listed(_Contents(text.encode()), "sha256:" + "c" * 64, _entry())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "does not list kubectl"),
        (f"{HEX}  kubectl.exe\n", "does not list kubectl"),
        (f"{HEX}  ./kubectl\n", "does not list kubectl"),
        (f"{HEX}  dir/kubectl\n", "does not list kubectl"),
        (
            f"{HEX} kubectl\n",
            "does not list kubectl",
        ),  # one space: not sha256sum's format
        (f"{'0' * 64}  kubectl\n", "lists kubectl as sha256:000"),
        (
            f"{HEX}  kubectl\n{'0' * 64}  kubectl\n",
            "lists kubectl as",
        ),  # listed twice, differently
        (f"{HEX[:-1]}  kubectl\n", "does not list kubectl"),
    ],
)
def test_a_checksum_file_that_does_not_list_the_file_refuses_it(
    text: str, words: str
) -> None:
    with pytest.raises(Unmet) as caught:
        _check_listed(_Contents(text.encode()), "sha256:" + "c" * 64, _entry())  # type: ignore[arg-type]
    assert caught.value.reason == Reason.DIGEST_MISMATCH
    assert words in caught.value.message


@pytest.mark.parametrize("name", ["kubectl", "tool-linux-amd64", "a.b_c+d", "0"])
def test_plain_file_names(name: str) -> None:
    assert NAME.fullmatch(name)


@pytest.mark.parametrize(
    "name", ["", ".hidden", "..", "a/b", "a\\b", "a b", "a\nb", "é", "x" * 256]
)
def test_names_that_could_escape_or_hide_are_refused(name: str) -> None:
    assert not NAME.fullmatch(name)


_KINDS = st.sampled_from([Kind.REFERRER, Kind.IMAGE, Kind.FILE, None])
_SUBJECTS = st.sampled_from(["sha256:" + c * 64 for c in "abc"] + [None])


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(st.tuples(st.integers(0, 5), _KINDS, _SUBJECTS), max_size=12))
def test_a_file_s_referrers_are_index_json_s_in_its_order(
    entries: list[tuple[int, str | None, str | None]],
) -> None:
    """Found once for every file, as a scan of index.json per file found them (repeats kept)."""
    index = tuple(
        Descriptor(
            media_type=media.OCI_MANIFEST,
            digest=f"sha256:{n:064x}",
            size=1,
            annotations={
                **({media.KIND: kind} if kind is not None else {}),
                **({media.SUBJECT: subject} if subject is not None else {}),
            },
        )
        for n, kind, subject in entries
    )
    contents = Contents(
        index=ImageIndex(media_type=media.OCI_INDEX, manifests=index),
        manifests={},
        documents={},
        blobs={},
        media_types={},
    )
    found = _referrers(contents)
    for artifact in ["sha256:" + c * 64 for c in "abcd"]:
        assert found.get(artifact, []) == [
            e.digest
            for e in index
            if e.annotations.get(media.KIND) == Kind.REFERRER
            and e.annotations.get(media.SUBJECT) == artifact
        ]
