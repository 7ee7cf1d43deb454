"""Deny entries can only take away (issue 25): no deny list, of any entries, dated or not, ever passes more.

On the exported world's real archive, verified in this process under one
policy, trust and clock: for any list of deny entries built from what the
archive really holds (its image and platform digests, every verified
signer's identity, key id, log entries and certificate serials) and from
values that name nothing, each dated or not, compared with no deny list:
no image that failed passes, no signature or attestation that did not
verify does, and the archive never turns verified. An empty list changes
nothing at all.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock_io.archive import read_archive
from appliance.core.archive.verify import Options, verify_archive
from appliance.core.deny import Denial, DenyKind, DenyList
from appliance.core.policy import IdentityPolicy
from appliance.core.policyfile import PolicySpec
from appliance.core.trust import TrustMaterial
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.world import IDENTITY, ROGUE

if TYPE_CHECKING:
    from appliance.core.archive.verdict import ArchiveVerdict
    from tests.helpers.exported import Exported

pytestmark = pytest.mark.registry

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
POLICY = f"""
[[rules]]
match = ["**/verify/app"]
threshold = 2

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

  [[rules.signers]]
  key = "release.pub"

[[rules]]
match = ["**"]

  [[rules.signers]]
  identity_regexp = "@"
  issuer = "{DEFAULT_ISSUER}"
"""


@pytest.fixture(scope="module")
def world(
    exported: Exported, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The archive read once, the policy resolved, the verdict with no deny list."""
    base = tmp_path_factory.mktemp("deny-property")
    shutil.copy(exported.key, base / "release.pub")
    spec = PolicySpec.from_toml(POLICY.encode(), source="policy.toml")
    rules = spec.resolve(lambda name: (base / name).read_bytes())
    contents = read_archive(exported.archive).contents
    trust = TrustMaterial.from_bytes(
        exported.root.read_bytes(), source="test", tuf_backed=False
    )

    def judge(deny: DenyList) -> ArchiveVerdict:
        return verify_archive(
            contents,
            rules=rules,
            trust=trust,
            now=NOW,
            options=Options(inventories=None),
            deny=deny,
        )

    verdict = judge(DenyList())
    results = [r for image in verdict.images for r in image.results]
    return {
        "judge": judge,
        "verdict": verdict,
        "digests": sorted(
            {i.digest for i in verdict.images}
            | {d for i in verdict.images for _, d, _ in i.platforms}
        ),
        "key_ids": sorted({r.key_id for r in results if r.key_id}),
        "logs": sorted({e for r in results for e in r.log_entries}),
        "serials": sorted({s for r in results for s in r.certificate_serials}),
    }


def _denials(world: dict[str, Any]) -> st.SearchStrategy[list[Denial]]:
    since = st.none() | st.datetimes(
        min_value=datetime(2026, 10, 1),  # noqa: DTZ001 - made aware below
        max_value=datetime(2026, 12, 1),  # noqa: DTZ001
    ).map(lambda d: d.replace(tzinfo=UTC))
    nobody = "sha256:" + "0" * 64
    named = st.one_of(
        st.sampled_from([*world["digests"], nobody]).map(
            lambda d: {"kind": DenyKind.DIGEST, "digest": d}
        ),
        st.sampled_from([IDENTITY, ROGUE, "nobody@nowhere.test"]).map(
            lambda who: {
                "kind": DenyKind.IDENTITY,
                "identity": IdentityPolicy(identity=who, issuer=DEFAULT_ISSUER),
            }
        ),
        st.sampled_from([*world["key_ids"], b"\0" * 32]).map(
            lambda k: {"kind": DenyKind.KEY, "key_id": k}
        ),
        st.sampled_from([*world["logs"], (b"\0" * 32, 1)]).map(
            lambda log: {"kind": DenyKind.LOG, "log": log}
        ),
        st.sampled_from([*world["serials"], 1]).map(
            lambda s: {"kind": DenyKind.CERTIFICATE_SERIAL, "serial": s}
        ),
    )
    entry = st.builds(
        lambda fields, when, i: Denial(
            where=f"property {i}", reason="r", since=when, **fields
        ),
        named,
        since,
        st.integers(0, 99),
    )
    return st.lists(entry, max_size=6)


def test_an_empty_deny_list_changes_nothing(world: dict[str, Any]) -> None:
    again = world["judge"](DenyList())
    assert [i.to_json() for i in again.images] == [
        i.to_json() for i in world["verdict"].images
    ]


def test_deny_entries_only_take_away(world: dict[str, Any]) -> None:
    base = world["verdict"]
    passed = {(i.reference, i.digest) for i in base.images if i.verified}
    counted = {
        (i.reference, e.site.blob)
        for i in base.images
        for e in (*i.signatures, *i.attestations, *i.attached)
        if e.verified
    }

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(_denials(world))
    def check(entries: list[Denial]) -> None:
        verdict = world["judge"](DenyList(entries=tuple(entries)))
        now_passed = {(i.reference, i.digest) for i in verdict.images if i.verified}
        assert now_passed <= passed
        now_counted = {
            (i.reference, e.site.blob)
            for i in verdict.images
            for e in (*i.signatures, *i.attestations, *i.attached)
            if e.verified
        }
        assert now_counted <= counted
        assert not verdict.verified or base.verified

    check()


def test_denying_every_verified_signer_passes_nothing(world: dict[str, Any]) -> None:
    entries = [
        Denial(kind=DenyKind.KEY, where="k", reason="r", key_id=k)
        for k in world["key_ids"]
    ] + [
        Denial(
            kind=DenyKind.IDENTITY,
            where="i",
            reason="r",
            identity=IdentityPolicy(identity=who, issuer=DEFAULT_ISSUER),
        )
        for who in (IDENTITY, ROGUE)
    ]
    verdict = world["judge"](DenyList(entries=tuple(entries)))
    assert not any(i.verified for i in verdict.images)
    assert any(i.verified for i in world["verdict"].images)
