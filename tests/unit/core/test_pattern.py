"""Identity patterns behave as Go's regexp (RE2), not as Python's re.

The expected column is what Go's ``regexp.MustCompile(p).MatchString(s)``
returns (Go 1.22 semantics, documented in the regexp/syntax package): ``$``
matches only at the end of the text, ``\\d``/``\\w``/``\\b`` are ASCII, there
are no backreferences or lookaround, and matching is linear.
"""

from __future__ import annotations

import re
import time

import pytest

from appliance.core.errors import InputError
from appliance.core.pattern import compile_pattern

REPO = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1"


@pytest.mark.parametrize(
    ("pattern", "value", "go"),
    [
        (r"^https://github\.com/org/", REPO, True),
        (r"repo", REPO, True),  # unanchored search, as MatchString
        (r"v1$", REPO, True),
        (r"v1$", REPO + "\n", False),  # Python's re: True
        (r"^a$", "a\n", False),  # Python's re: True
        (r"^\d+$", "١٢٣", False),  # Arabic-Indic digits; Python's re: True
        (r"^\w+$", "é", False),  # Python's re: True
        (r"\bx\b", "éxé", True),  # ASCII word boundary; Python's re: False
        (r"(?i)^DEV@", "dev@airlock.test", True),
        (r"^dev@airlock\.test$", "dev@airlock.test", True),
        (r"^dev@airlock.test$", "dev@airlockXtest", True),  # . is any character
    ],
)
def test_matches_as_go_does(pattern: str, value: str, go: bool) -> None:
    assert compile_pattern(pattern, where="t").search(value) is go


@pytest.mark.parametrize(
    ("pattern", "python_too"),
    [
        (r"v1$", True),
        (r"^\d+$", True),
        (r"^\w+$", True),
    ],
)
def test_python_re_would_have_disagreed(pattern: str, python_too: bool) -> None:
    """The table above is not vacuous: Python's re really answers otherwise."""
    values = {r"v1$": REPO + "\n", r"^\d+$": "١٢٣", r"^\w+$": "é"}
    assert (re.search(pattern, values[pattern]) is not None) is python_too
    assert compile_pattern(pattern, where="t").search(values[pattern]) is False


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"(?=x)", r"(?<=x)y", r"(?!x)", "(", "a{2,1}", "[z-a]"]
)
def test_what_go_refuses_is_refused(pattern: str) -> None:
    with pytest.raises(InputError, match="invalid regular expression"):
        compile_pattern(pattern, where="--certificate-identity-regexp")


def test_empty_pattern_matches_no_one() -> None:
    with pytest.raises(InputError, match="empty pattern"):
        compile_pattern("", where="--certificate-identity-regexp")


def test_non_utf8_pattern_is_refused() -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        compile_pattern("a\udcff", where="--certificate-identity-regexp")


def test_catastrophic_pattern_runs_in_linear_time() -> None:
    # Python's re runs past two minutes on this (the review measured it).
    pattern = compile_pattern(r"^(([a-z/:.-])+)+X$", where="t")
    san = "https://github.com/" + "a" * 100_000
    start = time.perf_counter()
    assert pattern.search(san) is False
    assert time.perf_counter() - start < 1.0  # a guard, not a benchmark
