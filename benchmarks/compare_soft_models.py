"""Three readings of soft outcomes compared on random designs (docs/decisions/soft-outcomes.md).

A judge whose belief is ``d + N(0, 1)`` on the logit scale reports ``p_a`` (``logprob``) or a
stated confidence 1-5 (``confidence``); 60 essays with true SD 1.5; 30 seeds per cell. Each
reading is fitted by the engine's empirical-Bayes fit and scored by the Laplace reliability
minus the truth-based one, the Spearman correlation with the truth and the prior variance
(truth 2.25):

- ``bernoulli``: ``p_a`` as a fractional Bernoulli outcome (cjgrade before the decision);
- ``quasi``: the same, every comparison weighted by one over the Pearson dispersion;
- ``gauss``: the logit of ``p_a`` with estimated noise (what cjgrade does now).

Usage: ``python benchmarks/compare_soft_models.py``
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import spearmanr

from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.empirical_bayes import EmpiricalBayesFit, fit_empirical_bayes
from cjgrade.stats.soft_outcomes import CONFIDENCE_TO_P_CHOSEN

N_ITEMS, SD, SEEDS = 60, 1.5, 30


def _outcomes(z: np.ndarray, outcome: str) -> np.ndarray:
    if outcome == "logprob":
        return np.clip(expit(z), 0.005, 0.995)
    levels = np.array(sorted(CONFIDENCE_TO_P_CHOSEN.values()))
    p_chosen = expit(np.abs(z))
    stated = levels[np.argmin(np.abs(p_chosen[:, None] - levels[None, :]), axis=1)]
    return np.where(z > 0, stated, 1.0 - stated)


def _fits(seed: int, m: int, outcome: str) -> tuple[np.ndarray, dict[str, EmpiricalBayesFit]]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, SD, N_ITEMS)
    a = rng.integers(0, N_ITEMS, m)
    b = (a + rng.integers(1, N_ITEMS, m)) % N_ITEMS
    y = _outcomes(theta[a] - theta[b] + rng.normal(0.0, 1.0, m), outcome)
    bern = PairwiseData.build(N_ITEMS, a, b, y)
    pilot = fit_bradley_terry(bern, alpha=0.01)
    p = expit(pilot.theta[a] - pilot.theta[b])
    phi = float(np.sum((y - p) ** 2 / (p * (1 - p)))) / (m - N_ITEMS + 1)
    quasi = PairwiseData.build(N_ITEMS, a, b, y, weight=np.full(m, 1.0 / phi))
    gauss = PairwiseData.build(N_ITEMS, a, b, y, soft=np.ones(m, dtype=bool))
    return theta, {name: fit_empirical_bayes(d) for name, d in
                   (("bernoulli", bern), ("quasi", quasi), ("gauss", gauss))}


def main() -> None:
    for outcome in ("logprob", "confidence"):
        for m in (90, 300, 900):
            rows: dict[str, list[tuple[float, float, float]]] = {}
            for seed in range(SEEDS):
                theta, fits = _fits(seed, m, outcome)
                for name, eb in fits.items():
                    truth = float(np.corrcoef(eb.fit.theta, theta)[0, 1] ** 2)
                    rho = float(spearmanr(eb.fit.theta, theta).statistic)
                    rows.setdefault(name, []).append((eb.reliability - truth, rho,
                                                      eb.prior_variance))
            for name, values in rows.items():
                gap, rho, tau2 = np.mean(values, axis=0)
                print(f"{outcome:10s} {m:4d} {name:9s} gap {gap:+.3f} rho {rho:.3f} "
                      f"tau2 {tau2:.2f}")


if __name__ == "__main__":
    main()
