"""The verdict contract: schema and parser agree, no default winner, p_a mappings."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cjgrade.errors import (
    JudgeAuthError,
    JudgeError,
    JudgeOutputInvalid,
    JudgeRateLimited,
    JudgeUnavailable,
)
from cjgrade.judges.base import Verdict, Winner
from cjgrade.judges.verdict import (
    CONFIDENCE_MEANINGS,
    CONFIDENCE_TO_P_CHOSEN,
    JUSTIFICATION_MAX_CHARS,
    RAW_RESPONSE_MAX_CHARS,
    VERDICT_SCHEMA,
    TokenLogprob,
    checked_verdict,
    classify_status,
    keep_raw,
    openai_response_schema,
    p_a_from_confidence,
    p_a_from_logprobs,
    parse_retry_after,
    parse_verdict_json,
    parse_verdict_payload,
    token_count,
)


def valid(**overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {"justification": "A is clearer.", "winner": "A",
                                  "confidence": 3}
    payload.update(overrides)
    return payload


@pytest.mark.parametrize("confidence", [1, 2, 3, 4, 5, 3.0])
def test_valid_payload_parses(confidence: float) -> None:
    """Every integer confidence 1-5 (also 3.0 from a lax encoder) is accepted as an int."""
    parsed = parse_verdict_payload(valid(confidence=confidence, winner="B"))
    assert parsed.winner is Winner.B
    assert parsed.confidence == int(confidence) and isinstance(parsed.confidence, int)


@pytest.mark.parametrize(
    "payload",
    [
        valid(winner="Essay A"),
        valid(winner="a"),
        valid(winner=""),
        valid(winner=None),
        valid(confidence=0),
        valid(confidence=6),
        valid(confidence=2.5),
        valid(confidence=True),
        valid(confidence="3"),
        valid(confidence=0.9),
        valid(justification=""),
        valid(justification="   "),
        valid(justification="x" * (JUSTIFICATION_MAX_CHARS + 1)),
        valid(extra="field"),
        {"justification": "x", "confidence": 3},
        [],
    ],
)
def test_invalid_payload_is_rejected_never_defaulted(payload: object) -> None:
    """Anything that is not exactly a verdict raises JudgeOutputInvalid (no default winner,
    no rescaling of a 0-1 confidence)."""
    with pytest.raises(JudgeOutputInvalid):
        parse_verdict_payload(payload)


def test_justification_limit_is_inclusive() -> None:
    """A justification of exactly the limit is valid."""
    parse_verdict_payload(valid(justification="x" * JUSTIFICATION_MAX_CHARS))


@pytest.mark.parametrize(
    "text", ["", "   ", None, "```json\n{}\n```", '{"winner": "A"', 'Winner: A', "[1, 2]"]
)
def test_unparseable_reply_is_invalid(text: str | None) -> None:
    """Empty, fenced, truncated or non-object replies are invalid output."""
    with pytest.raises(JudgeOutputInvalid):
        parse_verdict_json(text)


_values = st.one_of(st.none(), st.booleans(), st.integers(-2, 8), st.floats(-1, 7),
                    st.floats(allow_nan=True, allow_infinity=True), st.integers(),
                    st.sampled_from(["A", "B", "a", "Essay B", "", "x" * 601, "A\x00B"]),
                    st.text(max_size=30))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["justification", "winner", "confidence", "extra"]),
                       _values, max_size=4))
def test_parser_accepts_exactly_what_the_schema_accepts(payload: dict[str, object]) -> None:
    """The strict parser and the published JSON schema agree on every payload (except the
    lax-encoder float 3.0, which the parser accepts as 3)."""
    schema_ok = jsonschema.Draft202012Validator(VERDICT_SCHEMA).is_valid(payload)
    conf = payload.get("confidence")
    if isinstance(conf, float) and conf.is_integer() and 1 <= conf <= 5:
        schema_ok = jsonschema.Draft202012Validator(VERDICT_SCHEMA).is_valid(
            {**payload, "confidence": int(conf)})
    just = payload.get("justification")
    if isinstance(just, str) and just and not just.strip():
        schema_ok = False  # whitespace-only is rejected by the parser on purpose
    if isinstance(just, str) and re.search("[\x00\ud800-\udfff]", just):
        schema_ok = False  # NUL and lone surrogates cannot be stored as text
    try:
        parse_verdict_payload(payload)
        parsed_ok = True
    except JudgeOutputInvalid:
        parsed_ok = False
    assert parsed_ok == schema_ok


def test_openai_schema_states_the_same_limits_without_unsupported_keywords() -> None:
    """The strict-mode schema has no min/maxLength but its pattern enforces 1..600 characters
    and its confidence enum is 1..5."""
    schema = openai_response_schema()
    text = json.dumps(schema)
    assert "maxLength" not in text and "minLength" not in text
    pattern = re.compile(schema["properties"]["justification"]["pattern"])
    assert pattern.fullmatch("x" * JUSTIFICATION_MAX_CHARS)
    assert pattern.fullmatch("line one\nline two")
    assert not pattern.fullmatch("x" * (JUSTIFICATION_MAX_CHARS + 1))
    assert not pattern.fullmatch("")
    assert schema["properties"]["confidence"]["enum"] == [1, 2, 3, 4, 5]
    assert schema["required"] == VERDICT_SCHEMA["required"]
    assert schema["additionalProperties"] is False


def test_confidence_scale_is_stated_once_in_the_schema() -> None:
    """The schema description lists every level of the one 1-5 scale."""
    description = VERDICT_SCHEMA["properties"]["confidence"]["description"]
    for level, meaning in CONFIDENCE_MEANINGS.items():
        assert f"{level} = {meaning}" in description
    assert set(CONFIDENCE_MEANINGS) == set(CONFIDENCE_TO_P_CHOSEN) == {1, 2, 3, 4, 5}


def test_confidence_to_p_a_is_monotone_and_symmetric() -> None:
    """p_a rises with confidence for A, mirrors for B, and stays strictly inside (0.5, 1)."""
    p = [p_a_from_confidence(Winner.A, c) for c in range(1, 6)]
    assert p == sorted(p) and len(set(p)) == 5
    assert all(0.5 < x < 1.0 for x in p)
    for c in range(1, 6):
        assert p_a_from_confidence(Winner.B, c) == pytest.approx(1 - p[c - 1])


def _tokens(content: str, alternatives: dict[str, float]) -> list[TokenLogprob]:
    at = content.index('"winner": "') + len('"winner": "')
    pieces = [content[:at], content[at], content[at + 1 :]]
    return [
        TokenLogprob(pieces[0], -0.01, {}),
        TokenLogprob(pieces[1], alternatives[pieces[1]], alternatives),
        TokenLogprob(pieces[2], -0.01, {}),
    ]


def test_logprobs_renormalise_a_and_b() -> None:
    """p_a = P(A) / (P(A) + P(B)) at the winner token, ignoring other alternatives."""
    content = '{"justification": "B reads better", "winner": "B", "confidence": 2}'
    alts = {"B": math.log(0.7), "A": math.log(0.2), "C": math.log(0.1)}
    assert p_a_from_logprobs(_tokens(content, alts), content) == pytest.approx(0.2 / 0.9)


def test_logprobs_bound_a_missing_alternative() -> None:
    """A letter absent from the top list gets at most the unlisted mass, and p_a stays within
    the floor, so one verdict never claims certainty."""
    content = '{"justification": "A", "winner": "A", "confidence": 5}'
    alts = {"A": math.log(0.97), "The": math.log(0.02)}
    p_a = p_a_from_logprobs(_tokens(content, alts), content)
    assert p_a == pytest.approx(0.97 / (0.97 + 0.01))
    only = {"A": 0.0}
    assert p_a_from_logprobs(_tokens(content, only), content) == pytest.approx(0.995)


def test_logprobs_that_do_not_match_the_content_give_none() -> None:
    """Tokens that do not reproduce the reply, or no winner field, give None (use confidence)."""
    content = '{"justification": "x", "winner": "A", "confidence": 3}'
    assert p_a_from_logprobs([TokenLogprob("{", -0.1, {})], content) is None
    assert p_a_from_logprobs([TokenLogprob("{}", -0.1, {})], "{}") is None


def test_winner_key_inside_the_justification_is_not_mistaken() -> None:
    """The winner token is found by parsing the JSON, not by searching for 'winner'."""
    content = (
        '{"justification": "the \\"winner\\": \\"B\\" is wrong", "winner": "A", "confidence": 3}'
    )
    alts = {"A": math.log(0.8), "B": math.log(0.2)}
    assert p_a_from_logprobs(_tokens(content, alts), content) == pytest.approx(0.8)


def test_retry_after_forms() -> None:
    """Retry-After in seconds, milliseconds or as an HTTP date; garbage gives None."""
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after({"retry-after": later}) or 0) <= 31
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "status,expected",
    [(401, JudgeAuthError), (403, JudgeAuthError), (429, JudgeRateLimited),
     (500, JudgeUnavailable), (503, JudgeUnavailable), (529, JudgeUnavailable),
     (408, JudgeUnavailable), (400, JudgeError), (404, JudgeError)],
)
def test_status_classification(status: int, expected: type[JudgeError]) -> None:
    """Each HTTP status maps to one error class; only transient ones are retryable."""
    error = classify_status(status, "detail", provider="p", env_var="P_KEY",
                            headers={"retry-after": "2"})
    assert type(error) is expected
    assert error.retryable == (expected in (JudgeRateLimited, JudgeUnavailable))
    if expected is JudgeAuthError:
        assert "P_KEY" in str(error)
    if expected is JudgeRateLimited:
        assert isinstance(error, JudgeRateLimited) and error.retry_after == 2.0


# -- issue 14: replies outside the contract are invalid output, never a crash ------------------


@pytest.mark.parametrize("confidence", [math.nan, math.inf, -math.inf, 1e300, 10**5000, -3],
                         ids=["nan", "inf", "-inf", "1e300", "5001 digits", "-3"])
def test_confidence_out_of_any_range_is_invalid_not_a_crash(confidence: float) -> None:
    """NaN, infinities, huge numbers (also a 5,000-digit integer) are invalid output with the
    value shown briefly, never an OverflowError or ValueError."""
    with pytest.raises(JudgeOutputInvalid, match="confidence must be an integer 1-5") as caught:
        parse_verdict_payload(valid(confidence=confidence))
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize(("text", "reason"), [
    ('{"justification": "x", "winner": "A", "winner": "B", "confidence": 3}',
     "duplicate key 'winner'"),
    ('{"justification": "x", "winner": "A", "confidence": NaN}', "NaN is not a JSON number"),
    ('{"justification": "x", "winner": "A", "confidence": -Infinity}',
     "-Infinity is not a JSON number"),
    ('{"justification": "x", "winner": "A", "confidence": 1e400}', "1e400 does not fit"),
    ('{"justification": "x", "winner": "A", "confidence": ' + "9" * 5000 + "}",
     "a number of 5000 digits"),
    ('{"justification": "x", "winner": "A", "confidence": 3, "z": ' + "[" * 100_000
     + "]" * 100_000 + "}", "nested more than 64 levels deep"),
    ('{"justification": "A\\\\u0000", "winner": "A", "confidence": 3}', None),
    ('{"justification": "A\\u0000B", "winner": "A", "confidence": 3}',
     "justification contains U+0000"),
    ('{"justification": "A\\ud800B", "winner": "A", "confidence": 3}',
     "justification contains U+D800"),
])
def test_json_outside_the_contract_is_refused_with_the_reason(text: str,
                                                             reason: str | None) -> None:
    """Duplicate keys (not last-wins), non-JSON numbers, out-of-range numbers, deep nesting and
    characters text cannot store are invalid output naming the problem."""
    if reason is None:  # an escaped backslash followed by u0000 is ordinary text
        assert parse_verdict_json(text).justification == "A\\u0000"
        return
    with pytest.raises(JudgeOutputInvalid, match=re.escape(reason)):
        parse_verdict_json(text)


def test_winner_token_logprobs_that_underflow_are_invalid_not_a_division_by_zero() -> None:
    """A generated winner token at -1000 (vLLM-style "impossible") contradicts the reply: invalid
    output. An alternative at -9999 is simply improbable."""
    content = '{"justification": "A", "winner": "A", "confidence": 4}'
    for alts in ({"A": -1000.0}, {"A": -1000.0, "B": -1000.0}, {"A": -1000.0, "B": -0.01}):
        with pytest.raises(JudgeOutputInvalid, match="log-probability -1000"):
            p_a_from_logprobs(_tokens(content, alts), content)
    alts = {"A": -0.01, "B": -9999.0}
    assert p_a_from_logprobs(_tokens(content, alts), content) == pytest.approx(0.995)
    alts = {"A": -60.0, "B": -70.0}  # both tiny: only their ratio counts
    assert p_a_from_logprobs(_tokens(content, alts), content) == pytest.approx(0.995)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.5, "-0.1", True, None])
def test_a_logprob_that_is_not_a_log_probability_is_invalid(bad: object) -> None:
    """NaN, +inf, a positive value, a string, a bool or a missing value is invalid output."""
    content = '{"justification": "A", "winner": "A", "confidence": 4}'
    alts = {"A": -0.1, "B": bad}
    with pytest.raises(JudgeOutputInvalid, match="not a finite number <= 0"):
        p_a_from_logprobs(_tokens(content, alts), content)  # type: ignore[arg-type]


def test_float_noise_above_zero_is_a_certain_token() -> None:
    """Servers write 1e-7 for a certain token; that is accepted as 0."""
    content = '{"justification": "A", "winner": "A", "confidence": 4}'
    alts = {"A": 1e-7, "B": -3.0}
    assert p_a_from_logprobs(_tokens(content, alts), content) == pytest.approx(
        1 / (1 + math.exp(-3.0)))


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (0, 0), (7, 7), (12.0, 12)])
def test_token_counts_are_non_negative_integers(value: object, expected: int) -> None:
    """A count is a non-negative integer (12.0 from a lax encoder is 12; absent is 0)."""
    assert token_count(value, "input_tokens") == expected


@pytest.mark.parametrize(("value", "reason"), [
    (-5000, "input_tokens=-5000 is negative"), (1.5, "is not a token count"),
    (math.nan, "is not a token count"), ("12", "is not a token count"),
    (True, "is not a token count"),
])
def test_other_token_counts_are_refused_by_name(value: object, reason: str) -> None:
    """Anything else names the field and the value."""
    with pytest.raises(ValueError, match=re.escape(reason)):
        token_count(value, "input_tokens")


def test_the_raw_reply_is_kept_storable_and_bounded() -> None:
    """NUL is escaped (PostgreSQL text refuses it) and a huge reply is cut with a note."""
    assert keep_raw("a\x00b") == "a\\u0000b"
    kept = keep_raw("x" * (RAW_RESPONSE_MAX_CHARS + 10))
    assert kept.endswith("[10 more characters not kept]")


def test_checked_verdict_normalises_the_winner() -> None:
    """A plug-in that returns the winner as text gets a Winner back; a valid verdict is
    returned as it is."""
    verdict = Verdict(winner="B", p_a=0.3, justification="ok", provider="p",  # type: ignore[arg-type]
                      model="m", request_sha256="x")
    assert checked_verdict(verdict).winner is Winner.B
    good = Verdict(winner=Winner.A, p_a=1, justification="ok", provider="p", model="m",
                   request_sha256="x")
    assert checked_verdict(good) is good
