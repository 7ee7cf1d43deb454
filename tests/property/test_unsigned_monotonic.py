"""Unsigned archive data can only add failures (issue 19: "Monotonicity, tested as a property").

The ledger and ``index.json`` with its annotations are signed by nobody:
whoever handles the media can edit them and re-file every digest
consistently, but cannot forge a signature. So for every such edit, compared
with the unedited archive under the same policy, trust and clock, nothing
the gate lets through may grow: no image (reference, digest) that failed
passes, the archive never turns verified, ``load``'s push plan gains no
manifest, tag, blob or referrer (a manifest under another repository or tag
is a gain), ``extract`` writes no new file or name, and the report's
verified images, signatures and attestations gain nothing.

The edits are generated from the real documents of three real exports
(tests/helpers/unsigned_edits.py): the shared world and its troubles; one
digest exported under two references that two rules judge differently (one
passes, one is refused); and an export narrowed with ``--platform``. The
policy has a rule per image class, so that renames cross rules. Each case
verifies, dry-run loads and extracts in this process
(tests/helpers/gate_facts.py). The default run takes a fixed sample covering
every class of edit; the complete list and seeded combinations of several
edits run under ``slow``. A failure names each edit and which part of the
property it broke.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from appliance.core import trust_artifact
from tests.helpers import netguard
from tests.helpers.archives import extract
from tests.helpers.exported import export_more
from tests.helpers.gate_facts import GAP, Facts, Gain, gains, link_copy, observe
from tests.helpers.layout_edit import Layout
from tests.helpers.sigstore_stack.stack import DEFAULT_ISSUER
from tests.helpers.unsigned_edits import (
    Edit,
    apply_edits,
    combinations,
    names_of,
    signed_repositories,
    single_edits,
)
from tests.helpers.world import IDENTITY, publish_alias

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from tests.helpers.exported import Exported

pytestmark = pytest.mark.registry

SLSA = "https://slsa.dev/provenance/v1"
# One rule per class of image, so that a rename moves an image across rules;
# `uncovered/` is covered by none; `verify/staging` (which `moved`'s signature
# names) only by the last.
POLICY = f"""
version = 1

[[rules]]  # app: both release signers, and its provenance
match = ["**/verify/app"]
threshold = 2
require_attestations = ["{SLSA}"]

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

  [[rules.signers]]
  key = "release.pub"

[[rules]]  # app's digest under another name: the key alone (its payload names app)
match = ["**/verify/alias"]

  [[rules.signers]]
  key = "release.pub"

[[rules]]  # indexes: every platform signed as well; arm64 may be left out
match = ["**/verify/multi", "**/verify/shallow"]
each_platform = true
platforms = ["linux/amd64"]

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

[[rules]]  # elsewhere: a provenance about itself (it carries one about app)
match = ["**/verify/elsewhere"]
require_attestations = ["{SLSA}"]

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"

[[rules]]  # the rest of the namespace
match = ["**/verify/*"]

  [[rules.signers]]
  identity = "{IDENTITY}"
  issuer = "{DEFAULT_ISSUER}"
"""
# Cases per archive in the default run (each costs a verify, a dry-run load
# and an extract in process: 0.1 s to 0.3 s by archive on the shared 2-CPU
# machine); the slow run takes every edit, and these many combinations.
SAMPLE = {"world": 48, "alias": 20, "platform": 20}
COMBINATIONS = {"world": 60, "alias": 30, "platform": 30}
SEED = 19
ARCHIVES = ("world", "alias", "platform")


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """One exported archive, extracted, with its policy, its unedited facts and its edits."""

    name: str
    layout: Path
    policy: tuple[str, ...]
    baseline: Facts
    edits: tuple[Edit, ...]


@pytest.fixture(scope="module")
def subjects(
    exported: Exported, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Subject]:
    """Each archive under test, exported, extracted and judged unedited once (on first use)."""
    base = tmp_path_factory.mktemp("monotonic")
    shutil.copyfile(exported.key, base / "release.pub")
    (base / "policy.toml").write_text(POLICY)
    policy = (
        "--policy",
        str(base / "policy.toml"),
        "--trusted-root",
        str(exported.root),
    )
    made: dict[str, Subject] = {}

    def archive(name: str) -> Path:
        if name == "world":
            return exported.archive
        where = tmp_path_factory.mktemp(f"export-{name}")
        if name == "alias":
            with netguard.loopback():
                alias = publish_alias(exported.world)
            return export_more(exported, where, [exported.ref("app"), alias])
        return export_more(
            exported,
            where,
            [exported.ref("multi"), exported.ref("shallow")],
            "--platform",
            "linux/amd64",
        )

    def subject(name: str) -> Subject:
        if name not in made:
            layout = extract(archive(name), base / name)
            baseline = observe(layout, policy, base / f"{name}-baseline")
            edited = Layout(layout)
            names = names_of(
                edited.ledger,
                edited.index,
                passed=set(baseline.passed),
                signed=signed_repositories(edited),
                uncovered=f"{exported.world.registry.address}/uncovered/app",
            )
            made[name] = Subject(
                name=name,
                layout=layout,
                policy=policy,
                baseline=baseline,
                edits=tuple(single_edits(edited.ledger, edited.index, names)),
            )
        return made[name]

    return subject


# -- the cases -------------------------------------------------------------------------

Breach = tuple[list[Edit], list[Gain]]


def _case(subject: Subject, edits: Sequence[Edit], work: Path) -> Breach:
    """File ``edits`` into a copy of the archive and judge it: what applied, and every gain."""
    copy = work / "layout"
    link_copy(subject.layout, copy)
    applied = apply_edits(Layout(copy), edits)
    found = gains(subject.baseline, observe(copy, subject.policy, work / "run"))
    shutil.rmtree(work, ignore_errors=True)
    return applied, found


def _check(subject: Subject, cases: Sequence[Sequence[Edit]], work: Path) -> None:
    """Run every case; fail naming each edit that let more through, and how."""
    breaches: list[Breach] = []
    for n, edits in enumerate(cases):
        applied, found = _case(subject, edits, work / f"case-{n}")
        # The first edit meets the documents it was made from: it always applies.
        assert applied, f"no edit of case {n} applied: {[e.describe() for e in edits]}"
        if found:
            breaches.append((applied, found))
    if breaches:
        pytest.fail(_explain(subject, len(cases), breaches, work), pytrace=False)


def _explain(subject: Subject, total: int, breaches: list[Breach], work: Path) -> str:
    """Which edits broke which part of the property: counts by class, then each case."""
    by_class = Counter(
        (
            f"{edits[0].doc} {edits[0].cls}"
            if len(edits) == 1
            else f"{len(edits)} edits combined",
            component,
        )
        for edits, found in breaches
        for component in dict.fromkeys(g.component for g in found)
    )
    passed = sorted(reference for reference, _ in subject.baseline.passed)
    lines = [
        (
            f"{len(breaches)} of {total} edited {subject.name} archives let more "
            f"through than the unedited one (which passed {passed})"
        ),
        "edit class -> part of the property broken: cases",
        *(f"  {cls} -> {part}: {n}" for (cls, part), n in by_class.most_common()),
        "each case (the edits, then what they gained):",
    ]
    for edits, found in breaches:
        lines += [f"  {e.describe()}" for e in edits]
        lines += [f"      {g.component}: {g.detail}" for g in found]
    full = work / "breaches.txt"
    full.write_text("\n".join(lines) + "\n")
    if len(lines) > 400:
        lines = [*lines[:400], f"... {len(lines) - 400} more lines in {full}"]
    return "\n".join(lines)


def _sample(edits: Sequence[Edit], count: int, seed: int) -> list[Edit]:
    """A fixed sample of ``count`` edits, taken in turn from each class of edit of each document."""
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[Edit]] = {}
    for edit in edits:
        groups.setdefault((edit.doc, edit.cls), []).append(edit)
    for group in groups.values():
        rng.shuffle(group)
    chosen: list[Edit] = []
    while len(chosen) < min(count, len(edits)):
        for group in groups.values():
            if group and len(chosen) < count:
                chosen.append(group.pop())
    return chosen


# -- the property ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARCHIVES)
def test_no_single_edit_of_unsigned_data_lets_more_through(
    subjects: Callable[[str], Subject], name: str, tmp_path: Path
) -> None:
    """A fixed sample of the single edits, every class of edit of each document in it."""
    subject = subjects(name)
    cases = [(e,) for e in _sample(subject.edits, SAMPLE[name], SEED)]
    _check(subject, cases, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHIVES)
def test_no_edit_in_the_complete_list_lets_more_through(
    subjects: Callable[[str], Subject], name: str, tmp_path: Path
) -> None:
    """Every single edit of the ledger and index.json (tests/helpers/unsigned_edits.py)."""
    subject = subjects(name)
    _check(subject, [(e,) for e in subject.edits], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHIVES)
def test_no_combination_of_edits_lets_more_through(
    subjects: Callable[[str], Subject], name: str, tmp_path: Path
) -> None:
    """Seeded combinations of two to four edits (an adversary edits more than one field)."""
    subject = subjects(name)
    _check(
        subject,
        combinations(subject.edits, count=COMBINATIONS[name], seed=SEED),
        tmp_path,
    )


# -- the unedited archives: what the property is measured against -----------------------------


def _repository(reference: str) -> str:
    """Where ``load --to GAP`` puts a reference: its path under the prefix (host and tag dropped)."""
    return f"{GAP.split('/', 1)[1]}/{_name(reference).split('/', 1)[1]}"


@pytest.mark.parametrize("name", ARCHIVES)
def test_the_unedited_archive_pushes_and_writes_only_what_passed(
    subjects: Callable[[str], Subject], name: str
) -> None:
    """Each archive both passes and refuses, and nothing of a refused reference leaves it.

    The property compares every edit with this baseline, so the baseline must
    itself keep the rule: a digest shared by a passed and a refused reference
    is pushed and written only under the passed one.
    """
    facts = subjects(name).baseline
    assert not facts.unclean, facts.unclean
    assert facts.passed, "nothing passed: the property would have no teeth"
    assert facts.codes["verify"] == 1, "nothing was refused: the policy does not bite"
    for reference, digest in facts.passed:
        repo, tag = _repository(reference), reference.rsplit(":", 1)[-1]
        assert {d for r, t, d in facts.pushes if (r, t) == (repo, tag)} <= {digest}, (
            f"{reference} is pushed naming another digest than the one that passed"
        )
    pushed_to = {_repository(r) for r, _ in facts.passed}
    assert {repo for repo, _, _ in facts.pushes} <= pushed_to, (
        "load pushes into a refused reference's repository"
    )
    assert {repo for _, repo in facts.blobs} <= pushed_to, (
        "load sends blobs to a refused reference's repository"
    )
    named = {_name(r) for r, _ in facts.passed}
    # The appliance's own trust artifact (its held roots, operator-side, never
    # the archive's) is the one other name a layout carries (docs/handoff.md §2).
    written = {_name(n) for n, _ in facts.entries if n is not None} - {
        trust_artifact.REPOSITORY
    }
    assert written <= named, "extract names a refused reference's repository"


def _name(reference: str) -> str:
    """``registry/repository`` of a reference (its tag or digest dropped)."""
    name = reference.split("@", maxsplit=1)[0]
    head, sep, tag = name.rpartition(":")
    return head if sep and "/" not in tag else name
