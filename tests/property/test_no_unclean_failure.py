"""Arbitrary input only ever yields a clean input error or "not verified".

Hypothesis feeds random bytes, and random structural mutations of real
bundles and trusted roots, to every parser and to the full verifier. The only
exceptions allowed out are the hierarchy's: no ``KeyError``, no
``UnsupportedAlgorithm``, no traceback for an operator at 3 a.m.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core import merkle as core_merkle
from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.checkpoint import Checkpoint
from appliance.core.errors import InputError, TrustRootError, VerificationError
from appliance.core.legacy import LegacySignature, to_bundle
from appliance.core.policy import IdentityPolicy
from appliance.core.trust import TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.sigstore_stack import merkle
from tests.helpers.vectors import CONFORMANCE, PUBLIC_GOOD_ROOT

NOW = datetime(2026, 11, 1, tzinfo=UTC)
HAPPY = json.loads(
    (
        CONFORMANCE / "bundle-verify" / "happy-path-v0.3" / "bundle.sigstore.json"
    ).read_bytes()
)
ROOT_DOC = json.loads(PUBLIC_GOOD_ROOT.read_bytes())
TRUST = TrustMaterial.from_bytes(
    PUBLIC_GOOD_ROOT.read_bytes(), source="pg", tuf_backed=False
)
ARTIFACT = Artifact((CONFORMANCE / "bundle-verify" / "a.txt").read_bytes())
POLICY = IdentityPolicy(
    identity="https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
    issuer="https://token.actions.githubusercontent.com",
)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=40)
    | st.binary(max_size=40).map(lambda b: b.hex()),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


HAPPY_PATHS = _paths(HAPPY)[1:]
ROOT_PATHS = _paths(ROOT_DOC)[1:]


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(doc))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _verify(bundle_bytes: bytes, trust: TrustMaterial = TRUST) -> None:
    verify_bundle(
        Bundle.from_bytes(bundle_bytes),
        artifact=ARTIFACT,
        trust=trust,
        policy=POLICY,
        now=NOW,
    )


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_as_bundle(data: bytes) -> None:
    try:
        _verify(data)
    except (InputError, VerificationError):
        return
    raise AssertionError("random bytes verified")


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_as_trusted_root(data: bytes) -> None:
    try:
        TrustMaterial.from_bytes(data, source="fuzz", tuf_backed=False)
    except TrustRootError:
        return


@SETTINGS
@given(st.sampled_from(HAPPY_PATHS), json_values)
def test_any_single_field_of_a_real_bundle_replaced(
    path: tuple[Any, ...], value: Any
) -> None:
    mutated = _replace(HAPPY, path, value)
    try:
        _verify(json.dumps(mutated).encode())
    except (InputError, VerificationError):
        return
    # A survivor may only have re-spelled the same value (proto3 JSON allows
    # an int64 as a number or a string); anything else verifying is a finding.
    # messageDigest is an unauthenticated hint (docs/bundle.md §3): dropping it
    # leaves the signature to speak for itself.
    if path == ("messageSignature", "messageDigest") and value is None:
        return
    original: Any = HAPPY
    for key in path:
        original = original[key]
    assert str(value) == str(original), (
        f"{path} changed to {value!r} and still verified"
    )


@SETTINGS
@given(st.sampled_from(ROOT_PATHS), json_values)
def test_any_single_field_of_a_real_trusted_root_replaced(
    path: tuple[Any, ...], value: Any
) -> None:
    mutated = json.dumps(_replace(ROOT_DOC, path, value)).encode()
    try:
        trust = TrustMaterial.from_bytes(mutated, source="fuzz", tuf_backed=False)
        _verify(json.dumps(HAPPY).encode(), trust)
    except (InputError, VerificationError):
        return


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_checkpoint_text(text: str) -> None:
    try:
        Checkpoint.from_text(text)
    except VerificationError:
        return


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "dev.cosignproject.cosign/signature",
                "dev.sigstore.cosign/certificate",
                "dev.sigstore.cosign/bundle",
                "dev.sigstore.cosign/rfc3161timestamp",
            ]
        ),
        st.text(max_size=200),
    ),
    st.binary(max_size=200),
)
def test_arbitrary_legacy_annotations(
    annotations: dict[str, str], payload: bytes
) -> None:
    try:
        to_bundle(LegacySignature(payload=payload, annotations=annotations))
    except InputError:
        return


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_inclusion_proofs_from_an_independent_tree_verify(
    size: int, data: st.DataObject
) -> None:
    """The core's iterative verifier accepts exactly the recursive RFC 6962 paths."""
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    root = merkle.root(leaves)
    proof = tuple(merkle.inclusion_proof(index, leaves))
    core_merkle.verify_inclusion(leaves[index], index, size, proof, root)
    if proof:
        flip = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        broken = (
            *proof[:flip],
            bytes([proof[flip][0] ^ 1]) + proof[flip][1:],
            *proof[flip + 1 :],
        )
        try:
            core_merkle.verify_inclusion(leaves[index], index, size, broken, root)
        except VerificationError:
            pass
        else:
            raise AssertionError("a damaged proof verified")
    # The same proof must not place the leaf elsewhere in the same tree (the
    # tree size and root are bound together by the signed checkpoint).
    other = data.draw(st.integers(min_value=0, max_value=size - 1))
    if other != index:
        try:
            core_merkle.verify_inclusion(leaves[index], other, size, proof, root)
        except VerificationError:
            return
        raise AssertionError("a proof verified at another index")
