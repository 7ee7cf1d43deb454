"""Import rules that keep the appliance offline and the trust anchor independent.

Four layers guard them (style.md §1.2): import-linter contracts, ruff's banned
API rule, this module's check of what is really loaded, and the seal.
"""

from __future__ import annotations

import ast
import json
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
    ["import appliance.cli.main", "import appliance.core", "import appliance.__main__"],
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
