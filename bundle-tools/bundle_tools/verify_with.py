"""``bundle-tools export --verify-with POLICY``: judge the export before it is written.

The planned layout is fed, member by member and in archive order, through the
same :class:`~appliance.core.archive.intake.Intake` the appliance reads
archives with, and the result judged by the same
:func:`~appliance.core.archive.verify.verify_archive`: one module, one
verdict, on both sides of the gap. An export that would fail there is
refused here, before anything is packed.

Trust on this side is what the export carries, as the exporter obtained it:
the trusted root of the TUF capsule (refreshed through TUF, or the
operator's own capsule directory), the operator's ``--trusted-root``, or
with ``--no-trust`` the public-good root sealed into this distribution. The
appliance will judge again with its own trust; this check only spares a
wasted trip across the gap.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airlock_io import inputs
from airlock_io.spool import FileSpool
from appliance.core.archive import layout, media, view
from appliance.core.archive.intake import Contents, Intake
from appliance.core.archive.verify import ArchiveVerdict, Options, verify_archive
from appliance.core.deny import NOTHING_DENIED, DenyList
from appliance.core.errors import InputError, Reason, TrustRootError, VerificationError
from appliance.core.trust import TrustMaterial
from trustroot import store

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

    from appliance.core.archive.manifest import Descriptor
    from appliance.core.policyfile import ResolvedRule


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A policy file, parsed and resolved before any network work."""

    path: Path
    rules: tuple[ResolvedRule, ...]
    # The policy's [[deny]] entries (a feed is the appliance's to apply: it
    # holds the newest one, the exporter does not).
    deny: DenyList = NOTHING_DENIED


def load_policy(path: Path) -> Policy:
    """Parse and resolve the policy (keys relative to it), as the appliance does.

    Raises:
        InputError: unreadable, or anything the policy format refuses.
    """
    from appliance.core.policyfile import PolicySpec  # noqa: PLC0415

    spec = PolicySpec.from_toml(
        inputs.read_file(path, what="policy", max_bytes=inputs.MAX_POLICY_BYTES),
        source=str(path),
    )
    deny = spec.deny_list(
        lambda relative: inputs.read_file(
            path.parent / relative, what="key", max_bytes=inputs.MAX_KEY_BYTES
        )
    )
    return Policy(path=path, rules=inputs.read_policy(path), deny=deny)


def trust_material(contents: Contents) -> TrustMaterial:
    """The trust this side judges with (see the module docstring), read as the appliance reads it.

    Raises:
        InputError: the carried trust holds no usable trusted root.
    """
    carried = view.trust_files(contents)
    kind, files = (None, {}) if carried is None else carried
    if kind is None:
        data = store.read_embedded(store.PUBLIC_GOOD, "trusted_root.json")
        source = "the public-good root sealed into bundle-tools"
        tuf_backed = True
    elif kind == media.TRUSTED_ROOT:
        data, source, tuf_backed = (
            files["trusted_root.json"],
            "--trusted-root (not TUF-backed)",
            False,
        )
    else:
        data = _capsule_trusted_root(files)
        source, tuf_backed = "the export's TUF capsule", True
    try:
        return TrustMaterial.from_bytes(data, source=source, tuf_backed=tuf_backed)
    except TrustRootError as exc:
        raise InputError(exc.message, where=source) from exc


def named_trust(contents: Contents) -> dict[str, TrustMaterial]:
    """The trusted root of each named root's capsule the export carries (``--named-capsule``).

    Raises:
        InputError: a capsule holds no usable trusted root.
    """
    found = {}
    for name, files in view.named_capsules(contents).items():
        source = f"the export's {name} TUF capsule"
        try:
            material = TrustMaterial.from_bytes(
                _capsule_trusted_root(files), source=source, tuf_backed=True
            )
        except TrustRootError as exc:
            raise InputError(exc.message, where=source) from exc
        found[name] = dataclasses.replace(material, name=name)
    return found


def _capsule_trusted_root(files: Mapping[str, bytes]) -> bytes:
    """The capsule's ``trusted_root.json`` target whose name is its own SHA-256."""
    found = [
        data
        for name, data in sorted(files.items())
        if name.startswith("targets/")
        and name.endswith(".trusted_root.json")
        and name.split("/")[-1].split(".", 1)[0] == hashlib.sha256(data).hexdigest()
    ]
    if len(found) != 1:
        msg = (
            "the trust capsule holds no single trusted_root.json target to verify with"
        )
        raise InputError(msg, where="trust capsule", reason=Reason.USAGE)
    return found[0]


def planned_contents(
    index: bytes,
    order: Sequence[Descriptor],
    source: Callable[[str], bytes | Path],
) -> Contents:
    """The contents the appliance will read, from the plan, through its own intake.

    Blobs from the cache were checked when fetched; they are hashed again
    only when the intake keeps them (documents), as the appliance will.
    """
    intake = Intake(spool=FileSpool())  # as the appliance's intake: bounded memory
    for name, document in (
        (layout.OCI_LAYOUT_NAME, layout.OCI_LAYOUT),
        (layout.INDEX_NAME, index),
    ):
        intake.begin(name, len(document))
        intake.end(name, size=len(document), sha256="", data=document)
    for desc in order:
        name = layout.blob_name(desc.digest)
        if not intake.begin(name, desc.size):
            intake.end(name, size=desc.size, sha256=desc.digest, data=None)
            continue
        held = source(desc.digest)
        data = (
            held
            if isinstance(held, bytes)
            else inputs.read_file(held, what="cached blob", max_bytes=desc.size)
        )
        intake.end(
            name,
            size=len(data),
            sha256="sha256:" + hashlib.sha256(data).hexdigest(),
            data=data,
        )
    return intake.finish()


def judge(
    contents: Contents, *, policy: Policy, trust: TrustMaterial, now: datetime
) -> ArchiveVerdict:
    """The appliance's verdict on the planned archive.

    Raises:
        VerificationError: the verdict is not "verified" (names the first image
            that failed, and why).
    """
    verdict = verify_archive(
        contents,
        rules=policy.rules,
        trust=trust,
        now=now,
        options=Options(inventories=None),  # its own --have: not an appliance's call
        deny=policy.deny,
        others=named_trust(contents),
    )
    if verdict.verified:
        return verdict
    failed = next((i for i in verdict.images if not i.verified), None)
    if failed is not None:
        msg = f"{failed.ref} would not verify on the other side: {failed.message}; nothing was written"
        raise VerificationError(
            msg,
            reason=failed.reason or Reason.POLICY_UNSATISFIED,
            where=str(policy.path),
        )
    refused = next((f for f in verdict.files if not f.verified), None)
    if refused is not None:
        msg = f"file {refused.name} would not verify on the other side: {refused.message}; nothing was written"
        raise VerificationError(
            msg,
            reason=refused.reason or Reason.POLICY_UNSATISFIED,
            where=str(policy.path),
        )
    problem = verdict.problems[0] if verdict.problems else "no image to verify"
    msg = f"the archive would not verify on the other side: {problem}; nothing was written"
    raise VerificationError(
        msg, reason=Reason.POLICY_UNSATISFIED, where=str(policy.path)
    )
