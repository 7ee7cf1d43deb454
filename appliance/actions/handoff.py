"""``appliance handoff``: a ready admission policy for the verifiers inside the gap (docs/handoff.md §6).

Reads the countersigning public key (and, for policy-controller, the
gap-local TUF repository's ``root.json``), builds the policy
(:mod:`appliance.core.handoff`) and writes it atomically; for
``containers-policy`` the registries.d file is written beside it. Every
hand-off is an audit line: the format, the key id, the scope, the files and
their SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airlock_io import inputs
from airlock_io.atomic import check_output, write_output
from appliance.actions.audited import Audited
from appliance.core import handoff, keys
from appliance.core.archive.plan import Target
from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRequest:
    """``appliance handoff``."""

    countersign_key: Path  # the PEM public key ``load --countersign-key`` signs with
    registry: str  # REGISTRY[/PREFIX], as given to ``load --to``
    format: str  # one of handoff.FORMATS
    out: Path
    state_dir: Path
    tuf_mirror: str | None = None  # policy-controller: the TrustRoot's mirror URL
    tuf_root: Path | None = None  # and the root.json clients bootstrap from
    via: str = "cli"


def registries_d_path(out: Path) -> Path:
    """Where the registries.d file goes beside a containers-policy ``out``."""
    return out.with_name(f"{out.stem}.registries.d.yaml")


def _inputs(request: HandoffRequest) -> handoff.HandOff:
    if request.format not in handoff.FORMATS:
        msg = f"expected one of {', '.join(handoff.FORMATS)}"
        raise InputError(msg, where="--format", reason=Reason.USAGE)
    if (request.tuf_mirror is None) != (request.tuf_root is None):
        msg = "give both --tuf-mirror and --tuf-root (the TrustRoot needs both)"
        raise InputError(msg, where="--tuf-mirror", reason=Reason.USAGE)
    if request.tuf_mirror is not None and request.format != "policy-controller":
        msg = "only the policy-controller format has a TrustRoot"
        raise InputError(msg, where="--tuf-mirror", reason=Reason.USAGE)
    if request.tuf_mirror is not None and not request.tuf_mirror.startswith(
        ("http://", "https://")
    ):
        msg = "expected an http:// or https:// URL"
        raise InputError(msg, where="--tuf-mirror", reason=Reason.USAGE)
    pem = inputs.read_file(
        request.countersign_key, what="public key", max_bytes=inputs.MAX_KEY_BYTES
    )
    tuf_root = (
        None
        if request.tuf_root is None
        else inputs.read_file(
            request.tuf_root, what="TUF root", max_bytes=inputs.MAX_TRUSTED_ROOT_BYTES
        )
    )
    return handoff.HandOff(
        public_key_pem=handoff.canonical_key(pem, where=str(request.countersign_key)),
        target=Target.parse(request.registry),
        tuf_mirror=request.tuf_mirror,
        tuf_root=tuf_root,
    )


def write_handoff(request: HandoffRequest) -> dict[str, Any]:
    """Build and write the policy; record it; return what was written.

    Raises:
        InputError: a bad format, registry, key or output path.
    """
    check_output(request.out)
    with Audited(
        "handoff",
        request.state_dir,
        via=request.via,
        format=request.format,
        registry=request.registry,
        out=str(request.out),
    ) as audit:
        made = _inputs(request)
        files: dict[Path, bytes]
        if request.format == "policy-controller":
            files = {request.out: handoff.policy_controller(made)}
        elif request.format == "kyverno":
            files = {request.out: handoff.kyverno(made)}
        else:
            policy, registries_d = handoff.containers_policy(made)
            files = {request.out: policy, registries_d_path(request.out): registries_d}
        for path in files:
            check_output(path)
        for path, data in files.items():
            write_output(path, data)
        done = {
            "format": request.format,
            "scope": made.scope,
            "key_id": keys.key_id(
                keys.load_pem(made.public_key_pem, where="key")
            ).hex(),
            "files": {str(p): hashlib.sha256(d).hexdigest() for p, d in files.items()},
            "trust_root": made.tuf_mirror,
        }
        audit.record({**done, "exit_code": 0})
    return done
