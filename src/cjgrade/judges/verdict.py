"""The verdict contract: the JSON a judge must return, its strict parser, and the mappings from
a stated confidence or from token log-probabilities to ``p_a`` (probability that A is better).

One schema, one confidence scale, one justification limit, used by every provider adapter and
quoted verbatim in the response instructions (``prompt.py``), so the model, the schema and the
parser can never disagree (original defects 1 and 3).

:func:`verdict_from_reply` is the one gate every provider reply passes: anything in it outside
the contract (a duplicate key, ``NaN``, a logprob of -1000 for the chosen token, an unreadable
shape) is :class:`~cjgrade.errors.JudgeOutputInvalid` naming the problem and carrying the
billed usage, never a crash; :func:`checked_verdict` holds every adapter's verdict to the
contract in the runtime.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cjgrade.errors import (
    JudgeError,
    JudgeOutputInvalid,
)
from cjgrade.judges.base import Usage, Verdict, Winner
from cjgrade.judges.failures import classify_sdk_exception, classify_status, parse_retry_after
from cjgrade.judges.strict_json import StrictJsonError, load_strict_json, show_value
from cjgrade.stats.soft_outcomes import CONFIDENCE_TO_P_CHOSEN

__all__ = [
    "CONFIDENCE_MEANINGS",
    "CONFIDENCE_TO_P_CHOSEN",
    "JUSTIFICATION_MAX_CHARS",
    "MIN_WINNER_LOGPROB",
    "P_A_FLOOR",
    "RAW_RESPONSE_MAX_CHARS",
    "USAGE_UNUSABLE_FLAG",
    "VERDICT_SCHEMA",
    "VERDICT_TOOL_NAME",
    "ParsedVerdict",
    "ReplyMeta",
    "TokenLogprob",
    "attach_reply",
    "checked_verdict",
    "classify_sdk_exception",
    "classify_status",
    "describe_confidence_scale",
    "keep_raw",
    "openai_response_schema",
    "p_a_from_confidence",
    "p_a_from_logprobs",
    "parse_retry_after",
    "parse_verdict_json",
    "parse_verdict_payload",
    "reply_meta",
    "show_value",
    "token_count",
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

MIN_WINNER_LOGPROB = -100.0
"""A generated winner token whose log-probability is below this (a probability under 1e-43)
contradicts the reply that chose it: servers write such values (vLLM: -9999) for tokens they
consider impossible. The reply is then invalid, never a division by zero."""

USAGE_UNUSABLE_FLAG = "usage_unusable"
"""Flag prefix (``usage_unusable:<reason>``) of a verdict whose usage report could not be used
(a negative, non-integer or implausible token count): its tokens are recorded as 0 and its cost
as unknown (``None``), never lowered and never priced at a made-up count."""

_LOGPROB_TOLERANCE = 1e-6  # float noise above 0 that servers produce for a certain token

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
    keys = [str(k) for k in payload]
    missing = sorted(required - set(keys))
    if missing:
        raise JudgeOutputInvalid(f"verdict lacks required field(s): {', '.join(missing)}")
    extra = sorted(set(keys) - required)
    if extra:
        shown = ", ".join(show_value(k, 40) for k in extra[:5])
        raise JudgeOutputInvalid(f"verdict has unexpected field(s): {shown}")
    winner = payload["winner"]
    if not isinstance(winner, str) or winner not in _WINNER_VALUES:
        raise JudgeOutputInvalid(f"winner must be exactly 'A' or 'B', got {show_value(winner)}")
    confidence = _confidence_level(payload["confidence"])
    justification = payload["justification"]
    if not isinstance(justification, str) or not justification.strip():
        raise JudgeOutputInvalid("justification must be a non-empty string")
    if len(justification) > JUSTIFICATION_MAX_CHARS:
        raise JudgeOutputInvalid(
            f"justification has {len(justification)} characters, "
            f"the limit is {JUSTIFICATION_MAX_CHARS}"
        )
    bad = _UNSTORABLE.search(justification)
    if bad:
        raise JudgeOutputInvalid(
            f"justification contains U+{ord(bad.group(0)):04X}, which text cannot store"
        )
    return ParsedVerdict(Winner(winner), confidence, justification)


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
"""NUL and unpaired surrogates: valid in a JSON string, refused by UTF-8 and PostgreSQL text."""


def _confidence_level(confidence: object) -> int:
    """The confidence as an integer 1-5; 3.0 from a lax JSON encoder is accepted as 3."""
    # bool is an int subclass; NaN, infinities and huge numbers are never 1-5.
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise JudgeOutputInvalid(f"confidence must be an integer 1-5, got {show_value(confidence)}")
    if confidence not in (1, 2, 3, 4, 5):  # also False for NaN and 2.5
        raise JudgeOutputInvalid(f"confidence must be an integer 1-5, got {show_value(confidence)}")
    return int(confidence)


def parse_verdict_json(text: str | None) -> ParsedVerdict:
    """Parse a JSON document (the whole reply, nothing around it) into a verdict.

    The document is read strictly (:func:`~cjgrade.judges.strict_json.load_strict_json`): a
    duplicate key, ``NaN``, ``Infinity``, an out-of-range number or deep nesting is invalid
    output, not last-wins and not a crash.
    """
    if text is None or not text.strip():
        raise JudgeOutputInvalid("empty reply: no verdict JSON")
    try:
        payload = load_strict_json(text)
    except StrictJsonError as exc:
        raise JudgeOutputInvalid(f"verdict is {exc}" if exc.syntax else f"verdict JSON: {exc}"
                                 ) from None
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
    ``p_a = P(A) / (P(A) + P(B))``, computed on the log scale so no value underflows.

    Returns ``None`` when the tokens do not reproduce ``content`` or the winner token is not
    found, never a guess.

    Raises
    ------
    JudgeOutputInvalid
        When a log-probability is not a finite number <= 0 (``NaN``, ``+inf``, 0.5, a string),
        or when the generated winner token has a log-probability below
        :data:`MIN_WINNER_LOGPROB`: the logprobs then contradict the reply.
    """
    for tok in tokens:
        if not isinstance(tok.token, str):
            raise JudgeOutputInvalid(f"logprobs: a token is {show_value(tok.token)}, not text")
        _check_logprob(tok.token, tok.logprob)
        for alt, logprob in tok.top.items():
            _check_logprob(alt, logprob)
    if "".join(t.token for t in tokens) != content:
        return None
    value_at = _winner_value_offset(content)
    if value_at is None:
        return None
    offset = 0
    for tok in tokens:
        end = offset + len(tok.token)
        if offset <= value_at < end:
            if tok.logprob < MIN_WINNER_LOGPROB:
                raise JudgeOutputInvalid(
                    f"logprobs: the winner token {show_value(tok.token)} has log-probability "
                    f"{tok.logprob:g} (probability ~0), which contradicts the reply that chose "
                    "it; the server's logprobs are unusable"
                )
            return _renormalise_ab(tok, content[value_at])
        offset = end
    return None


def _check_logprob(token: str, logprob: object) -> None:
    if (isinstance(logprob, bool) or not isinstance(logprob, int | float)
            or not math.isfinite(logprob) or logprob > _LOGPROB_TOLERANCE):
        raise JudgeOutputInvalid(
            f"logprobs: token {show_value(token)} has log-probability {show_value(logprob)}, "
            "which is not a finite number <= 0"
        )


def _winner_value_offset(content: str) -> int | None:
    """Character offset of the letter inside the top-level ``"winner": "X"`` of ``content``."""
    try:
        payload = load_strict_json(content)
    except StrictJsonError:
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
    smaller of the least likely listed alternative and the mass left unlisted. Computed on the
    log scale (a letter at -1000 is a probability of 0 there, not a division by zero). The
    result is kept within [P_A_FLOOR, 1 - P_A_FLOOR] so one verdict cannot claim certainty.
    """
    alternatives = {alt: min(float(lp), 0.0) for alt, lp in tok.top.items()}
    alternatives.setdefault(tok.token, min(float(tok.logprob), 0.0))
    letters: dict[str, list[float]] = {"A": [], "B": []}
    for text, logprob in alternatives.items():
        match = _LETTER_TOKEN.fullmatch(text)
        if match:
            letters[match.group(1)].append(logprob)
    if not letters[chosen]:
        return None
    listed = list(alternatives.values())
    listed_mass = sum(math.exp(lp) for lp in listed)
    unlisted = math.log1p(-listed_mass) if listed_mass < 1.0 else -math.inf
    bound = min(min(listed), unlisted)
    log_a = _logsumexp(letters["A"]) if letters["A"] else bound
    log_b = _logsumexp(letters["B"]) if letters["B"] else bound
    p_a = _sigmoid(log_a - log_b) if log_a > -math.inf or log_b > -math.inf else 0.5
    return min(max(p_a, P_A_FLOOR), 1.0 - P_A_FLOOR)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def attach_reply(exc: JudgeError, usage: Usage | None, raw_response: str, *,
                 usage_problem: str | None = None) -> JudgeError:
    """Record on an error what the failed reply cost and said.

    The provider bills an invalid reply like any other, so the runtime can price it from
    ``exc.usage``; ``usage=None`` means it was billed but its usage report is unusable
    (``exc.usage_problem`` says why), so its cost is unknown, never 0. ``exc.raw_response``
    keeps the reply for audit.
    """
    exc.usage = usage
    exc.usage_problem = usage_problem
    exc.billed_reply = True
    exc.raw_response = raw_response
    return exc


# --- one reply -> one verdict (shared by every LLM adapter) -----------------------------------

RAW_RESPONSE_MAX_CHARS = 200_000
"""Longest raw reply kept for audit; a longer one (e.g. JSON nested 100,000 deep) is cut."""


def keep_raw(text: str) -> str:
    """A reply's text as kept for audit: NUL escaped (PostgreSQL text refuses it) and at most
    :data:`RAW_RESPONSE_MAX_CHARS` characters."""
    text = text.replace("\x00", "\\u0000")
    if len(text) > RAW_RESPONSE_MAX_CHARS:
        cut = len(text) - RAW_RESPONSE_MAX_CHARS
        text = text[:RAW_RESPONSE_MAX_CHARS] + f"… [{cut} more characters not kept]"
    return text


def token_count(value: object, name: str) -> int:
    """One token count of a provider's usage report: a non-negative integer (None = 0).

    Raises
    ------
    ValueError
        Naming the field and the value, for anything else (negative, fractional, ``NaN``, a
        string, a bool): such a report cannot be priced.
    """
    if value is None:
        return 0
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={show_value(value, 40)} is not a token count")
    if value < 0:
        raise ValueError(f"{name}={value} is negative")
    return value


@dataclass(frozen=True)
class ReplyMeta:
    """What an adapter knows about one provider reply besides the verdict it may hold."""

    provider: str
    model: str
    request_sha256: str
    flags: tuple[str, ...]
    latency_s: float
    usage: Usage | None
    """None when the usage report could not be read (``usage_problem`` says why)."""
    raw_response: str
    usage_problem: str | None = None


def reply_meta(provider: str, model: str, request_sha256: str, flags: tuple[str, ...],
               latency_s: float, *, usage: Callable[[], Usage], raw: Callable[[], str]
               ) -> ReplyMeta:
    """A :class:`ReplyMeta` whose usage and raw text are read by ``usage()`` and ``raw()``;
    a usage report that cannot be read leaves ``usage`` None with the reason, never a crash."""
    try:
        read_usage: Usage | None = usage()
        problem = None
    except Exception as exc:  # any odd value in the report
        read_usage, problem = None, _reason(exc)
    try:
        raw_text = keep_raw(raw())
    except Exception as exc:
        raw_text = f"<reply not kept: {_reason(exc)}>"
    return ReplyMeta(provider, model, request_sha256, flags, latency_s, read_usage, raw_text,
                     problem)


def verdict_from_reply(meta: ReplyMeta,
                       read: Callable[[], tuple[ParsedVerdict, float | None]]) -> Verdict:
    """The :class:`Verdict` of a reply whose fields ``read()`` extracts, with ``p_a`` from the
    logprobs ``read()`` returns or else from the stated confidence (flag ``p_a:logprobs`` or
    ``p_a:confidence``); ``cost_usd`` is left for the runtime to price. A usage report that
    could not be read gives usage 0 and the flag ``usage_unusable:<reason>`` (cost unknown).

    This is the one gate every provider reply passes: anything in it outside the contract, or
    anything that makes reading it fail, is :class:`JudgeOutputInvalid` naming the problem.

    Raises
    ------
    JudgeOutputInvalid
        Carrying the billed ``usage`` (None when unreadable) and the ``raw_response``.
    """
    try:
        parsed, p_a = read()
        flags = (*meta.flags, "p_a:confidence" if p_a is None else "p_a:logprobs")
        if meta.usage is None:
            flags = (*flags, f"{USAGE_UNUSABLE_FLAG}:{meta.usage_problem}")
        verdict = Verdict(
            winner=parsed.winner,
            p_a=p_a_from_confidence(parsed.winner, parsed.confidence) if p_a is None else p_a,
            justification=parsed.justification,
            provider=meta.provider,
            model=meta.model,
            request_sha256=meta.request_sha256,
            usage=meta.usage or Usage(),
            confidence=float(parsed.confidence),
            cost_usd=None,
            latency_s=meta.latency_s,
            raw_response=meta.raw_response,
            flags=flags,
        )
        return checked_verdict(verdict)
    except JudgeOutputInvalid as exc:
        error = exc
    except Exception as exc:  # a reply odd enough to break the reading itself
        error = JudgeOutputInvalid(f"unreadable reply: {_reason(exc)}")
    raise attach_reply(error, meta.usage, meta.raw_response,
                       usage_problem=meta.usage_problem) from None


def checked_verdict(verdict: Verdict) -> Verdict:
    """``verdict`` if it keeps the contract every judge's verdict must keep (winner A or B,
    ``p_a`` a number in [0, 1], a finite confidence, a storable justification), with the winner
    normalised to :class:`Winner`; the runtime applies it to every adapter, plug-ins included.

    Raises
    ------
    JudgeOutputInvalid
        Naming the field and the value.
    """
    try:
        winner = Winner(verdict.winner)
    except ValueError:
        raise JudgeOutputInvalid(
            f"winner must be A or B, got {show_value(verdict.winner)}") from None
    p_a = verdict.p_a
    if (isinstance(p_a, bool) or not isinstance(p_a, int | float) or not math.isfinite(p_a)
            or not 0.0 <= p_a <= 1.0):
        raise JudgeOutputInvalid(f"p_a must be a number in [0, 1], got {show_value(p_a)}")
    confidence = verdict.confidence
    if confidence is not None and (isinstance(confidence, bool)
                                   or not isinstance(confidence, int | float)
                                   or not math.isfinite(confidence)):
        raise JudgeOutputInvalid(f"confidence must be a finite number, got "
                                 f"{show_value(confidence)}")
    if not isinstance(verdict.justification, str):
        raise JudgeOutputInvalid("justification must be text")
    bad = _UNSTORABLE.search(verdict.justification)
    if bad:
        raise JudgeOutputInvalid(
            f"justification contains U+{ord(bad.group(0)):04X}, which text cannot store")
    raw = verdict.raw_response if isinstance(verdict.raw_response, str) else str(
        verdict.raw_response)
    if winner is verdict.winner and p_a is verdict.p_a and raw is verdict.raw_response \
            and "\x00" not in raw:
        return verdict
    return replace(verdict, winner=winner, p_a=float(p_a), raw_response=keep_raw(raw))


def _reason(exc: BaseException) -> str:
    """``Type: message`` of an exception, cut to 200 characters, for a failure reason."""
    text = str(exc) or type(exc).__name__
    text = text if isinstance(exc, JudgeError | ValueError) else f"{type(exc).__name__}: {text}"
    return text if len(text) <= 200 else text[:199] + "…"
