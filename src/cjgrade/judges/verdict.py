"""The verdict contract: the JSON a judge must return, its strict parser, and the mappings from
a stated confidence or from token log-probabilities to ``p_a`` (probability that A is better).

One schema, one confidence scale, one justification limit, used by every provider adapter and
quoted verbatim in the response instructions (``prompt.py``), so the model, the schema and the
parser can never disagree (original defects 1 and 3).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from cjgrade.errors import (
    JudgeAuthError,
    JudgeError,
    JudgeOutputInvalid,
    JudgeRateLimited,
    JudgeUnavailable,
)
from cjgrade.judges.base import Usage, Verdict, Winner
from cjgrade.stats.soft_outcomes import CONFIDENCE_TO_P_CHOSEN

__all__ = [
    "CONFIDENCE_MEANINGS",
    "CONFIDENCE_TO_P_CHOSEN",
    "JUSTIFICATION_MAX_CHARS",
    "P_A_FLOOR",
    "VERDICT_SCHEMA",
    "VERDICT_TOOL_NAME",
    "ParsedVerdict",
    "ReplyMeta",
    "TokenLogprob",
    "attach_reply",
    "classify_sdk_exception",
    "classify_status",
    "describe_confidence_scale",
    "openai_response_schema",
    "p_a_from_confidence",
    "p_a_from_logprobs",
    "parse_retry_after",
    "parse_verdict_json",
    "parse_verdict_payload",
    "verdict_from_reply",
]

VERDICT_TOOL_NAME = "record_verdict"
"""Name of the tool (Anthropic) / response format (OpenAI) that carries the verdict."""

JUSTIFICATION_MAX_CHARS = 600
"""Hard limit on the justification, in characters (not words), in schema and instructions."""

CONFIDENCE_MEANINGS: dict[int, str] = {
    1: "a near toss-up; the chosen essay is only marginally better",
    2: "slightly better; a careful second reader could disagree",
    3: "clearly better on balance",
    4: "better on most criteria of the rubric",
    5: "better on every important criterion; not a close call",
}
"""The one confidence scale (integers 1-5), stated in the instructions and the schema."""

P_A_FLOOR = 0.005
"""Bounds of a logprob-derived ``p_a``: [0.005, 0.995]."""

_WINNER_VALUES = ("A", "B")
_LETTER_TOKEN = re.compile(r'[\s"]*([AB])[\s",}]*')


def _describe_justification() -> str:
    return (
        f"at most {JUSTIFICATION_MAX_CHARS} characters: the decisive reasons, "
        "referring to the essays only as A and B"
    )


VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "justification": {
            "type": "string",
            "minLength": 1,
            "maxLength": JUSTIFICATION_MAX_CHARS,
            "description": _describe_justification(),
        },
        "winner": {
            "type": "string",
            "enum": list(_WINNER_VALUES),
            "description": "The better essay: A (shown first) or B (shown second).",
        },
        "confidence": {
            "type": "integer",
            "minimum": 1,
            "maximum": 5,
            "description": "How sure you are, 1-5: "
            + "; ".join(f"{k} = {v}" for k, v in CONFIDENCE_MEANINGS.items()),
        },
    },
    "required": ["justification", "winner", "confidence"],
    "additionalProperties": False,
}
"""The verdict JSON schema. Justification comes first so the model states its reasons before
it commits to a winner."""


def openai_response_schema() -> dict[str, Any]:
    """The verdict schema in the subset OpenAI strict structured outputs accepts.

    Strict mode rejects ``minLength``/``maxLength`` but supports ``pattern`` and ``enum``, so the
    same limits are expressed that way: the justification is 1 to 600 characters by pattern,
    confidence an integer enum 1..5.
    """
    schema: dict[str, Any] = json.loads(json.dumps(VERDICT_SCHEMA))
    just = schema["properties"]["justification"]
    del just["minLength"], just["maxLength"]
    just["pattern"] = "^[\\s\\S]{1," + str(JUSTIFICATION_MAX_CHARS) + "}$"
    conf = schema["properties"]["confidence"]
    del conf["minimum"], conf["maximum"]
    conf["enum"] = [1, 2, 3, 4, 5]
    return schema


def describe_confidence_scale() -> str:
    """The confidence scale as one line per level, for the response instructions."""
    return "\n".join(f"  {k} = {v}" for k, v in CONFIDENCE_MEANINGS.items())


@dataclass(frozen=True)
class ParsedVerdict:
    """The three fields of a valid verdict."""

    winner: Winner
    confidence: int
    justification: str


def parse_verdict_payload(payload: object) -> ParsedVerdict:
    """Validate a decoded verdict object against :data:`VERDICT_SCHEMA`, strictly.

    Raises
    ------
    JudgeOutputInvalid
        With the reason, for anything that is not exactly a valid verdict. There is no default
        winner and no rescaling of out-of-range confidences.
    """
    if not isinstance(payload, Mapping):
        raise JudgeOutputInvalid(f"verdict is not a JSON object: {type(payload).__name__}")
    required = set(VERDICT_SCHEMA["required"])
    missing = sorted(required - set(payload))
    if missing:
        raise JudgeOutputInvalid(f"verdict lacks required field(s): {', '.join(missing)}")
    extra = sorted(set(payload) - required)
    if extra:
        raise JudgeOutputInvalid(f"verdict has unexpected field(s): {', '.join(extra)}")
    winner = payload["winner"]
    if not isinstance(winner, str) or winner not in _WINNER_VALUES:
        raise JudgeOutputInvalid(f"winner must be exactly 'A' or 'B', got {winner!r}")
    confidence = payload["confidence"]
    # bool is an int subclass; 3.0 from a lax JSON encoder is accepted as the integer 3.
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise JudgeOutputInvalid(f"confidence must be an integer 1-5, got {confidence!r}")
    if confidence != int(confidence) or not 1 <= confidence <= 5:
        raise JudgeOutputInvalid(f"confidence must be an integer 1-5, got {confidence!r}")
    justification = payload["justification"]
    if not isinstance(justification, str) or not justification.strip():
        raise JudgeOutputInvalid("justification must be a non-empty string")
    if len(justification) > JUSTIFICATION_MAX_CHARS:
        raise JudgeOutputInvalid(
            f"justification has {len(justification)} characters, "
            f"the limit is {JUSTIFICATION_MAX_CHARS}"
        )
    return ParsedVerdict(Winner(winner), int(confidence), justification)


def parse_verdict_json(text: str | None) -> ParsedVerdict:
    """Parse a JSON document (the whole reply, nothing around it) into a verdict."""
    if text is None or not text.strip():
        raise JudgeOutputInvalid("empty reply: no verdict JSON")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JudgeOutputInvalid(f"reply is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    return parse_verdict_payload(payload)


def p_a_from_confidence(winner: Winner, confidence: int) -> float:
    """Probability that A is better from the winner and the stated confidence (1-5)."""
    if confidence not in CONFIDENCE_TO_P_CHOSEN:
        raise ValueError(f"confidence must be an integer 1-5, got {confidence!r}")
    p_chosen = CONFIDENCE_TO_P_CHOSEN[confidence]
    return p_chosen if winner is Winner.A else 1.0 - p_chosen


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its alternatives (``top``: token -> log-probability)."""

    token: str
    logprob: float
    top: Mapping[str, float]


def p_a_from_logprobs(tokens: Sequence[TokenLogprob], content: str) -> float | None:
    """Probability that A is better from the log-probabilities of the winner token.

    Finds the token that carries the ``winner`` value in the generated JSON ``content``, then
    renormalises the probability mass of the alternatives ``A`` and ``B`` at that position:
    ``p_a = P(A) / (P(A) + P(B))``.

    Returns ``None`` when the tokens do not reproduce ``content`` or the winner token is not
    found, never a guess.
    """
    if "".join(t.token for t in tokens) != content:
        return None
    value_at = _winner_value_offset(content)
    if value_at is None:
        return None
    offset = 0
    for tok in tokens:
        end = offset + len(tok.token)
        if offset <= value_at < end:
            return _renormalise_ab(tok, content[value_at])
        offset = end
    return None


def _winner_value_offset(content: str) -> int | None:
    """Character offset of the letter inside the top-level ``"winner": "X"`` of ``content``."""
    try:
        payload = json.loads(content)
    except json.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or payload.get("winner") not in _WINNER_VALUES:
        return None
    try:
        return _scan_for_winner(content)
    except (ValueError, IndexError):
        return None


def _scan_for_winner(content: str) -> int | None:
    decoder = json.JSONDecoder()
    pos = content.index("{") + 1
    while pos < len(content):
        key_start = content.index('"', pos)
        key, pos = decoder.raw_decode(content, key_start)
        pos = content.index(":", pos) + 1
        while content[pos] in " \t\r\n":
            pos += 1
        value_start = pos
        _, pos = decoder.raw_decode(content, value_start)
        if key == "winner":
            return value_start + 1
        comma = content.find(",", pos)
        if comma < 0:
            return None
        pos = comma + 1
    return None


def _renormalise_ab(tok: TokenLogprob, chosen: str) -> float | None:
    """P(A) / (P(A) + P(B)) at one token position, from its top alternatives.

    A letter missing from the truncated top list gets an upper bound of its probability: the
    smaller of the least likely listed alternative and the mass left unlisted. The result is
    kept within [P_A_FLOOR, 1 - P_A_FLOOR] so one verdict cannot claim certainty.
    """
    mass = {"A": 0.0, "B": 0.0}
    seen = {"A": False, "B": False}
    alternatives = dict(tok.top)
    alternatives.setdefault(tok.token, tok.logprob)
    listed = [math.exp(lp) for lp in alternatives.values() if math.isfinite(lp)]
    for text, logprob in alternatives.items():
        match = _LETTER_TOKEN.fullmatch(text)
        if match and math.isfinite(logprob):
            mass[match.group(1)] += math.exp(logprob)
            seen[match.group(1)] = True
    if not seen[chosen] or not listed:
        return None
    for letter in ("A", "B"):
        if not seen[letter]:
            mass[letter] = max(0.0, min(min(listed), 1.0 - sum(listed)))
    p_a = mass["A"] / (mass["A"] + mass["B"])
    return min(max(p_a, P_A_FLOOR), 1.0 - P_A_FLOOR)


# --- provider failures -> the error hierarchy (shared by every HTTP adapter) -----------------


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify_status(
    status: int,
    detail: str,
    *,
    provider: str,
    env_var: str | None,
    headers: Mapping[str, str] | None = None,
    error_code: str | None = None,
) -> JudgeError:
    """Map one HTTP failure to the error hierarchy (one attempt, the runtime decides retries).

    401/403 -> :class:`JudgeAuthError` naming the key variable; 429 ->
    :class:`JudgeRateLimited` with ``Retry-After`` (unless the quota is exhausted, which waiting
    cannot fix); 408/409/5xx/529 -> :class:`JudgeUnavailable`; any other 4xx -> a non-retryable
    :class:`JudgeError`.
    """
    where = f"{provider} API returned HTTP {status}: {detail}"
    if status in (401, 403):
        hint = f"check {env_var}" if env_var else "check the API key of the server"
        return JudgeAuthError(f"{where} ({hint})")
    if status == 429:
        if error_code == "insufficient_quota":
            return JudgeError(f"{where} (the account's quota is exhausted; add credit)")
        return JudgeRateLimited(where, retry_after=parse_retry_after(headers))
    if status in (408, 409) or status >= 500:
        return JudgeUnavailable(where)
    return JudgeError(where)


def attach_reply(exc: JudgeOutputInvalid, usage: Usage, raw_response: str) -> JudgeOutputInvalid:
    """Record on an invalid-output error what the failed reply cost and said.

    The provider bills an invalid reply like any other, so the runtime can price it from
    ``exc.usage``; ``exc.raw_response`` keeps the reply for audit.
    """
    exc.usage = usage  # type: ignore[attr-defined]
    exc.raw_response = raw_response  # type: ignore[attr-defined]
    return exc


def classify_sdk_exception(exc: Exception, sdk: Any, *, provider: str,
                           env_var: str) -> JudgeError:
    """An ``anthropic`` or ``openai`` SDK exception -> the error hierarchy (both SDKs share the
    ``APITimeoutError`` / ``APIConnectionError`` / ``APIStatusError`` classes and body shape)."""
    if isinstance(exc, sdk.APITimeoutError):
        return JudgeUnavailable(f"{provider} API call timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return JudgeUnavailable(f"cannot reach the {provider} API: {exc}")
    if isinstance(exc, sdk.APIStatusError):
        body = exc.body if isinstance(exc.body, Mapping) else {}
        inner = body.get("error")
        error: Mapping[str, Any] = inner if isinstance(inner, Mapping) else body
        detail = str(error.get("message") or exc.message)
        code = error.get("code") or getattr(exc, "code", None)
        return classify_status(
            exc.status_code,
            detail,
            provider=provider,
            env_var=env_var,
            headers=dict(exc.response.headers),
            error_code=str(code) if code else None,
        )
    return JudgeUnavailable(f"{provider} API returned an unusable response: {exc}")


# --- one reply -> one verdict (shared by every LLM adapter) -----------------------------------


@dataclass(frozen=True)
class ReplyMeta:
    """What an adapter knows about one provider reply besides the verdict it may hold."""

    provider: str
    model: str
    request_sha256: str
    flags: tuple[str, ...]
    latency_s: float
    usage: Usage
    raw_response: str


def verdict_from_reply(meta: ReplyMeta,
                       read: Callable[[], tuple[ParsedVerdict, float | None]]) -> Verdict:
    """The :class:`Verdict` of a reply whose fields ``read()`` extracts, with ``p_a`` from the
    logprobs ``read()`` returns or else from the stated confidence (flag ``p_a:logprobs`` or
    ``p_a:confidence``); ``cost_usd`` is left for the runtime to price.

    Raises
    ------
    JudgeOutputInvalid
        From ``read()``, carrying the billed ``usage`` and the ``raw_response``.
    """
    try:
        parsed, p_a = read()
    except JudgeOutputInvalid as exc:
        raise attach_reply(exc, meta.usage, meta.raw_response) from None
    source = "p_a:confidence" if p_a is None else "p_a:logprobs"
    return Verdict(
        winner=parsed.winner,
        p_a=p_a_from_confidence(parsed.winner, parsed.confidence) if p_a is None else p_a,
        justification=parsed.justification,
        provider=meta.provider,
        model=meta.model,
        request_sha256=meta.request_sha256,
        usage=meta.usage,
        confidence=float(parsed.confidence),
        cost_usd=None,
        latency_s=meta.latency_s,
        raw_response=meta.raw_response,
        flags=(*meta.flags, source),
    )
