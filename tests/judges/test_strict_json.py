"""The strict JSON reader of provider replies: every way Python's json module is lax or
crashes becomes a StrictJsonError naming the problem."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cjgrade.judges.strict_json import (
    MAX_JSON_DEPTH,
    StrictJsonError,
    find_last_object,
    load_strict_json,
)


@pytest.mark.parametrize(("text", "reason"), [
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ('{"x": {"a": 1, "b": 2, "a": 3}}', "duplicate key 'a'"),
    ('{"a": NaN}', "NaN is not a JSON number"),
    ('[Infinity]', "Infinity is not a JSON number"),
    ('[-Infinity]', "-Infinity is not a JSON number"),
    ('[1e400]', "1e400 does not fit a 64-bit float"),
    ('[-1e400]', "-1e400 does not fit a 64-bit float"),
    ("[" + "1" * 5000 + "]", "a number of 5000 digits"),
    ("[" + "1." + "0" * 100 + "]", "a number of 102 characters"),
    ("[" * 100_000 + "]" * 100_000, f"nested more than {MAX_JSON_DEPTH} levels deep"),
    ('{"a": ' * 65 + "1" + "}" * 65, f"nested more than {MAX_JSON_DEPTH} levels deep"),
])
def test_lax_or_crashing_json_is_refused_by_name(text: str, reason: str) -> None:
    """Duplicates (not last-wins), non-JSON constants, out-of-range or over-long numbers and
    deep nesting (no RecursionError) are refused with the reason; it is not a syntax error."""
    with pytest.raises(StrictJsonError, match=reason.replace("(", r"\(")) as caught:
        load_strict_json(text)
    assert not caught.value.syntax


@pytest.mark.parametrize("text", ['{"id": "x", "choi', "", "not json", b"\xff\xfe{}"])
def test_text_that_is_not_json_is_a_syntax_error(text: str | bytes) -> None:
    """Cut-off or non-JSON text (or invalid UTF-8) is marked as a syntax error."""
    with pytest.raises(StrictJsonError) as caught:
        load_strict_json(text)
    assert caught.value.syntax


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """Nesting is counted outside strings only: a justification full of brackets is fine."""
    text = json.dumps({"justification": "[" * 500 + "{" * 500, "winner": "A"})
    assert load_strict_json(text)["winner"] == "A"
    exactly = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_strict_json(exactly) is not None


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
))
def test_strict_json_reads_what_json_writes(value: object) -> None:
    """Any document the json module writes (finite numbers, unique keys) reads back equal."""
    assert load_strict_json(json.dumps(value)) == value


def test_the_last_usage_object_is_found_in_a_reply_that_is_invalid_as_a_whole() -> None:
    """A provider's usage report can be read from a reply that fails as a whole; a "usage" the
    model wrote inside its answer (escaped, or earlier in the body) is not taken for it."""
    body = ('{"content": [{"input": {"usage": {"input_tokens": 1}, "confidence": NaN, '
            '"justification": "\\"usage\\": {\\"input_tokens\\": 2}"}}], '
            '"usage": {"input_tokens": 120, "cache_creation": {"ephemeral_5m": 0}, '
            '"output_tokens": 45}}')
    found = find_last_object(body, "usage")
    assert found is not None
    assert load_strict_json(found) == {"input_tokens": 120, "cache_creation": {"ephemeral_5m": 0},
                                       "output_tokens": 45}
    assert find_last_object('{"a": 1}', "usage") is None
