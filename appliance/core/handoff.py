"""Admission policies that admit exactly what the appliance countersigned (docs/handoff.md §6).

``load --countersign-key`` writes, for each image that passed, a cosign
signature and a SLSA verification summary (``verificationResult: PASSED``),
both by the appliance's key, with no log entry (offline). These builders turn
that key and the registry prefix into a ready policy for the verifiers inside
the gap, each in its own upstream format:

* sigstore policy-controller: a ``ClusterImagePolicy`` (``policy.sigstore.dev/v1beta1``,
  ``config/300-clusterimagepolicy.yaml``) with two key authorities (the
  signature; the summary, its ``verificationResult`` checked in CUE) that a
  policy-level CUE requires both of, and optionally a ``TrustRoot``
  (``config/300-trustroot.yaml``, ``spec.remote``) over the gap-local TUF
  repository for the cluster's other policies;
* Kyverno: a ``ClusterPolicy`` (``kyverno.io/v1``) whose ``verifyImages``
  rule requires the key's signature and the summary's attestation with the
  same condition, transparency log and SCT checks off (nothing offline has
  them);
* containers-policy.json(5) (podman, CRI-O, skopeo): ``sigstoreSigned`` with
  the key for the registry prefix, every other image rejected, and the
  containers-registries.d(5) file that turns on ``use-sigstore-attachments``.

Pure: the key, the target and optional TUF facts in, bytes out. YAML is
written with every scalar as a JSON string (YAML 1.2 is a superset of JSON),
so no value can be read back as another type or break the structure.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from appliance.core import keys
from appliance.core.archive import media

if TYPE_CHECKING:
    from appliance.core.archive.plan import Target

FORMATS: Final = ("policy-controller", "kyverno", "containers-policy")
NAME: Final = "airlock-countersigned"
VERIFIER_ID: Final = "urn:airlock:appliance"  # appliance/load/sign.py writes it


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOff:
    """What every policy is made of."""

    public_key_pem: bytes  # the countersigning key, canonical PEM
    target: Target  # REGISTRY[/PREFIX] the images were loaded into
    tuf_mirror: str | None = None  # the gap-local TUF repository's URL
    tuf_root: bytes | None = None  # its root.json, for the TrustRoot

    @property
    def scope(self) -> str:
        """``host[:port][/prefix]``: where the loaded images live."""
        return f"{self.target.host}/{self.target.prefix}".rstrip("/")


def canonical_key(pem: bytes, *, where: str) -> bytes:
    """The countersigning public key as canonical PEM (SubjectPublicKeyInfo).

    Raises:
        InputError: not a PEM public key of a supported type.
    """
    return keys.spki_pem(keys.load_pem(pem, where=where))


# A key is written bare when YAML 1.1 and 1.2 both read it back as that string.
_BARE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _key(key: str) -> str:
    if _BARE_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return _scalar(key)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=True)


def _yaml(value: object, indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_key(key)}:")
                lines += _yaml(item, indent + 1)
            else:
                empty = "{}" if isinstance(item, dict) else "[]"
                text = empty if isinstance(item, dict | list) else _scalar(item)
                lines.append(f"{pad}{_key(key)}: {text}")
    elif isinstance(value, list):
        for item in value:
            nested = _yaml(item, indent + 1)
            first = nested[0].lstrip() if nested else "{}"
            lines.append(f"{pad}- {first}")
            lines += nested[1:]
    else:
        lines.append(pad + _scalar(value))
    return lines


def yaml_documents(documents: list[dict[str, Any]]) -> bytes:
    """``documents`` as a YAML stream (``---`` between them)."""
    return "".join("---\n" + "\n".join(_yaml(doc)) + "\n" for doc in documents).encode()


def _summary_cue() -> str:
    # The summary must say PASSED, by this verifier (docs/attestations.md §5).
    return (
        f"predicateType: {json.dumps(media.VSA)}\n"
        "predicate: {\n"
        f"  verifier: id: {json.dumps(VERIFIER_ID)}\n"
        '  verificationResult: "PASSED"\n'
        "}\n"
    )


def policy_controller(handoff: HandOff) -> bytes:
    """``ClusterImagePolicy`` (and ``TrustRoot`` with the TUF facts) for sigstore policy-controller."""
    key = {"data": handoff.public_key_pem.decode(), "hashAlgorithm": "sha256"}
    policy: dict[str, Any] = {
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": NAME},
        "spec": {
            "mode": "enforce",
            "images": [{"glob": f"{handoff.scope}/**"}],
            "authorities": [
                # No ctlog: policy-controller then skips the log (pkg/webhook/validator.go).
                {"name": "airlock-signature", "key": key},
                {
                    "name": "airlock-summary",
                    "key": key,
                    "attestations": [
                        {
                            "name": "verification-summary",
                            "predicateType": media.VSA,
                            "policy": {"type": "cue", "data": _summary_cue()},
                        }
                    ],
                },
            ],
            # Authorities are alternatives; this requires both.
            "policy": {
                "type": "cue",
                "data": (
                    'import "struct"\nimport "list"\nauthorityMatches: {\n'
                    '  "airlock-signature": signatures: list.MinItems(1)\n'
                    '  "airlock-summary": attestations: struct.MinFields(1)\n'
                    "}\n"
                ),
            },
        },
    }
    documents = [policy]
    if handoff.tuf_mirror is not None and handoff.tuf_root is not None:
        documents.append(
            {
                "apiVersion": "policy.sigstore.dev/v1alpha1",
                "kind": "TrustRoot",
                "metadata": {"name": "airlock-gap"},
                "spec": {
                    "remote": {
                        "mirror": handoff.tuf_mirror,
                        "root": base64.b64encode(handoff.tuf_root).decode(),
                        "trustedRootTarget": "trusted_root.json",
                    }
                },
            }
        )
    return yaml_documents(documents)


def kyverno(handoff: HandOff) -> bytes:
    """A Kyverno ``ClusterPolicy`` verifying the signature and the summary."""
    attestor = {
        "count": 1,
        "entries": [
            {
                "keys": {
                    "publicKeys": handoff.public_key_pem.decode(),
                    "signatureAlgorithm": "sha256",
                    "rekor": {"ignoreTlog": True},
                    "ctlog": {"ignoreSCT": True},
                }
            }
        ],
    }
    doc = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": NAME},
        "spec": {
            "background": False,
            "webhookTimeoutSeconds": 30,
            "rules": [
                {
                    "name": "countersigned-by-the-appliance",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "verifyImages": [
                        {
                            "imageReferences": [f"{handoff.scope}/*"],
                            "failureAction": "Enforce",
                            "mutateDigest": True,
                            "verifyDigest": True,
                            "required": True,
                            "attestors": [attestor],
                            "attestations": [
                                {
                                    "predicateType": media.VSA,
                                    "attestors": [attestor],
                                    "conditions": [
                                        {
                                            "all": [
                                                {
                                                    "key": "{{ verificationResult }}",
                                                    "operator": "Equals",
                                                    "value": "PASSED",
                                                },
                                                {
                                                    "key": "{{ verifier.id }}",
                                                    "operator": "Equals",
                                                    "value": VERIFIER_ID,
                                                },
                                            ]
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    }
    return yaml_documents([doc])


def containers_policy(handoff: HandOff) -> tuple[bytes, bytes]:
    """``policy.json`` and the registries.d file for podman, CRI-O and skopeo."""
    policy = {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                handoff.scope: [
                    {
                        "type": "sigstoreSigned",
                        "keyData": base64.b64encode(handoff.public_key_pem).decode(),
                        # cosign signatures name a repository only (containers-policy.json(5)).
                        "signedIdentity": {"type": "matchRepository"},
                    }
                ]
            }
        },
    }
    registries_d = {"docker": {handoff.scope: {"use-sigstore-attachments": True}}}
    return (
        json.dumps(policy, indent=2).encode() + b"\n",
        "\n".join(_yaml(registries_d)).encode() + b"\n",
    )
