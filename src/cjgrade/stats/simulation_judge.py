"""A simulated judge with known true abilities.

``P(A wins) = lapse / 2 + (1 - lapse) * sigmoid((theta[a] - theta[b]) / noise + position_bias)``

- ``noise`` scales the logit: 1 is a Bradley-Terry judge on the true scale, larger values a
  less discriminating judge;
- ``position_bias`` is a log-odds advantage of whatever essay is shown first (the A slot);
- ``lapse`` is the probability that the judge answers at random (a coin flip), whatever the
  essays.

Pure functions of indices and a ``numpy.random.Generator``: other modules wrap them as the
``sim/...`` judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cjgrade.errors import InputError

__all__ = ["SimulatedJudge", "draw_abilities", "simulate_outcomes", "win_probability"]

FloatArray = NDArray[np.float64]


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
