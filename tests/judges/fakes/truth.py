"""An LLM look-alike that judges essays by KNOWN abilities, for end-to-end checks against truth.

It plugs into the wire-level fakes (``FakeOpenAI.responder``, ``FakeAnthropic.responder``), so
the official SDKs talk to it over real HTTP through the project's real adapters. For a request
showing essays A and B it finds their true abilities (a lookup keyed by the essay text, read
back from between the prompt's boundary markers) and forms a *belief*::

    z = (theta_A - theta_B) + position_offset + e,    e ~ N(0, belief_noise^2)

It answers with the winner the belief favours (``A`` when ``z >= 0``) and:

- OpenAI flavour: the verdict JSON plus token log-probabilities whose winner token has the
  alternatives ``A: log sigmoid(z)`` and ``B: log sigmoid(-z)``, so the adapter's
  ``p_a_from_logprobs`` gives ``p_a = sigmoid(z)`` (clipped to [0.005, 0.995] as the project
  does). Log-probabilities are only sent when the request asks for them, as the real API does.
- Anthropic flavour (and OpenAI without logprobs): the stated confidence 1-5 whose
  ``CONFIDENCE_TO_P_CHOSEN`` is nearest to ``sigmoid(|z|)``.

Optional faults, each with its own rate: HTTP 429 with ``retry-after-ms``/``retry-after``, HTTP
500, and a malformed verdict (a 200 the parser must reject), so a run exercises the runtime's
retries.

Every draw is counter-based: the generator of a draw is seeded by ``(seed, essay A, essay B,
how many times this ordered pair was asked before)``, so a run is reproducible whatever order
concurrent requests arrive in.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cjgrade.judges.verdict import CONFIDENCE_TO_P_CHOSEN, P_A_FLOOR
from tests.judges.fakes import anthropic_api, openai_api
from tests.judges.fakes.server import Reply

__all__ = [
    "Belief",
    "BeliefJudge",
    "Faults",
    "confidence_for",
    "essay_key",
    "expected_p_a",
    "read_essays",
]

_ESSAY = re.compile(
    r"\[\[ESSAY (?P<label>[AB]) · BEGIN · (?P<code>\w+)\]\]\n(?P<text>.*?)\n"
    r"\[\[ESSAY (?P=label) · END · (?P=code)\]\]",
    re.DOTALL,
)


def essay_key(text: str) -> str:
    """The lookup key of an essay: SHA-256 of its text with whitespace runs collapsed, so the
    file's text and the text the prompt shows (stripped, newlines kept) give the same key."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def read_essays(prompt_text: str) -> tuple[str, str]:
    """Essays A and B from a rendered prompt (the text between their boundary markers)."""
    found = {m.group("label"): m.group("text") for m in _ESSAY.finditer(prompt_text)}
    if set(found) != {"A", "B"}:
        raise LookupError("the prompt does not show essays A and B between boundary markers")
    return found["A"], found["B"]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def confidence_for(z: float) -> int:
    """The stated confidence 1-5 whose P(chosen is better) is nearest to ``sigmoid(|z|)``."""
    p = _sigmoid(abs(z))
    return int(min(CONFIDENCE_TO_P_CHOSEN,
                   key=lambda level: abs(CONFIDENCE_TO_P_CHOSEN[level] - p)))


def expected_p_a(z: float, *, logprobs: bool) -> float:
    """The ``p_a`` the project must derive from the look-alike's answer to belief ``z``."""
    if logprobs:
        return float(min(max(_sigmoid(z), P_A_FLOOR), 1.0 - P_A_FLOOR))
    p_chosen = float(CONFIDENCE_TO_P_CHOSEN[confidence_for(z)])
    return p_chosen if z >= 0 else 1.0 - p_chosen


@dataclass(frozen=True)
class Faults:
    """Rates (per request) of the faults mixed into the answers."""

    rate_limited: float = 0.0
    """HTTP 429 with ``retry-after-ms`` (and a whole-second ``retry-after``)."""
    server_error: float = 0.0
    """HTTP 500."""
    malformed: float = 0.0
    """HTTP 200 whose verdict breaks the contract (invalid JSON / a winner ``Essay A``)."""
    retry_after_ms: int = 50

    def __post_init__(self) -> None:
        rates = (self.rate_limited, self.server_error, self.malformed)
        if min(rates) < 0 or sum(rates) > 1:
            raise ValueError("fault rates must be >= 0 and sum to at most 1")


@dataclass(frozen=True)
class Belief:
    """One answered comparison: the essays' true abilities and the judge's belief logit."""

    theta_a: float
    theta_b: float
    z: float
    logprobs: bool
    """Whether the answer carried log-probabilities (OpenAI, when requested)."""

    @property
    def p_a(self) -> float:
        """The ``p_a`` the project should derive from the answer."""
        return expected_p_a(self.z, logprobs=self.logprobs)


@dataclass
class BeliefJudge:
    """Judges essays by known abilities with belief noise; serves OpenAI and Anthropic fakes.

    Parameters
    ----------
    abilities : true ability per essay text (any whitespace; keyed by :func:`essay_key`).
    belief_noise : SD of the belief error ``e`` on the logit scale.
    position_offset : log-odds added in favour of the essay shown first (A).
    seed : seed of every draw (see the module docstring).
    faults : fault rates.
    """

    abilities: Mapping[str, float]
    belief_noise: float = 1.0
    position_offset: float = 0.0
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    answered: list[Belief] = field(default_factory=list)
    """Every verdict answered, in arrival order."""
    fault_counts: dict[str, int] = field(
        default_factory=lambda: {"rate_limited": 0, "server_error": 0, "malformed": 0})
    unknown_essays: int = 0
    """Requests showing an essay the lookup does not hold (answered with HTTP 400)."""

    def __post_init__(self) -> None:
        self._theta = {essay_key(text): float(v) for text, v in self.abilities.items()}
        self._asked: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # -- the model ---------------------------------------------------------------------------

    def _generator(self, key_a: str, key_b: str, count: int) -> np.random.Generator:
        words = [self.seed, int(key_a[:16], 16), int(key_b[:16], 16), count]
        return np.random.default_rng(words)

    def draw(self, prompt_text: str) -> tuple[str, float, float, float] | None:
        """The next draw for the essays a prompt shows: ``(fault or "", theta_a, theta_b, z)``;
        None when an essay is unknown."""
        essay_a, essay_b = read_essays(prompt_text)
        key_a, key_b = essay_key(essay_a), essay_key(essay_b)
        if key_a not in self._theta or key_b not in self._theta:
            with self._lock:
                self.unknown_essays += 1
            return None
        with self._lock:
            count = self._asked.get((key_a, key_b), 0)
            self._asked[(key_a, key_b)] = count + 1
        generator = self._generator(key_a, key_b, count)
        u, e = generator.random(), generator.standard_normal()
        theta_a, theta_b = self._theta[key_a], self._theta[key_b]
        z = theta_a - theta_b + self.position_offset + self.belief_noise * float(e)
        return self._fault(float(u)), theta_a, theta_b, z

    def _fault(self, u: float) -> str:
        for name in ("rate_limited", "server_error", "malformed"):
            rate = getattr(self.faults, name)
            if u < rate:
                with self._lock:
                    self.fault_counts[name] += 1
                return name
            u -= rate
        return ""

    def _record(self, theta_a: float, theta_b: float, z: float, logprobs: bool) -> None:
        with self._lock:
            self.answered.append(Belief(theta_a, theta_b, z, logprobs))

    # -- OpenAI chat completions -------------------------------------------------------------

    def openai_responder(self) -> Callable[[dict[str, Any]], Reply]:
        """The ``FakeOpenAI.responder`` of this judge."""
        return self._answer_openai

    def _answer_openai(self, body: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content") or "") for m in body["messages"])
        drawn = self.draw(prompt)
        if drawn is None:
            return openai_api.error_reply(400, "unknown essay: not in the look-alike's lookup")
        fault, theta_a, theta_b, z = drawn
        if fault == "rate_limited":
            return openai_api.error_reply(429, "Rate limit reached", "rate_limit_exceeded",
                                          headers=self._retry_after())
        if fault == "server_error":
            return openai_api.error_reply(500, "The server had an error", "server_error")
        winner, confidence, justification = _verdict_fields(z)
        if fault == "malformed":
            content = openai_api.verdict_json(winner, confidence, justification)[:-20]
            return Reply(200, openai_api.completion_body(content, model=body["model"]))
        content = openai_api.verdict_json(winner, confidence, justification)
        logprobs = None
        if body.get("logprobs"):
            alternatives = {"A": _log_sigmoid(z), "B": _log_sigmoid(-z)}
            top = int(body.get("top_logprobs") or 0)
            logprobs = openai_api.logprobs_for(content, alternatives)
            for token in logprobs:
                token["top_logprobs"] = token["top_logprobs"][: max(top, 1)]
        self._record(theta_a, theta_b, z, logprobs is not None)
        return Reply(200, openai_api.completion_body(content, model=body["model"],
                                                     logprobs=logprobs))

    # -- Anthropic messages ------------------------------------------------------------------

    def anthropic_responder(self) -> Callable[[dict[str, Any]], Reply]:
        """The ``FakeAnthropic.responder`` of this judge."""
        return self._answer_anthropic

    def _answer_anthropic(self, params: dict[str, Any]) -> Reply:
        blocks = params["messages"][0]["content"]
        prompt = "\n".join(b.get("text", "") for b in blocks) if isinstance(blocks, list) \
            else str(blocks)
        drawn = self.draw(prompt)
        if drawn is None:
            return anthropic_api.error_reply(400, "invalid_request_error",
                                             "unknown essay: not in the look-alike's lookup")
        fault, theta_a, theta_b, z = drawn
        if fault == "rate_limited":
            return anthropic_api.error_reply(429, "rate_limit_error", "Rate limit reached",
                                             self._retry_after())
        if fault == "server_error":
            return anthropic_api.error_reply(500, "api_error", "Internal server error")
        winner, confidence, justification = _verdict_fields(z)
        if fault == "malformed":
            payload = {"justification": justification, "winner": f"Essay {winner}",
                       "confidence": confidence}
            return Reply(200, anthropic_api.tool_use_body(payload, model=params["model"]))
        self._record(theta_a, theta_b, z, False)
        return anthropic_api.verdict_reply(winner, confidence, justification,
                                           model=params["model"])

    def _retry_after(self) -> dict[str, str]:
        ms = self.faults.retry_after_ms
        return {"retry-after-ms": str(ms), "retry-after": str(max(1, math.ceil(ms / 1000)))}


def _verdict_fields(z: float) -> tuple[str, int, str]:
    winner = "A" if z >= 0 else "B"
    loser = "B" if winner == "A" else "A"
    confidence = confidence_for(z)
    justification = (
        f"{winner} develops its argument with clearer reasons and more accurate language than "
        f"{loser}; the difference is {'small' if confidence <= 2 else 'clear'}."
    )
    return winner, confidence, justification
