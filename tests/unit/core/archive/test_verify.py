"""Pure parts of the archive verifier: counting signers, SBOM summaries, payload claims."""

from __future__ import annotations

import json

import pytest

from appliance.core.archive.claims import Claim
from appliance.core.archive.forms import sbom_summary
from appliance.core.archive.signers import distinct_signers
from appliance.core.archive.verdict import Evidence, Site
from appliance.core.archive.verify import _selected
from appliance.core.errors import Reason, VerificationError
from appliance.core.legacy import check_payload
from appliance.core.report import TimeSource, VerificationResult

DIGEST = "sha256:" + "ab" * 32
SITE = Site(
    kind="signature", form="cosign-legacy", manifest=DIGEST, blob=DIGEST, subject=DIGEST
)


def _signed(signer: str, issuer: str | None, *satisfies: str) -> Evidence:
    result = VerificationResult(
        signer=signer,
        issuer=issuer,
        signing_time=None,
        time_source=TimeSource.NONE,
        log_index=None,
        log_url=None,
        bundle_version="cosign-legacy",
        content="cosign-legacy",
    )
    return Evidence(site=SITE, verified=True, satisfies=satisfies, result=result)


@pytest.mark.parametrize(
    ("evidence", "count"),
    [
        ([], 0),
        ([_signed("a@x", "https://i", "A")], 1),
        # The same signer twice (two signatures) is still one signer.
        ([_signed("a@x", "https://i", "A"), _signed("a@x", "https://i", "A")], 1),
        # One signer fitting two entries (exact and regexp) fills one of them.
        ([_signed("a@x", "https://i", "A", "ANY")], 1),
        # Two signers and two entries, one of which both fit: both are filled.
        (
            [
                _signed("a@x", "https://i", "A", "ANY"),
                _signed("b@x", "https://i", "ANY"),
            ],
            2,
        ),
        # The same SAN from another issuer is another signer.
        ([_signed("a@x", "https://i", "ANY"), _signed("a@x", "https://j", "ANY")], 1),
        (
            [
                _signed("a@x", "https://i", "A"),
                _signed("k" * 64, None, "KEY"),
                _signed("c@x", "https://i", "C"),
            ],
            3,
        ),
        # Verified but fitting no entry of the policy: nothing.
        ([_signed("a@x", "https://i")], 0),
    ],
)
def test_distinct_signers(evidence: list[Evidence], count: int) -> None:
    assert distinct_signers(evidence) == count


def test_unverified_evidence_never_counts() -> None:
    failed = Evidence(
        site=SITE,
        verified=False,
        satisfies=("A",),
        reason=Reason.SIGNATURE_INVALID,
        message="no",
    )
    assert distinct_signers([failed]) == 0


@pytest.mark.parametrize(
    ("media_type", "data", "expected"),
    [
        (
            "application/spdx+json",
            b'{"spdxVersion":"SPDX-2.3","packages":[{},{}]}',
            ("SPDX SPDX-2.3", 2),
        ),
        (
            "application/vnd.cyclonedx+json",
            b'{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{}]}',
            ("CycloneDX 1.6", 1),
        ),
        (
            "application/spdx+json",
            b'{"spdxVersion":"SPDX-2.3"}',
            ("SPDX SPDX-2.3", None),
        ),
        ("text/spdx", b"SPDXVersion: SPDX-2.3\n", ("text/spdx", None)),
        (
            "application/spdx+json",
            b'{"spdxVersion":1,"spdxVersion":2}',
            ("application/spdx+json", None),
        ),
        ("application/spdx+json", None, ("application/spdx+json", None)),
        ("application/json", b"[]", ("application/json", None)),
    ],
)
def test_sbom_summary(
    media_type: str, data: bytes | None, expected: tuple[str, int | None]
) -> None:
    assert sbom_summary(media_type, data) == expected


def _payload(
    reference: object = "registry.local:5000/app", digest: str = DIGEST, **extra: object
) -> bytes:
    doc = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": extra or None,
    }
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("claimed", "repository"),
    [
        ("registry.local:5000/app", "registry.local:5000/app"),
        ("index.docker.io/library/alpine", "docker.io/library/alpine"),
        ("alpine", "docker.io/library/alpine"),
        ("", "registry.local:5000/app"),  # no claim: nothing to check (cosign's own)
        (None, "registry.local:5000/app"),
        # Moved between registries by digest (a mirror, the in-gap registry), a prefix in front.
        ("registry.local:5001/app", "registry.local:5000/app"),
        ("ghcr.io/acme/app", "gap.local:5000/mirror/acme/app"),
    ],
)
def test_docker_reference_matches_the_repository(
    claimed: object, repository: str
) -> None:
    check_payload(_payload(claimed), image_digest=DIGEST, reference=repository)


@pytest.mark.parametrize(
    "claimed",
    [
        "registry.local:5000/other",
        "registry.local:5000/app-debug",
        "registry.local:5000/team/app",  # the path signed is longer than the one exported
        "not a reference",
        7,
        ["registry.local:5000/app"],
    ],
)
def test_docker_reference_of_another_repository_is_refused(claimed: object) -> None:
    with pytest.raises(VerificationError) as caught:
        check_payload(
            _payload(claimed), image_digest=DIGEST, reference="registry.local:5000/app"
        )
    assert caught.value.reason is Reason.DIGEST_MISMATCH


def test_annotations_must_all_be_present_and_equal() -> None:
    payload = _payload(team="release", stage="prod")
    check_payload(payload, image_digest=DIGEST, annotations={"team": "release"})
    for wanted in (
        {"team": "dev"},
        {"owner": "x"},
        {"team": "release", "stage": "dev"},
    ):
        with pytest.raises(VerificationError) as caught:
            check_payload(payload, image_digest=DIGEST, annotations=wanted)
        assert caught.value.reason is Reason.POLICY_UNSATISFIED


def _claim(reference: str, digest: str) -> Claim:
    return Claim(
        asked=reference,
        reference=reference,
        name=None,
        digest=digest,
        platforms=(),
        entry=None,
    )


CLAIMS = [
    _claim("reg.test/a:v1", "sha256:" + "1" * 64),
    _claim("reg.test/a:v2", "sha256:" + "2" * 64),
    _claim("reg.test/b:v1", "sha256:" + "1" * 64),
]


@pytest.mark.parametrize(
    ("images", "chosen", "problems"),
    [
        ((), [0, 1, 2], []),
        (("reg.test/a",), [0, 1], []),
        (("reg.test/b:v1", "reg.test/a"), [2, 0, 1], []),  # in the flags' order
        (("reg.test/a", "reg.test/a:v2", "sha256:" + "1" * 64), [0, 1, 2], []),  # each once
        (("reg.test/c", "reg.test/a:v2"), [1], ["--image reg.test/c: no such image in the archive"]),
    ],
)  # fmt: skip
def test_image_flags_choose_each_claim_once_in_their_order(
    images: tuple[str, ...], chosen: list[int], problems: list[str]
) -> None:
    got, missing = _selected(CLAIMS, images)
    assert [CLAIMS.index(c) for c in got] == chosen
    assert missing == problems
