"""Annotations demanded of every signature form: present, exact, and never from a form that carries none."""

from __future__ import annotations

import json

import pytest

from appliance.core import dsse
from appliance.core.annotations import verify_annotations
from appliance.core.errors import Reason, VerificationError
from appliance.core.limits import DEFAULT_LIMITS

DEMAND = {"team": "release"}


@pytest.mark.parametrize(
    "carried",
    [
        None,  # a message signature: no annotations at all
        {},
        {"team": "ops"},
        {"Team": "release"},
        {"team": "release "},
        {"team": ["release"]},
        {"team": None},
        {"team": 1},
        {"other": "release"},
    ],
)
def test_a_demand_not_met_exactly_is_refused(carried: dict[str, object] | None) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_annotations(carried, demanded=DEMAND, where="payload")
    assert caught.value.reason is Reason.POLICY_UNSATISFIED


@pytest.mark.parametrize(
    "carried", [{"team": "release"}, {"team": "release", "more": {"x": 1}}]
)
def test_a_demand_met_passes(carried: dict[str, object]) -> None:
    verify_annotations(carried, demanded=DEMAND, where="payload")


def test_no_demand_passes_any_form() -> None:
    verify_annotations(None, demanded={}, where="payload")


def _statement(subject: dict[str, object]) -> bytes:
    return json.dumps(
        {"_type": "https://in-toto.io/Statement/v1", "subject": [subject],
         "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}}
    ).encode()  # fmt: skip


def test_a_statement_subject_keeps_its_annotations() -> None:
    digest = "ab" * 32
    parsed = dsse.parse_statement(
        _statement({"digest": {"sha256": digest}, "annotations": {"team": "release"}}),
        limits=DEFAULT_LIMITS,
    )
    subject = dsse.match_subject(parsed, {"sha256": bytes.fromhex(digest)})
    assert subject.annotations == {"team": "release"}
    assert subject.name == ""


@pytest.mark.parametrize("annotations", ["team=release", ["team"], 1, True])
def test_subject_annotations_that_are_not_an_object_are_malformed(annotations: object) -> None:  # fmt: skip
    with pytest.raises(VerificationError) as caught:
        dsse.parse_statement(
            _statement({"digest": {"sha256": "ab" * 32}, "annotations": annotations}),
            limits=DEFAULT_LIMITS,
        )
    assert caught.value.reason is Reason.MALFORMED_INPUT
