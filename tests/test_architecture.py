"""The repository's shape: import rules, and citations that stay inside it.

Import rules keep the appliance offline and the trust anchor independent; four
layers guard them (docs/development.md §2): import-linter contracts, ruff's
banned API rule, this module's check of what is really loaded, and the seal.

The repository stands alone: every ``docs/FILE.md §N`` cited by the code, the
tests, the configuration, the README and the documents themselves names a
file in ``docs/`` and a heading numbered N in it, and nothing cites a document
that lives outside the repository.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# Never loaded by the sealed appliance's verification path. urllib3 is absent
# from this list on purpose: tuf imports it at module scope (loaded, never used;
# the seal stops any use).
FORBIDDEN = (
    "bundle_tools",
    "oras",
    "requests",
    "httpx",
    "http.client",
    "urllib.request",
    "sigstore",
)


def _loaded_by(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stdout))


def test_import_contracts_hold() -> None:
    done = subprocess.run(
        [Path(sys.executable).parent / "lint-imports"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    "statement",
    [
        "import appliance.cli.main",
        "import appliance.core",
        "import appliance.__main__",
        # The verify path: its view and its action load no registry client.
        "import appliance.cli.verify_cmd",
        "import appliance.actions.verify",
    ],
)
def test_appliance_loads_no_network_clients(statement: str) -> None:
    loaded = _loaded_by(statement)
    leaked = sorted(
        m for m in loaded for f in FORBIDDEN if m == f or m.startswith(f + ".")
    )
    assert leaked == []


def test_core_loads_no_presentation_or_edge_libraries() -> None:
    loaded = _loaded_by("import appliance.core")
    for name in ("rich", "textual", "tuf", "pkcs11", "zstandard", "oras"):
        assert name not in loaded


def test_verify_blob_starts_without_the_archive_verification() -> None:
    """One bundle per process: its start-up pays for no archive machinery (benchmarks: per process)."""
    loaded = _loaded_by("import appliance.cli.verify_blob")
    for name in (
        "appliance.actions.verify",
        "appliance.core.archive.verify",
        "airlock_io.archive",
        "zstandard",
        "rich",
    ):
        assert name not in loaded


def _imports_of(package: Path) -> set[str]:
    found: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_trustroot_imports_nothing_of_ours() -> None:
    assert _imports_of(ROOT / "trustroot") & {"appliance", "bundle_tools"} == set()


def test_sigstore_python_is_a_test_only_oracle() -> None:
    for package in (
        ROOT / "appliance",
        ROOT / "trustroot",
        ROOT / "bundle-tools" / "bundle_tools",
    ):
        assert "sigstore" not in _imports_of(package), package


# -- citations -------------------------------------------------------------------

DOCS = ROOT / "docs"
# Files that may cite a document: code, tests, configuration and prose.
_CITING_SUFFIXES = frozenset({".py", ".js", ".toml", ".md", ".cfg", ".spec"})
_CITING_NAMES = frozenset({"Makefile"})
_SKIPPED_DIRECTORIES = frozenset(
    {"node_modules", "__pycache__", "demo-out", "__snapshots__", "results"}
)
# ``docs/FILE.md`` then one or more sections: ``§2``, ``§10.1``, ``§1, §3``,
# ``§7-§8``; a Markdown link may close between the name and the sections.
_CITATION = re.compile(
    r"docs/([A-Za-z0-9_-]+\.md)[`)\]]*((?:[ ,;\-\u2013]*(?:and )?§[0-9]+(?:\.[0-9]+)*)+)"
)
_SECTION = re.compile(r"§([0-9]+(?:\.[0-9]+)*)")
# Any markdown file cited by section: outside docs/, only docs/ files may be.
_ANY_SECTION_CITATION = re.compile(r"([A-Za-z0-9_./-]+\.md)[`)\]'\"]*\s*§")
_HEADING = re.compile(r"^#{1,6}\s+([0-9]+(?:\.[0-9]+)*)\.?\s", re.MULTILINE)
# Documents that once lived outside the repository, spelled so that this file
# does not cite them itself.
_OUTSIDE = re.compile(
    r"\b(?:" + "formats|environment|style|DEVELOPERS" + r")\.md\b|shared/" + "docs"
)


def _headings(text: str) -> frozenset[str]:
    """The section numbers a document's headings carry (``2``, ``10.1``)."""
    return frozenset(_HEADING.findall(text))


def _problems(
    text: str, docs: dict[str, frozenset[str]], *, in_docs: bool
) -> list[str]:
    """What is wrong with the citations in ``text``, given ``docs``' headings."""
    found = []
    for match in _CITATION.finditer(text):
        name = match.group(1)
        sections = _SECTION.findall(match.group(2))
        if name not in docs:
            found.append(f"docs/{name} does not exist")
            continue
        found += [
            f"docs/{name} has no section {number}"
            for number in sections
            if number not in docs[name]
        ]
    if not in_docs:
        found += [
            f"{m.group(1)} is cited by section but is not a document in docs/"
            for m in _ANY_SECTION_CITATION.finditer(text)
            if not re.fullmatch(r"docs/[A-Za-z0-9_-]+\.md", m.group(1))
        ]
    found += [
        f"cites {m.group(0)!r}, which is not in the repository"
        for m in _OUTSIDE.finditer(text)
    ]
    return found


def _repository_docs() -> dict[str, frozenset[str]]:
    return {p.name: _headings(p.read_text()) for p in sorted(DOCS.glob("*.md"))}


def _citing_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT).parts
        if any(
            part.startswith(".") or part in _SKIPPED_DIRECTORIES for part in relative
        ):
            continue
        if not path.is_file():
            continue
        if path.suffix in _CITING_SUFFIXES or path.name in _CITING_NAMES:
            found.append(path)
    return found


def test_every_cited_section_is_in_the_repository() -> None:
    docs = _repository_docs()
    problems = []
    cited = 0
    for path in _citing_files():
        text = path.read_text(errors="replace")
        cited += len(_CITATION.findall(text))
        problems += [
            f"{path.relative_to(ROOT)}: {problem}"
            for problem in _problems(text, docs, in_docs=path.parent == DOCS)
        ]
    assert problems == []
    assert cited > 50  # the scan saw the code's citations, not an empty tree


def test_every_document_has_numbered_sections() -> None:
    docs = _repository_docs()
    assert set(docs) >= {
        "README.md",
        "archive.md",
        "oci.md",
        "cosign.md",
        "bundle.md",
        "verification.md",
        "trust.md",
        "signing.md",
    }
    assert all(numbers for name, numbers in docs.items() if name != "README.md")


# Spelled apart, so that these examples are not citations by this file.
D = "docs" + "/"
S = "\N{SECTION SIGN}"
_DOCS = {"oci.md": frozenset({"1", "2", "5", "5.3"})}


@pytest.mark.parametrize(
    "text",
    [
        f"see {D}oci.md {S}1",
        f"({D}oci.md {S}5.3)",
        f"{D}oci.md {S}1, {S}2 and {S}5",
        f"({D}oci.md {S}1-{S}2)",
        f"[`{D}oci.md`]({D}oci.md) {S}5",
        f"# Our hardening ({D}oci.md {S}5, step 4)",
        "RFC 6962 §3.2 and TUF specification §5",
        'image-spec `descriptor.md`, "Digests"',
    ],
)
def test_a_citation_in_the_repository_passes(text: str) -> None:
    assert _problems(text, _DOCS, in_docs=False) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"see {D}oci.md {S}3", f"{D}oci.md has no section 3"),
        (f"see {D}oci.md {S}5.4", f"{D}oci.md has no section 5.4"),
        (f"{D}oci.md {S}1, {S}9", f"{D}oci.md has no section 9"),
        (f"{D}oci.md {S}1-{S}4", f"{D}oci.md has no section 4"),
        (f"see {D}tls.md {S}1", "docs/tls.md does not exist"),
        ("per " + "formats" + ".md " + S + "6.1", "not a document in docs/"),
        ("per " + "formats" + ".md", "not in the repository"),
        ("(" + "style" + " guide: " + "style" + ".md)", "not in the repository"),
        ("see ../" + "shared/" + "docs/x", "not in the repository"),
        ("see spec/" + "README" + ".md " + S + "2", "not a document in docs/"),
    ],
)
def test_a_citation_outside_the_repository_fails(text: str, problem: str) -> None:
    problems = _problems(text, _DOCS, in_docs=False)
    assert any(problem in p for p in problems), problems
