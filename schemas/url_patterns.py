"""Guard on the registry's `article_url_pattern`: the regex that section-page links must match.

A pattern is analyst-written, but the URLs it runs on are attacker-chosen (any link on a section
page). Python's backtracking engine takes exponential time on a pattern such as
`^https?://[^/]+/(\\w+-?)+\\.html$` and a URL of 34 letters and `!`, holding discovery forever at
full CPU. Two layers keep that out:

1. at load, `check_url_pattern` rejects a pattern with a nested unbounded quantifier (a repeated
   group that itself contains a variable-length repeat), the shape behind almost every such case;
2. at match time, `transforms.sections` runs the pattern with the `regex` package under a time
   budget for the whole page, for what the shape check cannot see (overlapping alternatives).
"""

from __future__ import annotations

# The stdlib's own regex parser (re._parser, sre_parse before 3.11): the only parser of Python's
# regex syntax there is; the `regex` package compiles the same syntax but exposes no tree.
import re._constants as sre_constants
import re._parser as sre_parse
from typing import Any

import regex

__all__ = ["UnsafePatternError", "check_url_pattern", "compile_url_pattern"]

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}
_UNBOUNDED = sre_constants.MAXREPEAT
# An outer repeat allowed this many times or more counts as unbounded: (a+){1000} backtracks
# as badly as (a+)+.
_LARGE_REPEAT = 32


class UnsafePatternError(ValueError):
    """The pattern is not a valid regex, or has a shape known to backtrack catastrophically."""


def _subpatterns(argument: Any) -> list[Any]:
    """The parsed sub-sequences inside one node's argument (groups, branches, repeats)."""
    found: list[Any] = []
    if isinstance(argument, sre_parse.SubPattern):
        found.append(argument)
    elif isinstance(argument, tuple | list):
        for item in argument:
            found.extend(_subpatterns(item))
    return found


def _has_variable_repeat(pattern: Any) -> bool:
    for op, argument in pattern:
        if op == sre_constants.ATOMIC_GROUP:
            continue  # (?>...) never gives back what it matched: no backtracking into it
        if op in _REPEATS:
            low, high, _body = argument
            if low != high:
                return True
        if any(_has_variable_repeat(sub) for sub in _subpatterns(argument)):
            return True
    return False


def _nested_quantifier(pattern: Any) -> bool:
    for op, argument in pattern:
        if op in _REPEATS and op != sre_constants.POSSESSIVE_REPEAT:
            _low, high, body = argument
            if (high == _UNBOUNDED or high >= _LARGE_REPEAT) and _has_variable_repeat(body):
                return True
        if any(_nested_quantifier(sub) for sub in _subpatterns(argument)):
            return True
    return False


def check_url_pattern(pattern: str) -> None:
    """Raise `UnsafePatternError` for an invalid pattern or one with nested quantifiers.

    Returns None for a pattern that is safe to load; the reason in the error says which.
    """
    try:
        regex.compile(pattern)
    except regex.error as error:
        raise UnsafePatternError(f"invalid regular expression: {error}") from error
    try:
        parsed = sre_parse.parse(pattern)
    except sre_constants.error:
        # Syntax only the `regex` engine knows (\p{L}, ...): the match-time budget still holds.
        return
    if _nested_quantifier(parsed):
        raise UnsafePatternError(
            "nested quantifier (a repeated group containing a variable repeat, e.g. (\\w+-?)+) "
            "can take exponential time on a hostile URL: write it without the nesting "
            "(e.g. [\\w-]+) or make the group atomic, (?>...)"
        )


def compile_url_pattern(pattern: str) -> regex.Pattern[str]:
    """Compile a checked pattern with the `regex` engine (whose `search` takes a timeout)."""
    check_url_pattern(pattern)
    return regex.compile(pattern)
