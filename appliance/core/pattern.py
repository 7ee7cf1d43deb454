r"""Identity patterns with Go's RE2 semantics, in linear time.

cosign matches ``--certificate-identity-regexp`` and its siblings with Go's
``regexp`` package (RE2 syntax, ``MatchString``: searched, unanchored). Python's
``re`` differs in ways an attacker can choose a SAN to exploit: ``$`` also
matches before a trailing newline, ``\\d`` and ``\\w`` match non-ASCII digits
and letters, backreferences are accepted, and a pattern such as
``^(([a-z/:.-])+)+X$`` backtracks exponentially on a long SAN. So patterns are
compiled with ``google-re2`` (the maintained binding of the C++ library whose
syntax and guarantees Go's ``regexp`` implements): ``$`` only at the end of the
text, ASCII ``\\d``/``\\w``/``\\b``, no backreferences or lookaround, and matching
time linear in the SAN's length. ``tests/unit/core/test_pattern.py`` pins each
difference on a table of Go's behaviour.

An empty pattern is refused here: it would match every identity. The CLI and
the policy file treat an empty value as not given, as cosign does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re2

from appliance.core.errors import InputError

_OPTIONS = re2.Options()
# RE2 logs parse errors to stderr by default; we report them ourselves, once.
_OPTIONS.log_errors = False


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled identity pattern; ``text`` is what the operator wrote."""

    text: str
    _compiled: Any = field(repr=False, compare=False)

    def search(self, value: str) -> bool:
        """Tell whether the pattern matches anywhere in ``value`` (Go ``MatchString``)."""
        return self._compiled.search(value) is not None


def compile_pattern(text: str, *, where: str) -> Pattern:
    """Compile an operator's regular expression with RE2 semantics.

    Args:
        text: the pattern, in RE2 (Go ``regexp``) syntax.
        where: the flag or policy key that gave it, for messages.

    Raises:
        InputError: empty, or not a valid RE2 pattern.
    """
    if not text:
        msg = "an empty pattern would match anyone"
        raise InputError(msg, where=where)
    try:
        compiled = re2.compile(text, _OPTIONS)
    except UnicodeError as exc:  # a non-UTF-8 argument (surrogate-escaped)
        msg = "the pattern is not UTF-8 text"
        raise InputError(msg, where=where) from exc
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        msg = f"invalid regular expression (RE2 syntax, as cosign): {detail}"
        raise InputError(msg, where=where) from exc
    return Pattern(text, compiled)
