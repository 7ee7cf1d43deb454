"""What the gate says and does with one archive: the facts the monotonicity property compares.

:func:`observe` runs ``appliance verify``, ``appliance load --dry-run`` and
``appliance extract`` in this process on one layout directory, under one
policy and trust, and keeps, as sets, only what the property speaks of:

* ``verify``: the archive-level ``verified``, each command's exit code, the
  (reference, digest) of every image the report says passed, and for each
  such image its verified signatures (signer, key, subject, blob) and
  verified attestations (signer, key, predicate type, subject, blob);
* ``load``: the push plan's manifests (repository, tag or digest, digest),
  blobs (digest, repository) and fallback referrers (repository, subject,
  referrer);
* ``extract``: every file of the written layout, and each ``index.json``
  entry's (``org.opencontainers.image.ref.name``, digest).

:func:`gains` lists every way the second facts exceed the first: each is a
breach of "unsigned data can only add failures". Free text (messages,
``asked``, checks) is left out on purpose: only verified facts may not grow.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from appliance.cli.main import main as appliance

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# The dry run names a registry it never reaches (the test's guard refuses any socket).
GAP = "registry.gap.invalid:5000/mirror"
COMMANDS = ("verify", "load", "extract")


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One command's exit code, its JSON report (empty when it printed none) and stderr."""

    code: int
    report: dict[str, Any]
    err: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """The verified facts of one archive under one policy, as sets."""

    codes: dict[str, int]
    verified: bool
    passed: frozenset[tuple[str, str]]
    signatures: frozenset[tuple[str, str, str | None, str | None, str, str]]
    attestations: frozenset[
        tuple[str, str, str | None, str | None, str | None, str, str]
    ]
    pushes: frozenset[tuple[str, str, str]]
    blobs: frozenset[tuple[str, str]]
    referrers: frozenset[tuple[str, str, str]]
    files: frozenset[str]
    entries: frozenset[tuple[str | None, str]]
    # Internal errors and exit codes outside 0/1/2: never, whatever the input.
    unclean: tuple[str, ...] = field(default_factory=tuple)

    def components(self) -> dict[str, frozenset[Any]]:
        """Every set the property says may only shrink, by name."""
        return {
            "report: images verified (reference, digest)": self.passed,
            "report: signatures verified (image, signer, key, subject, blob)": self.signatures,
            # Beyond the letter (it names signatures): attestations are
            # verified facts of the report too.
            "report: attestations verified (image, signer, key, type, subject, blob)": self.attestations,
            "load plan: manifests (repository, tag-or-digest, digest)": self.pushes,
            "load plan: blobs (digest, repository)": self.blobs,
            "load plan: referrers (repository, subject, referrer)": self.referrers,
            "extract: files written": self.files,
            "extract: index.json entries (ref.name, digest)": self.entries,
        }


def _run(command: str, layout: Path, args: Sequence[str]) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = appliance([command, str(layout), "-o", "json", *args])
        except SystemExit as exc:  # argparse: a usage error is exit 2, never a crash
            code = exc.code if isinstance(exc.code, int) else 2
    text = out.getvalue()
    try:
        report = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        report = {"unparsed stdout": text[:200]}
    return Run(code=code, report=report, err=err.getvalue())


def observe(layout: Path, policy: Sequence[str], work: Path) -> Facts:
    """Verify, dry-run load and extract ``layout`` under ``policy`` flags; the facts.

    ``work`` is a fresh directory: the appliance's state (audit log,
    memories) and the extracted layout go there, so no run sees another's.
    """
    work.mkdir(parents=True)
    target = work / "extracted"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("APPLIANCE_STATE_DIR", str(work / "state"))
        runs = {
            "verify": _run("verify", layout, policy),
            "load": _run("load", layout, [*policy, "--to", GAP, "--dry-run"]),
            "extract": _run("extract", layout, [*policy, "--to", str(target)]),
        }
    facts = _facts(runs, target)
    shutil.rmtree(work, ignore_errors=True)
    return facts


def _facts(runs: dict[str, Run], target: Path) -> Facts:
    report = runs["verify"].report
    images = [i for i in report.get("images", []) if i.get("verified") is True]
    passed = {(i["reference"], i["digest"]) for i in images}
    signatures = {
        (
            i["reference"],
            i["digest"],
            s.get("signer"),
            s.get("key_id"),
            s["subject"],
            s["blob"],
        )
        for i in images
        for s in i.get("signatures", [])
        if s.get("verified") is True
    }
    attestations = {
        (
            i["reference"],
            i["digest"],
            a.get("signer"),
            a.get("key_id"),
            a.get("predicate_type"),
            a["subject"],
            a["blob"],
        )
        for i in images
        for a in i.get("attestations", [])
        if a.get("verified") is True
    }
    plan = runs["load"].report.get("load", {}).get("plan", {})
    index = target / "index.json"
    entries = (
        json.loads(index.read_bytes()).get("manifests", []) if index.is_file() else []
    )
    return Facts(
        codes={name: run.code for name, run in runs.items()},
        verified=report.get("verified") is True,
        passed=frozenset(passed),
        signatures=frozenset(signatures),
        attestations=frozenset(attestations),
        pushes=frozenset(
            (m["repository"], m["reference"], m["digest"])
            for m in plan.get("manifests", [])
        ),
        blobs=frozenset(
            (b["digest"], r) for b in plan.get("blobs", []) for r in b["repositories"]
        ),
        referrers=frozenset(
            (r["repository"], r["subject"], d)
            for r in plan.get("referrers", [])
            for d in r["referrers"]
        ),
        files=frozenset(
            str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()
        )
        if target.is_dir()
        else frozenset(),
        entries=frozenset(
            (
                e.get("annotations", {}).get("org.opencontainers.image.ref.name"),
                e["digest"],
            )
            for e in entries
        ),
        unclean=tuple(
            f"{name}: exit {run.code}, {_last_line(run.err)}"
            for name, run in runs.items()
            if run.code not in (0, 1, 2)
            or "internal error" in run.err
            or "Traceback" in run.err
        ),
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return next(
        (line for line in lines if "internal error" in line), lines[-1] if lines else ""
    )[:300]


@dataclass(frozen=True, slots=True, kw_only=True)
class Gain:
    """One way an edited archive's facts exceed the unedited one's."""

    component: str
    detail: str


def gains(before: Facts, after: Facts) -> list[Gain]:
    """Every breach of monotonicity from ``before`` (unedited) to ``after`` (edited)."""
    found = [
        Gain(component=f"exit code of {name}", detail=f"{before.codes[name]} -> 0")
        for name in COMMANDS
        if before.codes[name] != 0 and after.codes[name] == 0
    ]
    if after.verified and not before.verified:
        found.append(Gain(component="report: archive verified", detail="false -> true"))
    before_sets = before.components()
    for name, elements in after.components().items():
        extra = sorted(elements - before_sets[name], key=repr)
        if extra:
            shown = ", ".join(_short(e) for e in extra[:4])
            more = f" (+{len(extra) - 4} more)" if len(extra) > 4 else ""
            found.append(Gain(component=name, detail=f"gained {shown}{more}"))
    found += [Gain(component="clean failure", detail=u) for u in after.unclean]
    return found


def _short(element: object) -> str:
    """An element with its digests shortened (``sha256:36ddc081c039``)."""
    if isinstance(element, tuple):
        return "(" + ", ".join(_short(e) for e in element) + ")"
    text = str(element)
    if text.startswith("sha256:") and len(text) == 71:
        return text[:19]
    if text.startswith("blobs/sha256/"):
        return "blobs/sha256/" + text[13:25]
    return repr(text) if element is not None else "None"


def link_copy(source: Path, target: Path) -> None:
    """A copy of an extracted layout whose blobs are hard links (edits re-file, never rewrite)."""
    (target / "blobs" / "sha256").mkdir(parents=True)
    for name in ("oci-layout", "index.json"):
        shutil.copyfile(source / name, target / name)
    for blob in (source / "blobs" / "sha256").iterdir():
        os.link(blob, target / "blobs" / "sha256" / blob.name)
