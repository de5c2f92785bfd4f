"""``sim/bt``: a simulated judge with known true abilities (for benchmarks and simulations).

Each essay's true ability is looked up by the SHA-256 of its text (or by the text itself) in a
mapping given at construction. A comparison is a Bernoulli draw from a seeded
``numpy.random.Generator`` with the statistics core's simulated-judge probability
(:func:`cjgrade.stats.simulation_judge.win_probability`):
``lapse / 2 + (1 - lapse) * sigmoid((theta_A - theta_B) / noise + position_bias)``.
Not an LLM: the verdict says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from cjgrade.errors import InputError
from cjgrade.judges.base import JudgeRequest, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.judges.clock import Clock, SystemClock
from cjgrade.stats.simulation_judge import SimulatedJudge, win_probability

__all__ = ["SimJudge", "essay_index", "text_key"]


def text_key(text: str) -> str:
    """The key of an essay in the abilities mapping: SHA-256 (hex) of its UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def essay_index(index: Mapping[str, int], text: str, missing: str, what: str) -> int:
    """The position of an essay's ``text`` in a table keyed by :func:`text_key` (or by the text
    itself); :class:`InputError` starting with ``missing`` when it is not there."""
    found = index.get(text_key(text))
    if found is None:
        found = index.get(text)
    if found is None:
        raise InputError(f"{missing} for an essay (starts {text[:40]!r}); give {what} keyed by "
                         "text_key(text)")
    return found


class SimJudge:
    """Simulated Bradley-Terry judge.

    Parameters
    ----------
    abilities : true ability per essay, keyed by :func:`text_key` of the text or by the text.
    seed : seed of the generator (same seed, same call order → same verdicts).
    noise : divides the ability difference (1 = Bradley-Terry on the true scale; larger = a
        less discriminating judge).
    position_bias : log-odds added in favour of the essay shown first (A).
    lapse : probability of a coin-flip answer whatever the essays.
    soft : report ``p_a`` as the true probability instead of the hard 1/0 outcome.
    latency_s : fixed wait per call (e.g. 0.2 to mimic an API in benchmarks).
    clock : whose ``sleep`` the latency uses.
    """

    def __init__(self, abilities: Mapping[str, float], *, seed: int | None = None,
                 noise: float = 1.0, position_bias: float = 0.0, lapse: float = 0.0,
                 soft: bool = False, latency_s: float = 0.0, clock: Clock | None = None,
                 name: str = "sim/bt") -> None:
        if not abilities:
            raise InputError("sim judge: abilities must not be empty")
        self._index = {key: i for i, key in enumerate(abilities)}
        self.truth = SimulatedJudge(
            theta=np.array([float(v) for v in abilities.values()], dtype=np.float64),
            noise=noise, position_bias=position_bias, lapse=lapse)
        self.rng = np.random.default_rng(seed)
        self.soft = soft
        self.latency_s = latency_s
        self.clock = clock or SystemClock()
        self._name = name
        self.provider, _, self.model = name.partition("/")

    @property
    def name(self) -> str:
        return self._name

    def _item(self, text: str) -> int:
        return essay_index(self._index, text, "sim judge: no true ability", "abilities")

    def ability(self, text: str) -> float:
        """True ability of an essay; InputError when the mapping does not cover it."""
        return float(self.truth.theta[self._item(text)])

    def probability_a(self, request: JudgeRequest) -> float:
        """Probability that A wins, position bias and lapse included."""
        a, b = self._item(request.essay_a), self._item(request.essay_b)
        return float(win_probability(self.truth, [a], [b])[0])

    async def judge(self, request: JudgeRequest) -> Verdict:
        p = self.probability_a(request)
        if self.latency_s > 0:
            await self.clock.sleep(self.latency_s)
        a_wins = bool(self.rng.random() < p)
        winner = Winner.A if a_wins else Winner.B
        return Verdict(
            winner=winner,
            p_a=p if self.soft else (1.0 if a_wins else 0.0),
            justification=f"simulated Bradley-Terry draw, P(A)={p:.3f} (not an LLM)",
            provider=self.provider,
            model=self.model,
            request_sha256=fingerprint_request(request),
            raw_response=f'{{"winner": "{winner.value}", "p": {p:.6f}}}',
        )
