"""The trust artifacts: deterministic OCI 1.1 manifests holding exactly the bytes given."""

from __future__ import annotations

import hashlib
import json

from appliance.core import trust_artifact
from appliance.core.archive import media

ROOTS = [
    ("trusted_root.json", b'{"a": 1}\n'),
    ("corp.trusted_root.json", b'{"b": 2}\n'),
]


def test_the_same_roots_give_the_same_digest_in_any_order() -> None:
    one = trust_artifact.trusted_roots(ROOTS)
    two = trust_artifact.trusted_roots(list(reversed(ROOTS)))
    assert one.manifest == two.manifest
    assert one.digest == "sha256:" + hashlib.sha256(one.manifest).hexdigest()


def test_each_root_is_a_titled_layer_of_its_exact_bytes() -> None:
    image = trust_artifact.trusted_roots(ROOTS)
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == media.OCI_MANIFEST
    assert manifest["artifactType"] == trust_artifact.ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == media.EMPTY
    titles = [layer["annotations"][media.TITLE] for layer in manifest["layers"]]
    assert titles == ["corp.trusted_root.json", "trusted_root.json"]
    by_digest = {b.descriptor.digest: b.data for b in image.blobs}
    for layer in manifest["layers"]:
        data = by_digest[layer["digest"]]
        assert layer["size"] == len(data)
        assert data == dict(ROOTS)[layer["annotations"][media.TITLE]]
        assert layer["mediaType"] == media.SIGSTORE_TRUSTED_ROOT


def test_a_changed_root_changes_the_digest() -> None:
    changed = [(name, data + b" ") for name, data in ROOTS]
    assert (
        trust_artifact.trusted_roots(changed).digest
        != trust_artifact.trusted_roots(ROOTS).digest
    )


def test_the_repository_is_under_the_prefix() -> None:
    assert trust_artifact.repository("") == "airlock/trust"
    assert trust_artifact.repository("mirror/prod") == "mirror/prod/airlock/trust"


def test_a_tuf_repository_keeps_its_paths() -> None:
    files = [("root.json", b"{}"), ("targets/ab.trusted_root.json", b"x")]
    manifest = json.loads(trust_artifact.tuf_repository(files).manifest)
    assert manifest["artifactType"] == trust_artifact.TUF_ARTIFACT_TYPE
    assert [x["annotations"][media.TITLE] for x in manifest["layers"]] == [
        "root.json",
        "targets/ab.trusted_root.json",
    ]
