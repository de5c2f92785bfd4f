"""``sim/scores``: a simulated judge that knows every essay's human score (the eval's ceiling).

Each essay's score is looked up by :func:`~cjgrade.judges.sim.text_key` of its text in the
``scores`` option, exactly as ``sim/bt`` looks up abilities. The scores are standardised over the
mapping and scaled to a true ability ``theta = spread * (score - mean) / sd`` (logits), so the
judge is equally discriminating on a 0-3 and a 10-60 scale. A comparison is the statistics
core's noisy-belief judge (:func:`cjgrade.stats.simulation_judge.simulate_soft_outcomes`):
belief ``z = theta_A - theta_B + position_bias + e`` with ``e ~ N(0, belief_noise^2)``, reported

- soft (default): ``p_a = sigmoid(z)``, as token log-probabilities would give it;
- hard (``soft=False``): one side drawn with probability ``sigmoid(z)``.

Draws are counter-based (common random numbers keyed by ``seed``, the pair and how often the
pair was asked before), so a run is reproducible whatever order concurrent requests arrive in.
Essays with equal scores are equally good to this judge: it tells them apart only by noise.
Not an LLM: the verdict says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from cjgrade.errors import InputError
from cjgrade.judges.base import JudgeRequest, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.judges.clock import Clock, SystemClock
from cjgrade.judges.sim import essay_index
from cjgrade.stats.simulation_judge import SimulatedJudge, simulate_soft_outcomes

__all__ = ["ScoresJudge", "abilities_from_scores"]

_MAX_KEY = 2**64


def abilities_from_scores(scores: Mapping[str, float], spread: float) -> dict[str, float]:
    """``spread * (score - mean) / sd`` per key (population SD over the mapping).

    Raises
    ------
    InputError
        Fewer than two distinct scores, a score that is not a finite number, a spread that is
        not positive.
    """
    if not (isinstance(spread, int | float) and math.isfinite(spread) and spread > 0):
        raise InputError(f"spread must be a positive number of logits, not {spread!r}")
    values = np.array([float(v) for v in scores.values()], dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise InputError("scores must be a non-empty mapping of finite numbers")
    sd = float(values.std())
    if sd == 0.0:
        raise InputError("every essay has the same score; the judge could only toss coins")
    mean = float(values.mean())
    return {key: spread * (float(v) - mean) / sd for key, v in scores.items()}


class ScoresJudge:
    """Simulated judge whose true abilities are the (standardised) human scores.

    Parameters
    ----------
    scores : human score per essay, keyed by :func:`text_key` of the text (or the text).
    belief_noise : SD of the belief error on the logit scale (0: always the better essay).
    soft : report ``sigmoid(z)`` (True) or a hard draw (False).
    spread : true ability SD in logits of the standardised scores.
    position_bias : log-odds in favour of the essay shown first (A).
    seed : key of the counter-based draws.
    latency_s : fixed wait per call.
    """

    def __init__(self, scores: Mapping[str, float], *, belief_noise: float = 1.0,
                 soft: bool = True, spread: float = 2.0, position_bias: float = 0.0,
                 seed: int = 0, latency_s: float = 0.0, clock: Clock | None = None,
                 name: str = "sim/scores") -> None:
        if not scores:
            raise InputError("sim/scores: scores must not be empty")
        if not isinstance(soft, bool):
            raise InputError(f"soft must be true or false, not {soft!r}")
        if not (isinstance(seed, int) and 0 <= seed < _MAX_KEY):
            raise InputError(f"seed must be an integer in [0, 2**64), not {seed!r}")
        abilities = abilities_from_scores(scores, spread)
        self._index = {key: i for i, key in enumerate(abilities)}
        self.truth = SimulatedJudge(theta=np.array(list(abilities.values())),
                                    position_bias=position_bias)
        if not (math.isfinite(belief_noise) and belief_noise >= 0):
            raise InputError(f"belief_noise must be a non-negative number, not {belief_noise!r}")
        self.belief_noise = float(belief_noise)
        self.outcome = "logprob" if soft else "sampled"
        self.seed = seed
        self.latency_s = latency_s
        self.clock = clock or SystemClock()
        self._asked: dict[tuple[int, int], int] = {}
        self._name = name
        self.provider, _, self.model = name.partition("/")

    @property
    def name(self) -> str:
        return self._name

    def _item(self, text: str) -> int:
        return essay_index(self._index, text, "sim/scores: no human score", "scores")

    def ability(self, text: str) -> float:
        """True ability (standardised score) of an essay."""
        return float(self.truth.theta[self._item(text)])

    async def judge(self, request: JudgeRequest) -> Verdict:
        a, b = self._item(request.essay_a), self._item(request.essay_b)
        pair = (min(a, b), max(a, b))
        repetition = self._asked.get(pair, 0)
        self._asked[pair] = repetition + 1
        p_a = float(simulate_soft_outcomes(self.truth, [a], [b], [repetition], self.seed,
                                           outcome=self.outcome,
                                           belief_noise=self.belief_noise)[0])
        if self.latency_s > 0:
            await self.clock.sleep(self.latency_s)
        winner = Winner.A if p_a >= 0.5 else Winner.B
        return Verdict(
            winner=winner,
            p_a=p_a,
            justification=f"simulated judge knowing the human scores, P(A)={p_a:.3f} "
                          "(not an LLM)",
            provider=self.provider,
            model=self.model,
            request_sha256=fingerprint_request(request),
            raw_response=f'{{"winner": "{winner.value}", "p": {p_a:.6f}}}',
        )
