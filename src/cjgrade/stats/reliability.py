"""Reliability and fit statistics of a Bradley-Terry scale.

References: Bramley (2015) "Investigating the reliability of adaptive comparative judgment";
Verhavert et al. (2018); sirt::btm (Robitzsch) for SSR (``mle.rel``) and separation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["scale_separation_reliability"]


def scale_separation_reliability(theta: NDArray[np.float64], se: NDArray[np.float64]) -> float:
    """Scale Separation Reliability: (observed variance - mean error variance) / observed variance.

    The observed variance is the sample variance (ddof=1) of ``theta``; the error variance is the
    mean of ``se**2``. Can be negative when the errors swamp the spread.
    """
    theta = np.asarray(theta, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    if theta.size < 2:
        return float("nan")
    var_obs = float(np.var(theta, ddof=1))
    if var_obs <= 0:
        return float("nan")
    return (var_obs - float(np.mean(se**2))) / var_obs
