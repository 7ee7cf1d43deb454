"""The admission hand-off: each output against its upstream schema, naming the right key and prefix.

Schemas are pinned in tests/assets/handoff (README there: repository, path,
commit). CRD schemas are closed as ``kubectl apply --validate=strict`` would
(Kubernetes prunes undeclared fields instead of refusing them), so a
misspelt field fails here.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.core import handoff, keys
from appliance.core.archive.plan import Target
from appliance.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

ASSETS = Path(__file__).parents[2] / "assets" / "handoff"


def _strict(schema: Any) -> Any:
    """Close every object schema that lists its properties (kubectl's strict field validation)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _crd_schema(name: str, version: str) -> dict[str, Any]:
    crd = yaml.safe_load((ASSETS / name).read_text())
    (found,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = _strict(found["schema"]["openAPIV3Schema"])
    return schema


SCHEMAS: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("policy.sigstore.dev/v1beta1", "ClusterImagePolicy"): lambda: _crd_schema(
        "policy-controller.300-clusterimagepolicy.yaml", "v1beta1"
    ),
    ("policy.sigstore.dev/v1alpha1", "TrustRoot"): lambda: _crd_schema(
        "policy-controller.300-trustroot.yaml", "v1alpha1"
    ),
    ("kyverno.io/v1", "ClusterPolicy"): lambda: _strict(
        json.loads((ASSETS / "kyverno.clusterpolicy.v1.schema.json").read_text())
    ),
}


def _validate_k8s(doc: dict[str, Any]) -> None:
    schema = SCHEMAS[(doc["apiVersion"], doc["kind"])]()
    # The API server owns apiVersion, kind and metadata (a CRD schema need not list them).
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    jsonschema.validate(body, schema, cls=jsonschema.Draft7Validator)
    assert set(doc["metadata"]) == {"name"}
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


@pytest.fixture(scope="module")
def pem() -> bytes:
    return keys.spki_pem(ec.generate_private_key(ec.SECP256R1()).public_key())


@pytest.fixture
def made(pem: bytes) -> handoff.HandOff:
    return handoff.HandOff(
        public_key_pem=pem, target=Target.parse("registry.gap:5000/mirror/prod")
    )


def _docs(data: bytes) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(data.decode()) if d is not None]


def test_policy_controller_passes_its_crd_schema_and_names_key_and_prefix(
    made: handoff.HandOff, pem: bytes
) -> None:
    (policy,) = _docs(handoff.policy_controller(made))
    _validate_k8s(policy)
    spec = policy["spec"]
    assert spec["images"] == [{"glob": "registry.gap:5000/mirror/prod/**"}]
    assert [a["key"]["data"] for a in spec["authorities"]] == [pem.decode()] * 2
    assert all("ctlog" not in a for a in spec["authorities"])  # no log offline
    (summary,) = spec["authorities"][1]["attestations"]
    assert summary["predicateType"] == "https://slsa.dev/verification_summary/v1"
    assert 'verificationResult: "PASSED"' in summary["policy"]["data"]
    assert '"airlock-signature"' in spec["policy"]["data"]
    assert '"airlock-summary"' in spec["policy"]["data"]


def test_policy_controller_with_the_tuf_repository_adds_a_trust_root(
    made: handoff.HandOff,
) -> None:
    root = b'{"signed": {"_type": "root"}}'
    with_tuf = handoff.HandOff(
        public_key_pem=made.public_key_pem,
        target=made.target,
        tuf_mirror="http://tuf.gap:8080",
        tuf_root=root,
    )
    policy, trust_root = _docs(handoff.policy_controller(with_tuf))
    _validate_k8s(policy)
    _validate_k8s(trust_root)
    remote = trust_root["spec"]["remote"]
    assert remote["mirror"] == "http://tuf.gap:8080"
    assert base64.b64decode(remote["root"]) == root
    assert remote["trustedRootTarget"] == "trusted_root.json"


def test_kyverno_passes_its_crd_schema_and_names_key_and_prefix(
    made: handoff.HandOff, pem: bytes
) -> None:
    (policy,) = _docs(handoff.kyverno(made))
    _validate_k8s(policy)
    (rule,) = policy["spec"]["rules"]
    (verify,) = rule["verifyImages"]
    assert verify["imageReferences"] == ["registry.gap:5000/mirror/prod/*"]
    assert verify["failureAction"] == "Enforce"
    (entry,) = verify["attestors"][0]["entries"]
    assert entry["keys"]["publicKeys"] == pem.decode()
    assert entry["keys"]["rekor"] == {"ignoreTlog": True}
    (attestation,) = verify["attestations"]
    assert attestation["attestors"] == verify["attestors"]
    conditions = attestation["conditions"][0]["all"]
    assert {
        "key": "{{ verificationResult }}",
        "operator": "Equals",
        "value": "PASSED",
    } in conditions


def test_containers_policy_passes_its_schema_and_names_key_and_prefix(
    made: handoff.HandOff, pem: bytes
) -> None:
    policy_bytes, registries_bytes = handoff.containers_policy(made)
    policy = json.loads(policy_bytes)
    schema = json.loads((ASSETS / "containers-policy.schema.json").read_text())
    jsonschema.validate(policy, schema, cls=jsonschema.Draft202012Validator)
    assert policy["default"] == [{"type": "reject"}]
    (requirement,) = policy["transports"]["docker"]["registry.gap:5000/mirror/prod"]
    assert base64.b64decode(requirement["keyData"]) == pem
    assert requirement["signedIdentity"] == {"type": "matchRepository"}
    registries = yaml.safe_load(registries_bytes)
    schema = json.loads((ASSETS / "containers-registries.d.schema.json").read_text())
    jsonschema.validate(registries, schema, cls=jsonschema.Draft202012Validator)
    assert registries == {
        "docker": {"registry.gap:5000/mirror/prod": {"use-sigstore-attachments": True}}
    }


def test_no_prefix_scopes_the_whole_registry(pem: bytes) -> None:
    made = handoff.HandOff(public_key_pem=pem, target=Target.parse("registry.gap:5000"))
    (policy,) = _docs(handoff.policy_controller(made))
    assert policy["spec"]["images"] == [{"glob": "registry.gap:5000/**"}]


# -- the schemas catch what they must (so that passing them means something) --


def _broken(
    doc: dict[str, Any], path: list[str | int], key: str, value: object
) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for part in path:
        node = node[part]
    node[key] = value
    return out


@pytest.mark.parametrize(
    ("builder", "path", "key", "value"),
    [
        ("policy_controller", ["spec"], "imagez", []),  # a misspelt field
        (
            "policy_controller",
            ["spec", "authorities", 0, "key"],
            "hashAlgoritm",
            "sha256",
        ),
        ("policy_controller", ["spec", "images", 0], "glob", 7),  # a wrong type
        ("kyverno", ["spec", "rules", 0, "verifyImages", 0], "imageReference", ["x"]),
        ("kyverno", ["spec", "rules", 0, "verifyImages", 0], "failureAction", "Block"),
        ("kyverno", ["spec"], "background", "no"),
    ],
)
def test_a_broken_kubernetes_policy_fails_its_schema(
    made: handoff.HandOff, builder: str, path: list[str | int], key: str, value: object
) -> None:
    (doc,) = _docs(getattr(handoff, builder)(made))
    with pytest.raises(jsonschema.ValidationError):
        _validate_k8s(_broken(doc, path, key, value))


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (["transports", "docker", "registry.gap:5000/mirror/prod", 0], "keyDatax", "x"),
        (
            ["transports", "docker", "registry.gap:5000/mirror/prod", 0],
            "keyPath",
            "/k",
        ),  # two keys
        (
            [
                "transports",
                "docker",
                "registry.gap:5000/mirror/prod",
                0,
                "signedIdentity",
            ],
            "type",
            "matchAnything",
        ),
        (["transports"], "dockr", {}),
        ([], "default", []),
    ],
)
def test_a_broken_containers_policy_fails_its_schema(
    made: handoff.HandOff, path: list[str | int], key: str, value: object
) -> None:
    policy = json.loads(handoff.containers_policy(made)[0])
    schema = json.loads((ASSETS / "containers-policy.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            _broken(policy, path, key, value),
            schema,
            cls=jsonschema.Draft202012Validator,
        )


def test_a_value_cannot_break_out_of_the_yaml(pem: bytes) -> None:
    """Every scalar is a JSON string: a newline, a colon or a YAML word stays text."""
    made = handoff.HandOff(
        public_key_pem=pem,
        target=Target.parse("registry.gap:5000"),
        tuf_mirror="http://x/\n  injected: true\nno",
        tuf_root=b"{}",
    )
    _, trust_root = _docs(handoff.policy_controller(made))
    assert trust_root["spec"]["remote"]["mirror"] == "http://x/\n  injected: true\nno"
    assert set(trust_root["spec"]["remote"]) == {"mirror", "root", "trustedRootTarget"}
    words = handoff.yaml_documents([{"yes": "no", "on": True, "a:b": None}])
    assert yaml.safe_load(words) == {"yes": "no", "on": True, "a:b": None}


def test_a_key_that_is_not_a_public_key_is_refused() -> None:
    with pytest.raises(InputError):
        handoff.canonical_key(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", where="k"
        )
    with pytest.raises(InputError):
        handoff.canonical_key(b"not a key", where="k")
