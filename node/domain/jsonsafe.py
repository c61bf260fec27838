"""JSON from another node, parsed without letting the text choose the cost or the error.

`json.loads` alone is not safe on foreign input: it recurses once per nesting level, so a
few kilobytes of ``[[[[…`` raise RecursionError (or, deep enough in an already deep stack,
worse); an integer literal of more than 4,300 digits raises a plain ValueError (and below
that limit costs time quadratic in its length); ``NaN``, ``Infinity`` and ``1e999`` parse to
floats no JSON document can carry. :func:`loads` refuses all of these with one error type,
:class:`JSONError` (a ValueError, so existing ``except ValueError`` boundaries keep working):

* nesting is measured *before* parsing by :func:`nesting_depth`, a linear scan that counts
  brackets outside strings, and anything deeper than `max_depth` is refused;
* integer literals longer than `max_int_digits` digits are refused (whatever
  ``sys.set_int_max_str_digits`` says);
* ``NaN``/``Infinity``/``-Infinity`` and float literals that overflow to infinity are
  refused;
* bytes are decoded exactly as ``json.loads`` decodes them (UTF-8/16/32, UTF-8 BOM).

Pure (no I/O), so both the domain (child summaries) and the federation adapters (gRPC
payloads, stream messages) use it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "JSONError", "loads", "nesting_depth"]

#: Deepest nesting accepted (the deepest legitimate document, a summary with its children,
#: nests 4 levels); far below the ~1000 frames at which the parser would raise RecursionError.
MAX_DEPTH = 32
#: Longest integer literal accepted (sign excluded): 40 digits is beyond 2**128.
MAX_INT_DIGITS = 40

#: the next character that matters for nesting: a bracket or the start of a string
_SPECIAL = re.compile(r'[\[\]{}"]')
#: a complete JSON string starting at the quote (unrolled, so it never backtracks badly)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = frozenset("[{")


class JSONError(ValueError):
    """Text that is not JSON this system accepts from another node."""


def nesting_depth(text: str, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in `text`, brackets inside strings aside.

    For valid JSON this is exactly the depth the parser reaches; for anything else it is at
    least the depth the parser reaches before it fails (the scan stops where a string never
    ends, because the parser stops there too). Linear in ``len(text)``; with `stop_above`,
    returns as soon as the depth exceeds it.
    """
    opening = text.count("[") + text.count("{")
    if stop_above is not None and opening <= stop_above:
        return opening  # cheap, and enough: it cannot be deeper than its opening brackets
    depth = deepest = 0
    pos = 0
    search, match = _SPECIAL.search, _STRING.match
    while (found := search(text, pos)) is not None:
        char = found.group()
        if char == '"':
            string = match(text, found.start())
            if string is None:  # an unterminated string: the parser fails here
                break
            pos = string.end()
            continue
        pos = found.end()
        if char in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        elif depth:
            depth -= 1
    return deepest


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JSONError(f"a number out of range ({literal[:20]}…)")
    return value


def _parse_constant(name: str) -> Any:
    raise JSONError(f"{name} is not JSON")


def loads(raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `raw` as ``json.loads`` would, or raise :class:`JSONError` (never anything
    else) for text that is not JSON, nests deeper than `max_depth`, or carries numbers
    out of range."""
    try:
        if isinstance(raw, (bytes, bytearray)):
            text = bytes(raw).decode(json.detect_encoding(raw), "surrogatepass")
        else:
            text = raw
        depth = nesting_depth(text, stop_above=max_depth)
        if depth > max_depth:
            raise JSONError(f"nested deeper than {max_depth} levels")
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_parse_constant)
    except JSONError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, …
        raise JSONError(f"not JSON: {str(exc)[:200]}") from None
