"""The named trust roots the appliance holds, each with its own TUF chain and memory.

One appliance may trust several Sigstore instances at once: the public-good
instance (the default, named ``public-good``), GitHub's instance
(``github``: fulcio.githubapp.com, timestamp.githubapp.com, served through
tuf-repo.github.com) and private ones. Each name has its own state
directory, so nothing one chain does can touch another: its own TUF replay
state (rollback protection, TUF spec §5.3-5.5), its own clock floor and its
own log memory (split-view detection)::

    $APPLIANCE_STATE_DIR/                 public-good (the layout it always had)
        trust/, clock.json, logs.json
    $APPLIANCE_STATE_DIR/roots/<name>/    every other named root
        trust/, clock.json, logs.json

A name is the operator's word, never an archive's: it is chosen on the
command line (``trust import --name``) or in the policy (``trust = [...]``),
and it must be a plain lowercase name, so it can never walk out of
``roots/``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from appliance.core.errors import InputError, Reason
from appliance.core.trust import PUBLIC_GOOD, TrustMaterial
from appliance.trust import roots
from appliance.trust.memory import Memory
from appliance.trust.state import StateStore
from trustroot import store as trustroot_store

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from pathlib import Path

    from appliance.core.report import VerificationResult

DEFAULT = PUBLIC_GOOD
ROOTS_DIR = "roots"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def check_name(name: str, *, where: str = "trust root name") -> str:
    """``name`` if it is a valid trust root name (``[a-z0-9][a-z0-9-]*``, at most 63).

    Raises:
        InputError: it is not.
    """
    if not _NAME.fullmatch(name):
        msg = f"{name!r} is not a trust root name (lowercase letters, digits and '-', at most 63)"
        raise InputError(msg, where=where, reason=Reason.USAGE)
    return name


def root_dir(state_dir: Path, name: str) -> Path:
    """The state directory of the named root (public-good: the state directory itself)."""
    check_name(name)
    return state_dir if name == DEFAULT else state_dir / ROOTS_DIR / name


def store(state_dir: Path, name: str) -> StateStore:
    """The TUF state of the named root."""
    return StateStore(root_dir(state_dir, name))


def memory(state_dir: Path, name: str) -> Memory:
    """The clock floor and log memory of the named root."""
    return Memory(root_dir(state_dir, name))


def names(state_dir: Path) -> tuple[str, ...]:
    """Every root held: ``public-good`` (always: sealed in), then each imported name, sorted."""
    base = state_dir / ROOTS_DIR
    found = (
        sorted(
            p.name
            for p in base.iterdir()
            if p.is_dir()
            and _NAME.fullmatch(p.name)
            and p.name != DEFAULT
            and StateStore(p).state_file.exists()
        )
        if base.is_dir()
        else []
    )
    return (DEFAULT, *found)


def load(state_dir: Path, name: str, *, now: datetime) -> TrustMaterial | None:
    """The named root's trusted root, with its own log memory; None if not held.

    ``public-good`` falls back to the root sealed into the appliance; any
    other name exists only once imported through its TUF chain.

    Raises:
        TrustRootError: the stored state is damaged (refused, never half-used).
    """
    directory = root_dir(state_dir, name)
    found = roots.load_imported(directory, now=now)
    if found is None and name == DEFAULT:
        found = roots.load_embedded(now=now)
    if found is None:
        return None
    return dataclasses.replace(
        found,
        name=name,
        source=found.source if name == DEFAULT else f"{name}: {found.source}",
        memory=Memory(directory).log_memory(),
    )


def load_all(
    state_dir: Path, *, now: datetime, trusted_root: Path | None = None
) -> dict[str, TrustMaterial]:
    """Every root held, by name; an operator's ``--trusted-root`` file takes precedence by name.

    The file's roots replace the held ones of the same name (a single
    ``trusted_root.json`` is ``public-good``, as ``--trusted-root`` always
    meant) and add the others; each keeps the log memory of its name.

    Raises:
        TrustRootError: held state is damaged.
        InputError: the operator's file is unusable.
    """
    held: dict[str, TrustMaterial] = {}
    for name in names(state_dir):
        material = load(state_dir, name, now=now)
        if material is not None:
            held[name] = material
    if trusted_root is not None:
        for material in roots.load_files(trusted_root):
            held[material.name] = dataclasses.replace(
                material, memory=memory(state_dir, material.name).log_memory()
            )
    return held


def select(
    held: dict[str, TrustMaterial], wanted: Iterable[str], *, where: str
) -> tuple[TrustMaterial, ...]:
    """The held roots a rule names, in its order.

    Raises:
        InputError: the rule names a root the appliance does not hold (the
            operator must import it or name its file): fail closed.
    """
    chosen = []
    for name in wanted:
        if name not in held:
            have = ", ".join(sorted(held)) or "none"
            msg = f"names trust root {name!r}, which this appliance does not hold (it holds {have}; `appliance trust import --name {name}` or --trusted-root)"
            raise InputError(msg, where=where)
        chosen.append(held[name])
    return tuple(chosen)


def check_clocks(state_dir: Path, now: datetime) -> None:
    """Refuse a clock behind the floor of any held root.

    Raises:
        VerificationError: ``now`` is before a time some root already saw.
    """
    for name in names(state_dir):
        memory(state_dir, name).check_clock(now)


def remember(
    state_dir: Path, results: Iterable[VerificationResult], *, now: datetime
) -> None:
    """Let each named root remember what verified under it (its floor, its log memory).

    Raises:
        VerificationError: as :func:`appliance.trust.roots.remember`.
    """
    by_name: dict[str, list[VerificationResult]] = {}
    for result in results:
        by_name.setdefault(result.trust_name, []).append(result)
    for name, done in sorted(by_name.items()):
        roots.remember(memory(state_dir, name), done, now=now)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HeldRoot:
    """A trusted root the appliance holds and verified, under its trust root name."""

    name: str
    data: bytes  # the ``trusted_root.json`` bytes, as verified
    source: str

    @property
    def target_name(self) -> str:
        """Its file name where it is handed on (a TUF target, an OCI artifact layer)."""
        if self.name == DEFAULT:
            return "trusted_root.json"
        return f"{self.name}.trusted_root.json"


def held_roots(state_dir: Path, *, now: datetime) -> tuple[HeldRoot, ...]:
    """Every trusted root the appliance holds and verified, by name (docs/handoff.md §1).

    What the appliance hands on into the gap (``trust publish``, the trust
    artifact ``load`` and ``extract`` write): the one place that says which
    roots those are. Each named root as last imported through its offline
    TUF replay; ``public-good`` falls back to the root sealed into the
    appliance. Each is parsed as trust material first, so nothing unusable is
    handed on.

    Raises:
        TrustRootError: a held state is damaged (fail closed).
    """
    found = []
    for name in names(state_dir):
        state = store(state_dir, name).load()
        if state is not None:
            data = state.read("trusted_root.json")
            source = (
                f"{name}: TUF root v{state.root_version}, imported from {state.source}"
            )
        elif name == DEFAULT:
            data = trustroot_store.read_embedded(
                trustroot_store.PUBLIC_GOOD, "trusted_root.json"
            )
            source = roots.load_embedded(now=now).source
        else:
            continue
        TrustMaterial.from_bytes(data, source=source, tuf_backed=True)
        found.append(HeldRoot(name=name, data=data, source=source))
    return tuple(found)
