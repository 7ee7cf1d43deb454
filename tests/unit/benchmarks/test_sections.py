"""``python -m benchmarks [SECTION...]``: chosen sections, a listing, and a usage error for a stranger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import SECTIONS, main

ROOT = Path(__file__).parents[3]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_help_lists_every_section_in_the_table() -> None:
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    for name, (what, _) in SECTIONS.items():
        assert f"  {name} " in done.stdout
        assert what in done.stdout


def test_an_unknown_section_is_a_usage_error_naming_it() -> None:
    done = _run("verify", "nosuch")
    assert done.returncode == 2
    assert "unknown section 'nosuch'" in done.stderr
    assert done.stdout == ""  # nothing measured, nothing saved


@pytest.mark.parametrize("argv", [["--jobs"], ["-x"], [""], ["Verify"]])
def test_anything_but_a_section_name_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2


def test_the_table_names_sections_once_each_with_a_callable() -> None:
    # Section names are what `make bench ONLY=...` takes: plain words.
    assert all(name.isidentifier() and name.islower() for name in SECTIONS)
    assert all(what.strip() for what, _ in SECTIONS.values())
    assert len({run for _, run in SECTIONS.values()}) == len(SECTIONS)


def test_results_name_the_processor_and_the_crypto_library() -> None:
    # A ratio to the peer is mostly public-key time: without the processor
    # and the OpenSSL that did it, two results files cannot be compared.
    import cryptography  # noqa: PLC0415

    from benchmarks.__main__ import machine  # noqa: PLC0415

    found = machine()
    assert found["cryptography"] == cryptography.__version__
    assert str(found["openssl"]).startswith("OpenSSL ")
    assert isinstance(found["cpu"], str)
    assert found["cpu"]
    assert found["cpus"] == os.cpu_count()
    assert "C extension active" in str(found["pybase64"])  # and which codec
