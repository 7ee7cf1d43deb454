"""The verifier on material from the local Sigstore stack: what vectors lack.

Key-signed bundles, disagreeing issuer extensions, foreign logs, several log
entries, DSSE subjects and payload types, GitHub claims. Negative cases first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core.artifact import Artifact
from appliance.core.bundle import Bundle
from appliance.core.errors import InputError, Reason, VerificationError
from appliance.core.pattern import compile_pattern
from appliance.core.policy import IdentityPolicy, KeyPolicy, Policy
from appliance.core.report import TimeSource
from appliance.core.trust import LogMemory, SplitView, TrustMaterial
from appliance.core.verifier import verify_bundle
from tests.helpers.sigstore_stack import DEFAULT_ISSUER, GitHubClaims, SigstoreStack
from tests.helpers.sigstore_stack.stack import envelope_payload, pae
from tests.helpers.vectors import CONFORMANCE

DATA = b"release-1.2.3.tar.gz contents\n"
IDENTITY = "dev@airlock.test"
POLICY = IdentityPolicy(identity=IDENTITY, issuer=DEFAULT_ISSUER)


def _verify(
    stack: SigstoreStack,
    bundle: dict[str, Any],
    *,
    artifact: Artifact | None = None,
    policy: Policy = POLICY,
    **root: Any,
) -> Any:
    trust = TrustMaterial.from_bytes(
        stack.trusted_root_json(**root), source="stack", tuf_backed=False
    )
    return verify_bundle(
        Bundle.from_bytes(json.dumps(bundle).encode()),
        artifact=artifact or Artifact(DATA),
        trust=trust,
        policy=policy,
        now=stack.now,
    )


def _reason(stack: SigstoreStack, bundle: dict[str, Any], **kwargs: Any) -> Reason:
    with pytest.raises(VerificationError) as caught:
        _verify(stack, bundle, **kwargs)
    return caught.value.reason


def test_result_reports_what_was_verified(sigstore_stack: SigstoreStack) -> None:
    signed = sigstore_stack.sign_blob(DATA, identity=IDENTITY)
    result = _verify(sigstore_stack, signed.bundle())
    assert result.signer == IDENTITY
    assert result.issuer == DEFAULT_ISSUER
    assert result.time_source is TimeSource.TRANSPARENCY_LOG
    assert result.signing_time == sigstore_stack.now + timedelta(seconds=2)
    assert result.log_index == signed.entry.log_index
    assert result.to_json()["verified"] is True


def test_the_clock_line_names_each_now_as_given(sigstore_stack: SigstoreStack) -> None:
    """The line naming the caller's clock is formatted once per ``now``; the
    same instant given in another zone is another line, as it always was."""
    signed = sigstore_stack.sign_blob(DATA, identity=IDENTITY)
    trust = TrustMaterial.from_bytes(
        sigstore_stack.trusted_root_json(), source="stack", tuf_backed=False
    )
    utc = sigstore_stack.now.astimezone(UTC)
    elsewhere = utc.astimezone(timezone(timedelta(hours=1)))
    assert utc == elsewhere
    lines = []
    for now in (utc, elsewhere, utc + timedelta(seconds=1), utc):
        result = verify_bundle(
            Bundle.from_bytes(json.dumps(signed.bundle()).encode()),
            artifact=Artifact(DATA),
            trust=trust,
            policy=POLICY,
            now=now,
        )
        lines.append(result.checks[-1])
    assert lines[0] == f"verified at {utc:%Y-%m-%dT%H:%M:%SZ} (appliance clock)"
    assert lines[1] == f"verified at {elsewhere:%Y-%m-%dT%H:%M:%SZ} (appliance clock)"
    assert lines[1] != lines[0]
    assert lines[2] != lines[0]
    assert lines[3] == lines[0]


# -- key-signed bundles --------------------------------------------------------


def test_key_signed_bundle_verifies_with_its_key(sigstore_stack: SigstoreStack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = sigstore_stack.sign_blob(DATA, key=key).bundle()
    result = _verify(sigstore_stack, bundle, policy=KeyPolicy(key=key.public_key()))
    assert result.signer.startswith("key ")


def test_key_signed_bundle_with_another_key_is_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(
        DATA, key=ec.generate_private_key(ec.SECP256R1())
    ).bundle()
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert (
        _reason(sigstore_stack, bundle, policy=KeyPolicy(key=other))
        is Reason.SIGNATURE_INVALID
    )


def test_key_signed_bundle_with_an_identity_is_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(
        DATA, key=ec.generate_private_key(ec.SECP256R1())
    ).bundle()
    assert _reason(sigstore_stack, bundle) is Reason.POLICY_UNSATISFIED


def test_certificate_bundle_with_a_key_is_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    signed = sigstore_stack.sign_blob(DATA, identity=IDENTITY)
    assert signed.certificate is not None
    key = signed.certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert (
        _reason(sigstore_stack, signed.bundle(), policy=KeyPolicy(key=key))
        is Reason.POLICY_UNSATISFIED
    )


# -- identity -------------------------------------------------------------------


def test_disagreeing_issuer_extensions_are_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(
        DATA, identity=IDENTITY, issuer_v1="https://evil.example"
    ).bundle()
    assert _reason(sigstore_stack, bundle) is Reason.ISSUER_MISMATCH


@pytest.mark.parametrize(
    ("policy", "ok"),
    [
        (
            IdentityPolicy(
                identity_regexp=compile_pattern(r"@airlock\.test$", where="test"),
                issuer=DEFAULT_ISSUER,
            ),
            True,
        ),
        (
            IdentityPolicy(
                identity_regexp=compile_pattern(r"airlock", where="test"),
                issuer=DEFAULT_ISSUER,
            ),
            True,
        ),  # unanchored, as cosign
        (
            IdentityPolicy(
                identity_regexp=compile_pattern(r"^admin@", where="test"),
                issuer=DEFAULT_ISSUER,
            ),
            False,
        ),
        (
            IdentityPolicy(
                identity=IDENTITY,
                issuer_regexp=compile_pattern(r"^https://oidc\.", where="test"),
            ),
            True,
        ),
        (
            IdentityPolicy(
                identity=IDENTITY,
                issuer_regexp=compile_pattern(r"google", where="test"),
            ),
            False,
        ),
        (
            IdentityPolicy(identity=IDENTITY.upper(), issuer=DEFAULT_ISSUER),
            False,
        ),  # exact means exact
        (IdentityPolicy(identity=IDENTITY, issuer=DEFAULT_ISSUER + "/"), False),
    ],
)
def test_identity_matching(
    sigstore_stack: SigstoreStack, policy: IdentityPolicy, ok: bool
) -> None:
    bundle = sigstore_stack.sign_blob(DATA, identity=IDENTITY).bundle()
    if ok:
        _verify(sigstore_stack, bundle, policy=policy)
    else:
        assert _reason(sigstore_stack, bundle, policy=policy) in {
            Reason.IDENTITY_MISMATCH,
            Reason.ISSUER_MISMATCH,
        }


@pytest.mark.parametrize(
    ("suffix", "value", "ok"),
    [
        ("5", "airlock-test/app", True),
        ("5", "airlock-test/other", False),
        ("12", "https://github.com/airlock-test/app", True),
        ("20", "pull_request", False),
        ("99", "x", False),
    ],
)
def test_github_claims(
    sigstore_stack: SigstoreStack, suffix: str, value: str, ok: bool
) -> None:
    bundle = sigstore_stack.sign_blob(
        DATA, identity=IDENTITY, github=GitHubClaims()
    ).bundle()
    policy = IdentityPolicy(
        identity=IDENTITY, issuer=DEFAULT_ISSUER, extensions={suffix: value}
    )
    if ok:
        _verify(sigstore_stack, bundle, policy=policy)
    else:
        assert (
            _reason(sigstore_stack, bundle, policy=policy) is Reason.POLICY_UNSATISFIED
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"identity": "a@b"},
        {"issuer": DEFAULT_ISSUER},
        {
            "identity": "a@b",
            "identity_regexp": compile_pattern("a", where="test"),
            "issuer": "x",
        },
    ],
)
def test_incomplete_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        IdentityPolicy(**kwargs)


# -- logs and times --------------------------------------------------------------


def test_entry_from_a_foreign_log_is_not_counted(sigstore_stack: SigstoreStack) -> None:
    stranger = SigstoreStack(now=sigstore_stack.now)
    bundle = sigstore_stack.sign_blob(DATA, identity=IDENTITY).bundle()
    mixed = json.loads(sigstore_stack.trusted_root_json())
    mixed["tlogs"] = json.loads(stranger.trusted_root_json())[
        "tlogs"
    ]  # our CA, someone else's log
    trust_without_log = TrustMaterial.from_bytes(
        json.dumps(mixed).encode(), source="s", tuf_backed=False
    )
    with pytest.raises(VerificationError) as caught:
        verify_bundle(
            Bundle.from_bytes(json.dumps(bundle).encode()),
            artifact=Artifact(DATA),
            trust=trust_without_log,
            policy=POLICY,
            now=sigstore_stack.now,
        )
    assert caught.value.reason is Reason.TLOG_ENTRY_MISSING


def test_a_second_entry_from_an_unknown_log_is_skipped(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(DATA, identity=IDENTITY).bundle()
    stranger = SigstoreStack(now=sigstore_stack.now)
    extra = stranger.sign_blob(DATA, identity=IDENTITY).bundle()[
        "verificationMaterial"
    ]["tlogEntries"][0]
    bundle["verificationMaterial"]["tlogEntries"].append(extra)
    _verify(sigstore_stack, bundle)


def test_no_promise_and_no_timestamp_means_no_time(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(DATA, identity=IDENTITY).bundle(promise=False)
    assert _reason(sigstore_stack, bundle) is Reason.NO_VERIFIED_TIME


def test_v01_without_proof_rests_on_the_set(sigstore_stack: SigstoreStack) -> None:
    bundle = sigstore_stack.sign_blob(DATA, identity=IDENTITY).bundle(
        version="0.1", proof=False
    )
    assert _verify(sigstore_stack, bundle).time_source is TimeSource.TRANSPARENCY_LOG


def test_certificate_expired_at_integration(sigstore_stack: SigstoreStack) -> None:
    bundle = sigstore_stack.sign_blob(
        DATA, identity=IDENTITY, integrated_after=timedelta(minutes=10, seconds=1)
    ).bundle()
    assert _reason(sigstore_stack, bundle) is Reason.CHAIN_UNTRUSTED


def test_integration_exactly_at_certificate_expiry_is_inside(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(
        DATA, identity=IDENTITY, integrated_after=timedelta(minutes=10)
    ).bundle()
    _verify(sigstore_stack, bundle)


def test_ca_window_closing_at_the_signing_second_still_admits_it(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(DATA, identity=IDENTITY).bundle()
    _verify(sigstore_stack, bundle, ca_end=sigstore_stack.now + timedelta(seconds=2))
    assert (
        _reason(
            sigstore_stack, bundle, ca_end=sigstore_stack.now + timedelta(seconds=1)
        )
        is Reason.CHAIN_UNTRUSTED
    )


# -- DSSE -----------------------------------------------------------------------


def test_dsse_subject_must_match(sigstore_stack: SigstoreStack) -> None:
    bundle = sigstore_stack.attest({"other": "00" * 32}, identity=IDENTITY).bundle()
    assert _reason(sigstore_stack, bundle) is Reason.DIGEST_MISMATCH


def test_dsse_by_digest_and_report(sigstore_stack: SigstoreStack) -> None:
    digest = hashlib.sha256(DATA).digest()
    bundle = sigstore_stack.attest(
        {"release.tgz": digest.hex()},
        identity=IDENTITY,
        predicate_type="https://slsa.dev/provenance/v1",
    ).bundle()
    result = _verify(
        sigstore_stack, bundle, artifact=Artifact.from_digest("sha256", digest)
    )
    assert (result.content, result.subject, result.predicate_type) == (
        "dsse",
        "release.tgz",
        "https://slsa.dev/provenance/v1",
    )


def test_dsse_payload_type_other_than_in_toto_is_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    signed = sigstore_stack.attest(
        {"a": hashlib.sha256(DATA).hexdigest()}, identity=IDENTITY
    )
    bundle = signed.bundle()
    bundle["dsseEnvelope"]["payloadType"] = "text/plain"
    assert _reason(sigstore_stack, bundle) is Reason.UNSUPPORTED_FORMAT


def test_pae_matches_the_dsse_spec_example() -> None:
    assert (
        pae("application/vnd.in-toto+json", b'{"_type":"x"}')
        == b'DSSEv1 28 application/vnd.in-toto+json 13 {"_type":"x"}'
    )


# -- hardening: log key windows, reports, claims, memory ------------------------

REKOR2 = CONFORMANCE / "bundle-verify" / "rekor2-happy-path"
BEACON = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
BEACON_POLICY = IdentityPolicy(
    identity=BEACON, issuer="https://token.actions.githubusercontent.com"
)


def _rekor2(
    *, root: dict[str, Any] | None = None, bundle: dict[str, Any] | None = None
) -> Any:
    root_doc = root or json.loads((REKOR2 / "trusted_root.json").read_bytes())
    bundle_doc = bundle or json.loads((REKOR2 / "bundle.sigstore.json").read_bytes())
    return verify_bundle(
        Bundle.from_bytes(json.dumps(bundle_doc).encode()),
        artifact=Artifact((CONFORMANCE / "bundle-verify" / "a.txt").read_bytes()),
        trust=TrustMaterial.from_bytes(
            json.dumps(root_doc).encode(), source="t", tuf_backed=False
        ),
        policy=BEACON_POLICY,
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_real_rekor_v2_bundle_verifies_and_reports_its_index() -> None:
    result = _rekor2()
    assert result.log_index == 735  # the proof is at the entry's own index
    assert result.time_source is TimeSource.TIMESTAMP_AUTHORITY


@pytest.mark.parametrize(
    "window",
    [
        {"start": "2025-04-16T00:00:00Z", "end": "2025-04-17T00:00:00Z"},  # ended
        {"start": "2030-01-01T00:00:00Z"},  # not yet started
    ],
    ids=["ended-before", "starts-after"],
)
def test_rekor_v2_log_key_must_be_valid_at_the_verified_time(
    window: dict[str, str],
) -> None:
    """A proof carries no time: the key's window is checked at the TSA's time."""
    root = json.loads((REKOR2 / "trusted_root.json").read_bytes())
    root["tlogs"][1]["publicKey"]["validFor"] = window
    with pytest.raises(
        VerificationError, match="not valid at the verified time"
    ) as caught:
        _rekor2(root=root)
    assert caught.value.reason is Reason.OUTSIDE_VALIDITY


def test_rekor_v2_proof_index_must_equal_the_entry_index() -> None:
    bundle = json.loads((REKOR2 / "bundle.sigstore.json").read_bytes())
    bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["logIndex"] = (
        "734"
    )
    with pytest.raises(VerificationError, match="differs from its proof") as caught:
        _rekor2(bundle=bundle)
    assert caught.value.reason is Reason.INCLUSION_PROOF_INVALID


def test_key_signed_entry_with_a_proof_but_no_time_does_not_count(
    sigstore_stack: SigstoreStack,
) -> None:
    """A v0.3 entry proven without a SET vouches for no time: its log key's
    window cannot be checked, so the entry cannot count."""
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = sigstore_stack.sign_blob(DATA, key=key).bundle(promise=False)
    policy = KeyPolicy(key=key.public_key())
    assert _reason(sigstore_stack, bundle, policy=policy) is Reason.TLOG_ENTRY_MISSING
    trust = TrustMaterial.from_bytes(
        sigstore_stack.trusted_root_json(), source="s", tuf_backed=False
    )
    result = verify_bundle(
        Bundle.from_bytes(json.dumps(bundle).encode()),
        artifact=Artifact(DATA),
        trust=trust,
        policy=policy,
        now=sigstore_stack.now,
        insecure_ignore_tlog=True,
    )
    assert any("does not count" in c for c in result.checks)
    assert result.log_index is None


def test_key_signed_bundle_with_its_entry_stripped_needs_the_flag(
    sigstore_stack: SigstoreStack,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = sigstore_stack.sign_blob(DATA, key=key).bundle()
    bundle["verificationMaterial"]["tlogEntries"] = []
    policy = KeyPolicy(key=key.public_key())
    assert _reason(sigstore_stack, bundle, policy=policy) is Reason.TLOG_ENTRY_MISSING


def test_set_outside_the_log_key_window_is_refused(
    sigstore_stack: SigstoreStack,
) -> None:
    bundle = sigstore_stack.sign_blob(DATA).bundle()
    assert (
        _reason(sigstore_stack, bundle, tlog_end=sigstore_stack.now - timedelta(days=1))
        is Reason.OUTSIDE_VALIDITY
    )


@pytest.mark.parametrize(
    ("policy", "signer"),
    [
        (IdentityPolicy(identity=IDENTITY, issuer=DEFAULT_ISSUER), IDENTITY),
        (
            IdentityPolicy(
                identity_regexp=compile_pattern("^dev@", where="t"),
                issuer=DEFAULT_ISSUER,
            ),
            IDENTITY,
        ),
        (
            IdentityPolicy(
                identity_regexp=compile_pattern("ci", where="t"), issuer=DEFAULT_ISSUER
            ),
            "https://ci.airlock.test/release",
        ),
    ],
)
def test_signer_is_the_san_that_satisfied_the_policy(
    sigstore_stack: SigstoreStack, policy: IdentityPolicy, signer: str
) -> None:
    bundle = sigstore_stack.sign_blob(
        DATA,
        identity="first@elsewhere.test",
        extra_sans=(IDENTITY, "https://ci.airlock.test/release"),
    ).bundle()
    assert _verify(sigstore_stack, bundle, policy=policy).signer == signer


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0c\x10short",  # length beyond the value
        b"\x13\x05https",  # PrintableString, not UTF8String
        b"\x0c\x02\xff\xfe",  # not UTF-8
        b"",
    ],
)
def test_malformed_issuer_claim_never_falls_back_to_the_other(
    sigstore_stack: SigstoreStack, raw: bytes
) -> None:
    """A damaged .1.8 must not let the deprecated .1.1 speak instead."""
    bundle = sigstore_stack.sign_blob(DATA, issuer_v2_raw=raw).bundle()
    with pytest.raises(
        VerificationError, match=r"1\.3\.6\.1\.4\.1\.57264\.1\.8 is malformed"
    ) as caught:
        _verify(sigstore_stack, bundle)
    assert caught.value.reason is Reason.CERTIFICATE_INVALID


def test_checkpoint_conflicting_with_memory_is_a_split_view(
    sigstore_stack: SigstoreStack,
) -> None:
    signed = sigstore_stack.sign_blob(DATA)
    origin = sigstore_stack.rekor.origin
    trust = TrustMaterial.from_bytes(
        sigstore_stack.trusted_root_json(), source="s", tuf_backed=False
    )
    bundle = Bundle.from_bytes(json.dumps(signed.bundle()).encode())
    result = verify_bundle(
        bundle,
        artifact=Artifact(DATA),
        trust=trust,
        policy=POLICY,
        now=sigstore_stack.now,
    )
    [seen] = result.checkpoints
    assert (seen.origin, seen.size) == (origin, signed.entry.tree_size)
    # Remembered with the same root: fine. With another root: a split view.
    same = replace(trust, memory=LogMemory(roots={(origin, seen.size): seen.root_hash}))
    verify_bundle(
        bundle,
        artifact=Artifact(DATA),
        trust=same,
        policy=POLICY,
        now=sigstore_stack.now,
    )
    other = replace(trust, memory=LogMemory(roots={(origin, seen.size): b"\x00" * 32}))
    with pytest.raises(VerificationError, match="split view") as caught:
        verify_bundle(
            bundle,
            artifact=Artifact(DATA),
            trust=other,
            policy=POLICY,
            now=sigstore_stack.now,
        )
    assert caught.value.reason is Reason.SPLIT_VIEW
    split = replace(
        trust,
        memory=LogMemory(
            split_logs={
                sigstore_stack.rekor.log_id: SplitView(
                    origin=origin, size=3, roots=(b"a" * 32, b"b" * 32)
                )
            }
        ),
    )
    with pytest.raises(VerificationError, match="refused until an operator acts"):
        verify_bundle(
            bundle,
            artifact=Artifact(DATA),
            trust=split,
            policy=POLICY,
            now=sigstore_stack.now,
        )


@pytest.mark.parametrize("digest_name", ["SHA256", "Sha256", "sha-256", "sha256 "])
def test_statement_digest_names_are_exact(
    sigstore_stack: SigstoreStack, digest_name: str
) -> None:
    signed = sigstore_stack.attest({"a": hashlib.sha256(DATA).hexdigest()})
    envelope = dict(signed.envelope or {})
    statement = json.loads(envelope_payload(envelope))
    statement["subject"][0]["digest"] = {digest_name: hashlib.sha256(DATA).hexdigest()}
    resigned = sigstore_stack.attest(
        {}, predicate_type=statement["predicateType"], raw_statement=statement
    )
    assert _reason(sigstore_stack, resigned.bundle()) is Reason.DIGEST_MISMATCH


def test_statement_digest_values_are_exact(sigstore_stack: SigstoreStack) -> None:
    signed = sigstore_stack.attest({"a": hashlib.sha256(DATA).hexdigest().upper()})
    assert _reason(sigstore_stack, signed.bundle()) is Reason.DIGEST_MISMATCH


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_a_signed_statement_are_refused(
    sigstore_stack: SigstoreStack, constant: str
) -> None:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": hashlib.sha256(DATA).hexdigest()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"score": "__X__"},
    }
    raw = json.dumps(statement).replace('"__X__"', constant).encode()
    signed = sigstore_stack.attest({}, raw_payload=raw)
    assert _reason(sigstore_stack, signed.bundle()) is Reason.MALFORMED_INPUT


@pytest.mark.parametrize(
    "predicate_type", ['"https://x/\\ud800"', '"\\udfff"', '"' + "\\ud83d" + '"']
)
def test_lone_surrogates_in_a_signed_statement_are_refused(
    sigstore_stack: SigstoreStack, predicate_type: str
) -> None:
    """The review: such a predicate type verified, then crashed the text report."""
    digest = hashlib.sha256(DATA).hexdigest()
    raw = (
        '{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"'
        + digest
        + '"}}],"predicateType":'
        + predicate_type
        + ',"predicate":{}}'
    ).encode()
    signed = sigstore_stack.attest({}, raw_payload=raw)
    assert _reason(sigstore_stack, signed.bundle()) is Reason.MALFORMED_INPUT
