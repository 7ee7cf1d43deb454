"""The image-set file (bundle_tools.imageset): checked whole, file:line errors; selection and why."""

from __future__ import annotations

import json

import pytest

from appliance.core.archive.ledger import Ledger, Resolution
from appliance.core.errors import InputError, Reason
from bundle_tools.imageset import ImageSet, references, select

REPO = "127.0.0.1:5000/acme/app"
LISTED = [
    "latest",
    "v1.2.3",
    "v1.4.0",
    "v1.4.1",
    "1.5.0",
    "v1.5.0-rc.1",
    "v1.10.0",
    "v2.0.0",
    "stable",
    "1.6",
    "sha256-" + "a" * 64 + ".sig",
]


def _set(body: str) -> ImageSet:
    return ImageSet.from_toml(f"version = 1\n{body}".encode(), source="set.toml")


def _entry(**keys: object) -> str:
    lines = [f"repository = {json.dumps(REPO)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "[[images]]\n" + "\n".join(lines) + "\n"


def _matched(body: str, listed: list[str] | None = LISTED) -> dict[str, str]:
    resolution = select(_set(body).images[0], listed)
    return {m.target: m.why for m in resolution.matched}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"tags": ["v1.2.3", "stable"]}, {"v1.2.3": "tags", "stable": "tags"}),
        (
            {"regex": "^v1\\.4\\."},
            {"v1.4.0": "regex ^v1\\.4\\.", "v1.4.1": "regex ^v1\\.4\\."},
        ),
        (
            {"semver": ">=1.4, <2"},
            dict.fromkeys(("v1.4.0", "v1.4.1", "1.5.0", "v1.10.0"), "semver >=1.4, <2"),
        ),
        (
            {"semver": ">=1.4, <2", "prereleases": True},
            dict.fromkeys(
                ("v1.4.0", "v1.4.1", "1.5.0", "v1.5.0-rc.1", "v1.10.0"),
                "semver >=1.4, <2",
            ),
        ),
        ({"newest": 2}, {"v2.0.0": "newest 2 (#1)", "v1.10.0": "newest 2 (#2)"}),
        (
            {"semver": "<2", "newest": 1},
            {"v1.10.0": "semver <2; newest 1 (#1)"},
        ),
        (
            {"regex": "^v", "newest": 1, "tags": ["latest"]},
            {"v2.0.0": "regex ^v; newest 1 (#1)", "latest": "tags"},
        ),
    ],
)
def test_filters_select_and_say_why(
    keys: dict[str, object], expected: dict[str, str]
) -> None:
    assert _matched(_entry(**keys)) == expected


def test_all_tags_takes_every_listed_tag_and_the_ledger_records_the_listing() -> None:
    resolution = select(_set(_entry(all_tags=True)).images[0], LISTED)
    assert [m.target for m in resolution.matched] == sorted(LISTED)
    assert resolution.listed == tuple(sorted(LISTED))


def test_digests_need_no_listing() -> None:
    digest = "sha256:" + "b" * 64
    image_set = _set(_entry(digests=[digest]))
    resolution = select(image_set.images[0], None)
    assert resolution.listed is None
    ((asked, ref, _spec),) = references(image_set, [resolution])
    assert asked == f"{REPO}@{digest}"
    assert ref.digest == digest
    assert ref.tag is None


def test_non_semver_tags_never_pass_semver_or_newest() -> None:
    assert _matched(
        _entry(newest=50), ["latest", "1.6", "v1", "1.2.3.4", "v0.1.0"]
    ) == {"v0.1.0": "newest 50 (#1)"}
    with pytest.raises(InputError) as caught:
        _matched(_entry(newest=50), ["latest", "1.6", "stable", "v1", "1.2.3.4"])
    assert caught.value.reason == Reason.NOTHING_MATCHED
    assert caught.value.where == "set.toml:2"


@pytest.mark.parametrize(
    "keys",
    [
        {"semver": ">=3"},
        {"regex": "^nothing$"},
        {"tags": ["v9.9.9"]},
        {"tags": ["v1.2.3", "v9.9.9"]},  # one missing exact tag is enough
        {"all_tags": True},  # against an empty listing below
    ],
)
def test_an_entry_matching_nothing_fails_unless_optional(
    keys: dict[str, object],
) -> None:
    listed = [] if keys.get("all_tags") else LISTED
    with pytest.raises(InputError) as caught:
        _matched(_entry(**keys), listed)
    assert caught.value.reason == Reason.NOTHING_MATCHED
    assert REPO in caught.value.message
    assert _matched(_entry(**keys, optional=True), listed) == (
        {"v1.2.3": "tags"} if keys.get("tags") == ["v1.2.3", "v9.9.9"] else {}
    )


def test_the_resolution_round_trips_through_the_ledger() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from appliance.core.archive.ledger import TrustEntry  # noqa: PLC0415

    resolution = select(
        _set(_entry(semver=">=1.4, <2", platforms=["linux/amd64"])).images[0], LISTED
    )
    ledger = Ledger(
        tool="t",
        tool_version="1",
        created=datetime(2026, 11, 1, tzinfo=UTC),
        images=(),
        trust=TrustEntry(kind="none"),
        contents=(),
        resolution=(resolution,),
    )
    again = Ledger.from_bytes(ledger.to_bytes())
    assert again.resolution == (resolution,)
    assert isinstance(again.resolution[0], Resolution)
    assert again.resolution[0].filters == {
        "semver": ">=1.4, <2",
        "platforms": ["linux/amd64"],
    }
    plain = Ledger.from_bytes(ledger.to_bytes())
    assert (
        b"resolution"
        not in Ledger(
            tool="t",
            tool_version="1",
            created=plain.created,
            images=(),
            trust=plain.trust,
            contents=(),
        ).to_bytes()
    )


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "version = 2\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\n",
            1,
            "version = 1",
        ),
        ("[[images]]\nrepository = 'a.io/b'\ntags = ['x']\n", 0, "version = 1"),
        ("version = 1\n", 0, "no [[images]]"),
        (
            "version = 1\nextra = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\n",
            2,
            "unknown key 'extra'",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntag = ['x']\n",
            4,
            "unknown key 'tag'",
        ),
        ("version = 1\n[[images]]\ntags = ['x']\n", 2, "needs a repository"),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b:v1'\ntags = ['x']\n",
            3,
            "without tag or digest",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/B'\ntags = ['x']\n",
            3,
            "lowercase",
        ),
        ("version = 1\n[[images]]\nrepository = 'a.io/b'\n", 2, "selects nothing"),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = []\n",
            4,
            "non-empty list",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = 'v1'\n",
            4,
            "non-empty list",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['v1', 'v1']\n",
            4,
            "twice",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['-v1']\n",
            4,
            "not a tag",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ndigests = ['sha256:AB']\n",
            4,
            "64 lowercase hex",
        ),
        ("version = 1\n[[images]]\nrepository = 'a.io/b'\nregex = '(a'\n", 4, "RE2"),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\nregex = ''\n",
            4,
            "non-empty RE2",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\nsemver = '~1.4'\n",
            4,
            "OP VERSION",
        ),
        ("version = 1\n[[images]]\nrepository = 'a.io/b'\nsemver = 2\n", 4, "range"),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\nnewest = 0\n",
            4,
            "integer from 1",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\nnewest = true\n",
            4,
            "integer from 1",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\nall_tags = 'yes'\n",
            4,
            "true or false",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\nall_tags = true\nregex = 'x'\n",
            4,
            "cannot be combined",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\noptional = 1\n",
            5,
            "true or false",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\nplatforms = ['linux']\n",
            5,
            "OS/ARCH",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\nplatforms = []\n",
            5,
            "non-empty list",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\nsignatures_from = ['a.io/s@sha256:"
            + "0" * 64
            + "']\n",
            5,
            "without tag or digest",
        ),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\n[[files]]\npath = 'x'\n",
            5,
            "exactly one of bundle, signature, checksums",
        ),
        (
            "version = 1\n[[files]]\nbundle = 'x.sigstore.json'\n",
            2,
            "exactly one of path, url",
        ),
        (
            "version = 1\n[[files]]\npath = 'a'\nurl = 'https://h/a'\nbundle = 'b'\n",
            2,
            "(got path, url)",
        ),
        (
            "version = 1\n[[files]]\nurl = 'http://h/a'\nbundle = 'b'\n",
            3,
            "https:// URL",
        ),
        (
            "version = 1\n[[files]]\npath = 'a'\nbundle = 'b'\nsignature = 's'\n",
            2,
            "exactly one of bundle",
        ),
        (
            "version = 1\n[[files]]\npath = 'a'\nchecksums = 'SUMS'\n",
            2,
            "checksums_bundle",
        ),
        (
            "version = 1\n[[files]]\npath = 'a'\nbundle = 'b'\nchecksums_bundle = 'c'\n",
            5,
            "give checksums",
        ),
        (
            "version = 1\n[[files]]\npath = 'dist/.hidden'\nbundle = 'b'\n",
            2,
            "one plain component",
        ),
        (
            "version = 1\n[[files]]\npath = 'a'\nname = '../x'\nbundle = 'b'\n",
            4,
            "one plain component",
        ),
        (
            "version = 1\n[[files]]\npath = 'a'\nbundle = 'b'\npgp = 'c'\n",
            5,
            "unknown key 'pgp'",
        ),
        ("version = 1\n[[files]]\npath = 'a'\nbundle = ''\n", 4, "non-empty path"),
        (
            "version = 1\n[[files]]\npath = 'd/a'\nbundle = 'b'\n[[files]]\npath = 'e/a'\nbundle = 'c'\n",
            5,
            "named 'a'",
        ),
        ("version = 1\nfiles = []\n", 2, "non-empty list"),
        (
            "version = 1\n[[images]]\nrepository = 'a.io/b'\ntags = ['x']\n\n[[images]]\nrepository = 'a.io/c'\nsemver = '>=1,'\n",
            8,
            "semver",
        ),
        ("version = 1\nimages = 3\n", 2, "non-empty list of [[images]]"),
        ("version = 1\n[[images]\n", 0, "not valid TOML"),
    ],
)
def test_bad_set_files_are_usage_errors_naming_the_line(
    text: str, line: int, words: str
) -> None:
    with pytest.raises(InputError) as caught:
        ImageSet.from_toml(text.encode(), source="set.toml")
    assert caught.value.reason == Reason.USAGE
    assert caught.value.where == (f"set.toml:{line}" if line else "set.toml")
    assert words in caught.value.message


def test_not_utf8_and_too_big_are_refused() -> None:
    with pytest.raises(InputError, match="UTF-8"):
        ImageSet.from_toml(b"version = 1\n\xff", source="set.toml")
    with pytest.raises(InputError) as caught:
        ImageSet.from_toml(b"#" * (4 * 1024 * 1024 + 1), source="set.toml")
    assert caught.value.reason == Reason.LIMIT_EXCEEDED


def test_a_good_file_parses_into_what_it_says() -> None:
    image_set = _set(
        _entry(
            tags=["v1"],
            semver=">=1.4, <2",
            newest=3,
            platforms=["linux/amd64", "linux/arm64/v8"],
        )
        + "optional = true\nsignatures_from = ['127.0.0.1:5000/acme/sigs']\n"
    )
    (spec,) = image_set.images
    assert spec.source == "set.toml:2"
    assert spec.repository.name == REPO
    assert spec.repository.tag is None
    assert (spec.tags, spec.newest, spec.optional) == (("v1",), 3, True)
    assert [str(p) for p in spec.platforms] == ["linux/amd64", "linux/arm64/v8"]
    assert [r.name for r in spec.signatures_from] == ["127.0.0.1:5000/acme/sigs"]
    assert len(image_set.sha256) == 64


def test_files_entries_parse_into_what_they_say() -> None:
    image_set = ImageSet.from_toml(
        b"""version = 1
[[files]]
path = "dist/tool-linux-amd64"
bundle = "dist/tool-linux-amd64.sigstore.json"
[[files]]
url = "https://downloads.example/v1/installer.sh"
signature = "https://downloads.example/v1/installer.sh.sig"
[[files]]
name = "kubectl"
path = "kubectl-1.31"
checksums = "SHA256SUMS"
checksums_signature = "SHA256SUMS.sig"
""",
        source="set.toml",
    )
    assert image_set.images == ()
    one, two, three = image_set.files
    assert (one.name, one.form, one.file.url, str(one.signature)) == (
        "tool-linux-amd64",
        "bundle",
        False,
        "dist/tool-linux-amd64.sigstore.json",
    )
    assert (two.name, two.form, two.file.url, two.source) == (
        "installer.sh",
        "key-signature",
        True,
        "set.toml:5",
    )
    assert (three.name, three.form, three.signature_form) == (
        "kubectl",
        "checksums",
        "key-signature",
    )
    assert str(three.checksums) == "SHA256SUMS"
