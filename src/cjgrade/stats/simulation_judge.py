"""A simulated judge with known true abilities.

``P(A wins) = lapse / 2 + (1 - lapse) * sigmoid((theta[a] - theta[b]) / noise + position_bias)``

- ``noise`` scales the logit: 1 is a Bradley-Terry judge on the true scale, larger values a
  less discriminating judge;
- ``position_bias`` is a log-odds advantage of whatever essay is shown first (the A slot);
- ``lapse`` is the probability that the judge answers at random (a coin flip), whatever the
  essays.

Pure functions of indices and a ``numpy.random.Generator``: other modules wrap them as the
``sim/...`` judge.

:func:`simulate_soft_outcomes` simulates an LLM-like judge instead: its *belief* about a pair is
the logit ``z = (theta[a] - theta[b]) / noise + position_bias + e`` with belief noise
``e ~ N(0, belief_noise^2)``, and it reports (``outcome``)

- ``"winner"``: only the side it believes better (a hard outcome of the soft judge, as an LLM
  decoding greedily gives it);
- ``"sampled"``: a side drawn with its belief's probability ``sigmoid(power * z)`` (the hard
  outcome of an LLM sampling its answer at temperature 1);
- ``"logprob"``: ``p_a = sigmoid(power * z)`` as token log-probabilities would give it;
- ``"confidence"``: the winner and the stated confidence 1-5 whose probability
  (:data:`~cjgrade.stats.soft_outcomes.CONFIDENCE_TO_P_CHOSEN`) is nearest to
  ``sigmoid(power * |z|)``.

``power`` above 1 is an over-confident judge (``power = 2``: stated odds squared), below 1 an
under-confident one.

:func:`simulate_question_outcomes` draws the same outcomes from *common random numbers*: the
coin flip of a question is fixed by a key, the unordered pair and how often that pair was asked
before (a counter-based generator, the SplitMix64 finaliser). Two pairing strategies run with
the same key then see the same verdict whenever they ask the same question, so the difference
between them is measured with much less noise than with independent draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, ndtri

from cjgrade.errors import InputError
from cjgrade.stats.soft_outcomes import CONFIDENCE_TO_P_CHOSEN

__all__ = [
    "OUTCOMES",
    "SOFT_OUTCOMES",
    "SimulatedJudge",
    "draw_abilities",
    "question_uniforms",
    "simulate_outcomes",
    "simulate_question_outcomes",
    "simulate_soft_outcomes",
    "win_probability",
]

FloatArray = NDArray[np.float64]

OUTCOMES = ("hard", "winner", "sampled", "logprob", "confidence")
"""What a simulated judge reports: ``hard`` Bernoulli wins at the judge's win probability;
``winner``, ``sampled``, ``logprob`` and ``confidence`` from a noisy belief (module docstring).
"""
SOFT_OUTCOMES = ("logprob", "confidence")
"""The outcomes that are soft probabilities."""
_SAMPLING_KEY = 0x5851F42D4C957F2D


@dataclass(frozen=True)
class SimulatedJudge:
    """Parameters of a simulated judge.

    Attributes
    ----------
    theta : true abilities, one per item, on the logit scale.
    noise : logit scale divisor (> 0); 1 means Bradley-Terry on ``theta`` itself.
    position_bias : log-odds advantage of the A slot (first-shown essay).
    lapse : probability in ``[0, 1]`` of a random answer.
    """

    theta: FloatArray
    noise: float = 1.0
    position_bias: float = 0.0
    lapse: float = 0.0

    def __post_init__(self) -> None:
        theta = np.asarray(self.theta, dtype=np.float64).ravel()
        if theta.size < 1 or not np.all(np.isfinite(theta)):
            raise InputError("theta must be a non-empty array of finite abilities")
        if not (math.isfinite(self.noise) and self.noise > 0):
            raise InputError("noise must be a positive number")
        if not math.isfinite(self.position_bias):
            raise InputError("position_bias must be a finite number")
        if not 0.0 <= self.lapse <= 1.0:
            raise InputError("lapse must be a probability in [0, 1]")
        object.__setattr__(self, "theta", theta)


def draw_abilities(n_items: int, sd: float, rng: np.random.Generator) -> FloatArray:
    """True abilities ``N(0, sd^2)`` for ``n_items`` items."""
    if n_items < 2:
        raise InputError("a simulation needs at least two items")
    if not (math.isfinite(sd) and sd > 0):
        raise InputError("the true ability SD must be a positive number")
    return rng.normal(0.0, sd, n_items)


def _indices(judge: SimulatedJudge, a: object, b: object) -> tuple[NDArray[np.intp], ...]:
    a_arr = np.asarray(a, dtype=np.intp).ravel()
    b_arr = np.asarray(b, dtype=np.intp).ravel()
    n = judge.theta.size
    if a_arr.size != b_arr.size:
        raise InputError(f"a and b differ in length ({a_arr.size} vs {b_arr.size})")
    if a_arr.size and (min(a_arr.min(), b_arr.min()) < 0 or max(a_arr.max(), b_arr.max()) >= n):
        raise InputError(f"item index out of range 0..{n - 1}")
    return a_arr, b_arr


def win_probability(judge: SimulatedJudge, a: object, b: object) -> FloatArray:
    """Probability that the item in the A slot wins, for each pair ``(a[k], b[k])``."""
    a_arr, b_arr = _indices(judge, a, b)
    logit = (judge.theta[a_arr] - judge.theta[b_arr]) / judge.noise + judge.position_bias
    p: FloatArray = judge.lapse / 2.0 + (1.0 - judge.lapse) / (1.0 + np.exp(-logit))
    return p


def simulate_outcomes(
    judge: SimulatedJudge, a: object, b: object, rng: np.random.Generator
) -> FloatArray:
    """Hard outcomes (1.0 when the A-slot item wins, else 0.0), one per pair."""
    p = win_probability(judge, a, b)
    out: FloatArray = (rng.random(p.size) < p).astype(np.float64)
    return out


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixing function;
    unsigned arithmetic wraps modulo 2**64."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    out: NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return out


def question_uniforms(key: int, a: object, b: object, repetition: object) -> FloatArray:
    """One uniform number in ``[0, 1)`` per question, fixed by ``key``, the unordered pair
    ``{a[k], b[k]}`` and ``repetition[k]`` (how many times that pair was asked before).

    The order of ``a`` and ``b`` does not matter, nor does anything else asked before:
    the same question under the same key always gets the same number.
    """
    a_arr = np.asarray(a, dtype=np.int64).ravel()
    b_arr = np.asarray(b, dtype=np.int64).ravel()
    if a_arr.shape != b_arr.shape:
        raise InputError(f"a and b differ in length ({a_arr.size} vs {b_arr.size})")
    rep_arr = np.asarray(repetition, dtype=np.int64)
    if rep_arr.size not in (1, a_arr.size):
        raise InputError(f"{rep_arr.size} repetitions for {a_arr.size} questions")
    rep = np.broadcast_to(rep_arr.ravel(), a_arr.shape)
    if a_arr.size and min(a_arr.min(), b_arr.min(), rep.min()) < 0:
        raise InputError("item indices and repetitions must be non-negative")
    if not 0 <= key < 2**64:
        raise InputError("the key must be an integer in [0, 2**64)")
    with np.errstate(over="ignore"):
        h = _splitmix(np.full(a_arr.shape, key, dtype=np.uint64))
        for part in (np.minimum(a_arr, b_arr), np.maximum(a_arr, b_arr), rep):
            h = _splitmix(h ^ part.astype(np.uint64))
    u: FloatArray = (h >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return u


def simulate_question_outcomes(
    judge: SimulatedJudge, a: object, b: object, repetition: object, key: int
) -> FloatArray:
    """Hard outcomes (1.0 when the A-slot item wins) from common random numbers.

    The lower-indexed item of a pair wins when the question's uniform
    (:func:`question_uniforms`) is below its win probability in the orientation asked, so
    each outcome has the judge's probability and a repeated question gets a fresh coin.
    """
    a_arr, b_arr = _indices(judge, a, b)
    u = question_uniforms(key, a_arr, b_arr, repetition)
    p_a = win_probability(judge, a_arr, b_arr)
    a_is_low = a_arr <= b_arr
    low_wins = u < np.where(a_is_low, p_a, 1.0 - p_a)
    out: FloatArray = (low_wins == a_is_low).astype(np.float64)
    return out


def simulate_soft_outcomes(
    judge: SimulatedJudge,
    a: object,
    b: object,
    repetition: object,
    key: int,
    *,
    outcome: str,
    belief_noise: float = 1.0,
    power: float = 1.0,
) -> FloatArray:
    """``p_a`` per question from a judge with a noisy belief (see the module docstring).

    The belief noise of a question is fixed by common random numbers
    (:func:`question_uniforms`), drawn for the lower-indexed item of the pair, so two strategies
    asking the same question get the same reply. ``judge.lapse`` is not used here.

    Raises
    ------
    InputError
        For an unknown ``outcome`` (``hard`` is :func:`simulate_question_outcomes`), or a
        negative belief noise or non-positive power.
    """
    if outcome not in OUTCOMES[1:]:
        raise InputError(f"unknown soft outcome {outcome!r}; use one of {OUTCOMES[1:]}")
    if not (math.isfinite(belief_noise) and belief_noise >= 0):
        raise InputError("belief_noise must be a non-negative number")
    if not (math.isfinite(power) and power > 0):
        raise InputError("power must be a positive number")
    a_arr, b_arr = _indices(judge, a, b)
    u = question_uniforms(key, a_arr, b_arr, repetition)
    e = belief_noise * ndtri(np.clip(u, 1e-12, 1.0 - 1e-12))
    e = np.where(a_arr <= b_arr, e, -e)
    z = (judge.theta[a_arr] - judge.theta[b_arr]) / judge.noise + judge.position_bias + e
    if outcome == "winner":
        out: FloatArray = (z > 0).astype(np.float64)
        return out
    if outcome == "sampled":
        u2 = question_uniforms(key ^ _SAMPLING_KEY, a_arr, b_arr, repetition)
        p_a = expit(power * z)
        out = (np.where(a_arr <= b_arr, u2, 1.0 - u2) < p_a).astype(np.float64)
        return out
    if outcome == "logprob":
        out = np.clip(expit(power * z), 0.005, 0.995)
        return out
    levels = np.array(sorted(CONFIDENCE_TO_P_CHOSEN.values()))
    p_chosen = expit(power * np.abs(z))
    stated = levels[np.argmin(np.abs(p_chosen[:, None] - levels[None, :]), axis=1)]
    out = np.where(z > 0, stated, 1.0 - stated)
    return out
