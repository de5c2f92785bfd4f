"""Soft outcomes: a judge's stated probability, modelled on its logit with estimated noise.

An LLM judge reports ``p_a``, the probability that essay A is the better one (from token
log-probabilities or a stated confidence). Entered into the Bernoulli likelihood as
``y log s(d) + (1 - y) log s(-d)``, such an outcome has the curvature of a coin flip however
sure the judge was, so standard errors, the evidence for the prior variance and every
reliability built on them treat "0.68" as nearly no information (``docs/decisions/
soft-outcomes.md`` has the measurements).

cjgrade models a soft outcome instead through its logit (a Gaussian product of experts,
Liusie et al. 2024)::

    z_k = logit(p_a) ~ N(theta[a_k] - theta[b_k] + gamma * position_known_k, sigma^2)

with the noise variance ``sigma^2`` estimated from the data. This is exact for a judge whose
belief is the true difference plus Gaussian noise on the logit scale, and the abilities come
out on the judge's own logit scale. Each soft comparison carries information ``1 / sigma^2``
about its difference, against at most ``1/4`` for a hard one. Logits are clipped to
``+-SOFT_LOGIT_LIMIT`` (``p_a`` in [0.005, 0.995], the bound the judges already apply), so a
saturated reply cannot pull an estimate arbitrarily far.

``sigma^2`` is estimated as ``(RSS + nu0 sigma0^2) / (W - gamma_soft + nu0)``: the weighted
residual sum of squares over the soft comparisons' weight less the effective number of
parameters the soft data fit (MacKay's evidence update), with a weak inverse-gamma prior of
``nu0 = 2`` pseudo-observations at ``sigma0^2 = 1`` that steadies the first rounds.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CONFIDENCE_TO_P_CHOSEN",
    "NOISE_PRIOR_VARIANCE",
    "NOISE_PRIOR_WEIGHT",
    "SOFT_LOGIT_LIMIT",
    "soft_logit",
    "soft_noise_update",
]

FloatArray = NDArray[np.float64]

CONFIDENCE_TO_P_CHOSEN: dict[int, float] = {1: 0.55, 2: 0.65, 3: 0.75, 4: 0.85, 5: 0.95}
"""Probability that the *chosen* essay is better, per stated confidence (1-5).

Linear in steps of 0.10, symmetric around 0.5: level 1 is not a coin flip (the judge still had
to pick a side) and level 5 stays below 1. It is a prior, not a calibration: the soft-outcome
model estimates the noise of these values from the data, and the calibration diagnostic shows
how the levels agree with the fitted scale."""

SOFT_LOGIT_LIMIT = math.log(0.995 / 0.005)
"""Largest absolute logit of a soft outcome (5.29: ``p_a`` in [0.005, 0.995])."""
NOISE_PRIOR_WEIGHT = 2.0
"""Pseudo-observations of the inverse-gamma prior on the soft-outcome noise variance."""
NOISE_PRIOR_VARIANCE = 1.0
"""Prior guess of the soft-outcome noise variance (belief noise SD 1 on the logit scale)."""


def soft_logit(p: FloatArray) -> FloatArray:
    """``logit(p)`` clipped to ``+-SOFT_LOGIT_LIMIT`` (0 and 1 map to the bounds)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 0.005, 0.995)
    out: FloatArray = np.clip(np.log(q) - np.log1p(-q), -SOFT_LOGIT_LIMIT, SOFT_LOGIT_LIMIT)
    return out


def soft_noise_update(
    rss: float, weight: float, effective_params: float
) -> float:
    """The noise variance from the soft outcomes' weighted residual sum of squares ``rss``,
    their total weight and the effective number of parameters they fit."""
    dof = max(weight - effective_params, 0.0) + NOISE_PRIOR_WEIGHT
    return (rss + NOISE_PRIOR_WEIGHT * NOISE_PRIOR_VARIANCE) / dof
