"""Refitting the scale at the end of a round, from the stored comparisons (ids mapped to
indices here, at the edge of the statistics core).

By default the prior variance is estimated from the data (empirical Bayes, warm-started from
the previous round's abilities and variance): early rounds, where some essays have won or lost
everything, stay finite.

The reliability a round reports (and the engine stops on) is the posterior-sampled reliability
(:func:`cjgrade.stats.posterior_sampling.sample_reliability`): the Laplace empirical-Bayes
figure reads about 0.2 too low under adaptive pairing and SSR too high (see
``docs/statistics-pairing.md``). The sampler's random generator is seeded from ``seed`` (the
batch seed, when the caller passes it) and a SHA-256 digest of the fitted data, so refitting
the same comparisons (a resumed batch) reproduces the figure exactly. Above
:data:`MAX_SAMPLED_ITEMS` essays the sampler is not run and the Laplace figure is reported
instead; it errs low, so a batch never stops early on it, and
``RoundEstimate.reliability_method`` says which one was used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cjgrade.stats.bt import BTFit, PairwiseData, fit_bradley_terry
from cjgrade.stats.empirical_bayes import (
    EmpiricalBayesFit,
    centred_se,
    fit_empirical_bayes,
)
from cjgrade.stats.posterior_sampling import sample_reliability
from cjgrade.stats.reliability import scale_separation_reliability
from cjgrade.store.records import ComparisonRecord, RoundFitRecord

__all__ = [
    "MAX_SAMPLED_ITEMS",
    "RELIABILITY_LAPLACE",
    "RELIABILITY_SAMPLED",
    "REUSE_SE_MIN_ITEMS",
    "RoundEstimate",
    "WarmStart",
    "build_pairwise",
    "fit_round",
    "round_reliability",
    "sampler_draws",
]

FloatArray = NDArray[np.float64]

ROUND_EM_ITERATIONS = 3
"""EM iterations of the prior variance per round fit (warm-started, so they accumulate)."""
REUSE_SE_MIN_ITEMS = 500
"""From this many essays a round fit reuses standard errors between its empirical-Bayes updates
(:func:`~cjgrade.stats.empirical_bayes.fit_empirical_bayes` with ``initial_se``): one dense
inverse per round instead of four. Below it they are cheap and recomputed at every update.
Figures: docs/benchmarks.md, "Round-fit thresholds"."""
WARM_VARIANCE_FLOOR = 0.05
"""A round fit warm-started from a prior variance below this starts from it instead: when the
first rounds carry little information the variance falls towards its floor, and each round
runs only a few evidence updates; starting a little above lets it climb back (or fall again)
within the round."""
EB_TOLERANCE = 1e-3
"""Relative tolerance on the prior variance: its EM converges slowly and a change below 0.1%
moves no ability or reliability by a reportable amount."""

MAX_SAMPLED_ITEMS = 2000
"""Largest batch (essays) whose reliability is posterior-sampled (fewer draws for large
batches: :func:`sampler_draws`); above this size the Laplace empirical-Bayes reliability is
reported instead. Sampler cost per round: docs/benchmarks.md, "Round-fit thresholds"."""

RELIABILITY_SAMPLED = "posterior_sampled"
"""``reliability_method`` of the posterior-sampled reliability."""
RELIABILITY_LAPLACE = "laplace_empirical_bayes"
"""``reliability_method`` of the Laplace empirical-Bayes reliability (conservative: it reads
low under adaptive pairing)."""


@dataclass(frozen=True)
class RoundEstimate:
    """Abilities after a round, in the batch's essay order."""

    essay_ids: tuple[str, ...]
    theta: FloatArray
    se: FloatArray
    ssr: float
    """Scale Separation Reliability of ``theta``/``se`` (the conventional figure)."""
    reliability: float
    """The reported reliability, used for stopping (see ``reliability_method``)."""
    prior_variance: float | None
    fit: BTFit
    n_comparisons: int
    judges: tuple[str, ...] = ()
    reliability_method: str = RELIABILITY_SAMPLED
    """:data:`RELIABILITY_SAMPLED` or :data:`RELIABILITY_LAPLACE` (batches above
    :data:`MAX_SAMPLED_ITEMS` essays, and rounds whose reliability no rule reads)."""
    laplace_reliability: float | None = None
    """The Laplace empirical-Bayes posterior reliability, for comparison."""
    soft_variance: float | None = None
    """Estimated noise variance of the soft outcomes' logits (None without soft outcomes)."""

    @property
    def soft_information(self) -> float | None:
        """Information per comparison for pair selection when most outcomes are soft
        (``1 / soft_variance``); None when most are hard."""
        if self.soft_variance is None or 2 * self.fit.n_soft < self.n_comparisons:
            return None
        return 1.0 / self.soft_variance

    def as_dicts(self) -> tuple[dict[str, float], dict[str, float]]:
        theta = {e: float(t) for e, t in zip(self.essay_ids, self.theta, strict=True)}
        se = {e: float(s) for e, s in zip(self.essay_ids, self.se, strict=True)}
        return theta, se


@dataclass(frozen=True)
class WarmStart:
    """Starting point of a fit: abilities in essay order, the prior variance and (optional)
    standard errors, which spare the first empirical-Bayes update a dense inverse."""

    theta: FloatArray
    prior_variance: float | None
    se: FloatArray | None = None
    soft_variance: float | None = None

    @classmethod
    def from_fit(cls, essay_ids: Sequence[str], fit: RoundFitRecord) -> WarmStart | None:
        """From a stored round fit (None when it does not cover these essays)."""
        theta, se = fit.theta, fit.se
        prior_variance, soft_variance = fit.metrics.prior_variance, fit.metrics.soft_variance
        if any(e not in theta for e in essay_ids):
            return None
        se_array = None
        if all(e in se for e in essay_ids):
            se_array = np.array([se[e] for e in essay_ids], dtype=np.float64)
            if not np.all(np.isfinite(se_array) & (se_array >= 0)):
                se_array = None  # a stored fit without usable SEs: computed afresh
        return cls(np.array([theta[e] for e in essay_ids], dtype=np.float64), prior_variance,
                   se_array, soft_variance)


def build_pairwise(
    essay_ids: Sequence[str], comparisons: Sequence[ComparisonRecord]
) -> tuple[PairwiseData, tuple[str, ...]]:
    """Successful comparisons as integer-indexed data (position known: A slot first).

    A verdict with ``0 < p_a < 1`` is a soft outcome (a judge's stated probability, modelled
    on its logit with estimated noise); ``p_a`` of 0 or 1 is a hard win or loss. A verdict the
    response cache returned for a request already answered in this batch is a copy of that
    answer, not a second observation, and is left out.
    Returns the data and the judge names (``provider/model``) indexed by ``data.judge``.
    """
    index = {e: i for i, e in enumerate(essay_ids)}
    done = _independent([c for c in comparisons if c.status == "succeeded" and c.p_a is not None])
    judges: dict[str, int] = {}
    judge_idx = []
    for c in done:
        name = f"{c.provider}/{c.model}"
        judge_idx.append(judges.setdefault(name, len(judges)))
    data = PairwiseData.build(
        len(essay_ids),
        [index[c.essay_a] for c in done],
        [index[c.essay_b] for c in done],
        [float(c.p_a) for c in done],  # type: ignore[arg-type]
        position_known=np.ones(len(done), dtype=bool),
        judge=np.asarray(judge_idx, dtype=np.intp),
        soft=[0.0 < float(c.p_a) < 1.0 for c in done],  # type: ignore[arg-type]
    )
    return data, tuple(judges)


def _independent(done: Sequence[ComparisonRecord]) -> list[ComparisonRecord]:
    """``done`` without cached copies of a request answered earlier in the batch."""
    seen: set[str] = set()
    out = []
    for c in sorted(done, key=lambda c: c.id):
        sha = c.request_sha256
        if sha is not None and sha in seen and "cached" in c.flags:
            continue
        if sha is not None:
            seen.add(sha)
        out.append(c)
    return out


def _data_seed(data: PairwiseData, seed: int) -> np.random.Generator:
    """A generator seeded from ``seed`` and a digest of the data (same data, same draws)."""
    digest = hashlib.sha256()
    digest.update(np.int64(data.n_items).tobytes())
    for index in (data.a, data.b):
        digest.update(np.ascontiguousarray(index, dtype=np.int64).tobytes())
    for values in (data.y, data.weight):
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    words = np.frombuffer(digest.digest()[:16], dtype=np.uint32)
    return np.random.default_rng([seed & 0xFFFFFFFF, *(int(w) for w in words)])


def round_reliability(
    data: PairwiseData,
    eb: EmpiricalBayesFit,
    *,
    seed: int = 0,
    max_sampled_items: int = MAX_SAMPLED_ITEMS,
    estimate: FloatArray | None = None,
) -> tuple[float, str]:
    """The reliability to report and stop on, and its method (see the module docstring).

    ``eb`` is an empirical-Bayes fit of ``data`` (the sampler's starting point, and the
    figure reported above ``max_sampled_items`` essays or without comparisons).
    ``estimate`` are the reported abilities whose reliability is estimated (the empirical-Bayes
    abilities when absent).
    """
    if data.n_items > max_sampled_items or data.n_comparisons == 0:
        return float(eb.reliability), RELIABILITY_LAPLACE
    n_draws, n_warmup = sampler_draws(data.n_items)
    sampled = sample_reliability(data, _data_seed(data, seed), initial=eb, n_draws=n_draws,
                                 n_warmup=n_warmup,
                                 estimate=eb.fit.theta if estimate is None else estimate)
    return float(sampled.reliability), RELIABILITY_SAMPLED


def sampler_draws(n_items: int) -> tuple[int, int]:
    """Draws and warm-up iterations of the reliability sampler for a batch of ``n_items``.

    The reliability (a mean over draws of a correlation across all items) has a Monte Carlo
    error that shrinks as the batch grows: 300 draws up to 200 essays, then ``60000 / n``
    down to 30 from 2,000 essays (warm-up half as many, at least 30). Measured at 2,000 essays
    and 40,000 comparisons: 30 draws give the 300-draw figure within 0.001 (SD 0.0014 between
    sampler seeds) at a fifth of the cost; at 60 essays 300 draws have SD 0.007.
    """
    n_draws = int(np.clip(round(60000 / max(n_items, 1)), 30, 300))
    return n_draws, max(30, n_draws // 2)


def fit_round(
    essay_ids: Sequence[str],
    comparisons: Sequence[ComparisonRecord],
    *,
    alpha: float | None,
    position_effect: bool,
    previous: RoundEstimate | None = None,
    warm: WarmStart | None = None,
    max_iter: int = 200,
    seed: int = 0,
    sample: bool = True,
) -> RoundEstimate:
    """Fit Bradley-Terry on every successful comparison so far (warm start from ``previous``).

    ``alpha=None`` estimates the prior variance from the data (empirical Bayes); a number is a
    fixed Gaussian prior precision. ``max_iter`` bounds the variance's EM iterations: round
    fits use few (each round continues from the previous round's variance), the final fit
    runs to convergence. ``sample=False`` reports the Laplace reliability without running the
    sampler (about nine tenths of a round fit's time at 200 essays): for a round whose
    reliability no stopping rule reads (:func:`cjgrade.engine.stop_rules.reliability_is_read`).
    """
    data, judges = build_pairwise(essay_ids, comparisons)
    if warm is None and previous is not None:
        warm = WarmStart(previous.theta, previous.prior_variance, previous.se,
                         previous.soft_variance)
    start = warm.theta if warm is not None else None
    tau2: float | None
    eb = fit_empirical_bayes(
        data,
        initial_variance=max(warm.prior_variance or 1.0, WARM_VARIANCE_FLOOR) if warm else 1.0,
        initial_soft_variance=warm.soft_variance if warm else None,
        initial_params=start,
        initial_se=(warm.se if warm is not None and data.n_items >= REUSE_SE_MIN_ITEMS
                    else None),
        position_effect=position_effect,
        tol=EB_TOLERANCE,
        max_iter=max_iter,
    )
    if alpha is None:
        fit = eb.fit
        tau2 = eb.prior_variance
    else:
        fit = fit_bradley_terry(
            data, alpha=alpha, position_effect=position_effect, initial_params=start,
            soft_variance=eb.fit.soft_variance,
        )
        tau2 = 1.0 / alpha if alpha > 0 else None
    if sample:
        reliability, method = round_reliability(data, eb, seed=seed, estimate=fit.theta)
    else:
        reliability, method = float(eb.reliability), RELIABILITY_LAPLACE
    # Errors relative to the batch mean: the overall level is the prior's, not the data's.
    se = centred_se(fit.se, tau2) if tau2 is not None else fit.se
    ssr = scale_separation_reliability(fit.theta, se)
    return RoundEstimate(
        essay_ids=tuple(essay_ids), theta=fit.theta, se=se, ssr=float(ssr),
        reliability=reliability, prior_variance=tau2, fit=fit,
        n_comparisons=data.n_comparisons, judges=judges, reliability_method=method,
        laplace_reliability=float(eb.reliability), soft_variance=fit.soft_variance,
    )
