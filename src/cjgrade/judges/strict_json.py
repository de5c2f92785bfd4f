"""Strict JSON for provider replies: what a judge sends back is read by this one parser.

Python's ``json`` module accepts things JSON does not (``NaN``, ``Infinity``), keeps the last of
two equal keys, turns ``1e400`` into ``inf``, refuses integers of more than 4,300 digits with a
``ValueError`` and gives up on deep nesting with a ``RecursionError``. Any of these in a judge
reply crashed the run. Here every one of them is a :class:`StrictJsonError` with a reason that
names the problem, which the adapters turn into
:class:`~cjgrade.errors.JudgeOutputInvalid` (a reply outside the contract).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_CHARS",
    "StrictJsonError",
    "find_last_object",
    "load_strict_json",
    "show_value",
]

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted. A provider reply is about 6 levels deep (an
OpenAI completion with logprobs); a verdict is 1."""

MAX_NUMBER_CHARS = 40
"""Longest number literal accepted (token counts and log-probabilities need far fewer)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class StrictJsonError(ValueError):
    """A document that is not strict JSON within the limits above.

    ``syntax`` is True when the text is not JSON at all (cut off, not a document), False when
    it is JSON that breaks a rule (a duplicate key, ``NaN``, a number out of range, too deep).
    """

    def __init__(self, message: str, *, syntax: bool = False) -> None:
        super().__init__(message)
        self.syntax = syntax


def load_strict_json(text: str | bytes) -> Any:
    """Decode one JSON document strictly.

    Raises
    ------
    StrictJsonError
        For invalid UTF-8 or JSON syntax (``syntax=True``), and for a duplicate key in an
        object, ``NaN``/``Infinity``, a number that does not fit a float or has more than
        :data:`MAX_NUMBER_CHARS` characters, or nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJsonError(f"not UTF-8 ({exc.reason} at byte {exc.start})",
                                  syntax=True) from None
    depth = _nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise StrictJsonError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_constant,
                          parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise StrictJsonError(f"not valid JSON ({exc.msg} at char {exc.pos})",
                              syntax=True) from None
    except RecursionError:  # only reachable with a tiny recursion limit: the depth is checked
        raise StrictJsonError("JSON nested too deeply to read") from None


def find_last_object(text: str, key: str) -> str | None:
    """The text of the last ``"key": {...}`` object in ``text`` (up to one level of nested
    objects), for reading a provider's usage report out of a reply that is not valid as a
    whole; None when there is none. Providers put ``usage`` after the content, so the last
    one is theirs, not one the model wrote inside its answer."""
    string = r'"(?:[^"\\]|\\.)*"'
    flat = r"\{(?:[^{}\"]|" + string + r")*\}"
    pattern = re.compile('"' + re.escape(key) + r'"\s*:\s*(\{(?:[^{}"]|' + string + "|"
                         + flat + r")*\})", re.DOTALL)
    found = None
    for found in pattern.finditer(text):
        pass
    return found.group(1) if found is not None else None


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (linear; no recursion)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJsonError(f"duplicate key {show_value(key, 40)} in a JSON object")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number")


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise StrictJsonError(f"a number of {len(literal)} characters "
                              f"(at most {MAX_NUMBER_CHARS})")
    value = float(literal)
    if not math.isfinite(value):
        raise StrictJsonError(f"the number {literal} does not fit a 64-bit float")
    return value


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise StrictJsonError(f"a number of {len(literal)} digits (at most {MAX_NUMBER_CHARS})")
    return int(literal)


def show_value(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages about judge output."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # a deeply nested value, an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
