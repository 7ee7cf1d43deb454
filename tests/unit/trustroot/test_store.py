"""The trust material sealed into the appliance is what its TUF chain says."""

from __future__ import annotations

import hashlib

import pytest
from tuf.api.metadata import Metadata, Root, Targets

from tests.helpers.vectors import VECTORS
from trustroot import store

ROOT_SIGNING = VECTORS / "tuf" / "root-signing" / "metadata"


def test_embedded_public_good_root_is_the_tuf_target() -> None:
    """trustroot/data/README.md's claim: hash and length as targets.json records,
    and targets.json signed by a threshold of root v15's targets keys."""
    embedded = store.read_embedded(store.PUBLIC_GOOD, "trusted_root.json")
    root = Metadata[Root].from_bytes((ROOT_SIGNING / "root.json").read_bytes())
    targets = Metadata[Targets].from_bytes((ROOT_SIGNING / "targets.json").read_bytes())
    root.signed.verify_delegate("targets", targets.signed_bytes, targets.signatures)
    info = targets.signed.targets["trusted_root.json"]
    assert info.length == len(embedded)
    assert info.hashes["sha256"] == hashlib.sha256(embedded).hexdigest()
    assert (
        store.read_embedded(store.PUBLIC_GOOD, "root.json")
        == (ROOT_SIGNING / "root.json").read_bytes()
    )


def test_embedded_staging_root_is_present() -> None:
    assert b"trustedroot" in store.read_embedded(store.STAGING, "trusted_root.json")


@pytest.mark.parametrize(
    ("instance", "name"),
    [("elsewhere", "trusted_root.json"), (store.PUBLIC_GOOD, "absent.json")],
)
def test_unknown_material_is_not_found(instance: str, name: str) -> None:
    with pytest.raises(FileNotFoundError):
        store.read_embedded(instance, name)
