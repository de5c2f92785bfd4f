"""Simulation harness: how many comparisons each pairing strategy needs.

For a :class:`Scenario` (number of essays, true ability SD, judge noise, position bias, lapse)
and a seed, :func:`simulate_run` draws true abilities, then runs rounds in which every essay is
compared about once (``select_pairs(strategy, state, rng)``), judged by the simulated judge,
and refits after each round. Each round records:

- ``spearman``: rank correlation of the estimates with the true abilities;
- ``truth_reliability``: squared Pearson correlation of the estimates with the truth;
- ``ssr``: Scale Separation Reliability of the maximum-likelihood fit with sirt's score
  adjustment (:data:`SSR_EPS`), the figure classical CJ software reports;
- ``reported_reliability``: the posterior-sampled reliability
  (:func:`cjgrade.stats.posterior_sampling.sample_reliability`), the figure cjgrade recommends
  for stopping because it stays honest under adaptive pairing;
- ``split_half``: split-half reliability (random halves of the decisions, each half fitted
  with a weak prior, Spearman-Brown corrected, averaged over :data:`SPLITS` splits);
- ``posterior_reliability``: the posterior reliability of the empirical-Bayes fit
  (:mod:`cjgrade.stats.empirical_bayes`);
- ``max_delta_theta``: the largest change of an estimate since the previous round;
- ``coverage``: the share of the true abilities inside the 95% intervals (posterior mean
  +- 1.96 posterior SD, both centred);
- ``prior_variance`` and ``truth_variance``: the empirical-Bayes prior variance and the
  variance of the true abilities;
- ``information``: the mean outcome variance ``p (1 - p)`` of the round's comparisons under the
  simulated judge, ``p`` its win probability at the true abilities (for a noise-1 judge without
  lapses, the Fisher information a comparison carries about the difference: 0.25 for an even
  contest, less the more lopsided the pair).

Pairing and the Spearman/truth figures use the empirical-Bayes posterior (means and SDs) for
every strategy, so strategies differ only in how they pair. :func:`compare_strategies` runs
several strategies on the same seeds (same true abilities per seed) and summarises them with
:func:`summarise_traces`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy.stats import spearmanr

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.empirical_bayes import (
    EmpiricalBayesFit,
    centred_se,
    fit_empirical_bayes,
)
from cjgrade.stats.pairing import STRATEGIES, PairingOptions, PairingState, select_pairs
from cjgrade.stats.posterior_sampling import sample_reliability
from cjgrade.stats.reliability import scale_separation_reliability, split_half_reliability
from cjgrade.stats.simulation_judge import (
    OUTCOMES,
    SOFT_OUTCOMES,
    SimulatedJudge,
    draw_abilities,
    simulate_question_outcomes,
    simulate_soft_outcomes,
    win_probability,
)

__all__ = [
    "ROUND_EB_ITERATIONS",
    "SAMPLE_DRAWS",
    "SPLITS",
    "SPLIT_ALPHA",
    "SSR_EPS",
    "RoundRecord",
    "Scenario",
    "SimulationTrace",
    "StrategySummary",
    "compare_strategies",
    "simulate_run",
    "summarise_traces",
]

FloatArray = NDArray[np.float64]

SSR_EPS = 0.3
"""Score adjustment of the maximum-likelihood fit behind the classical SSR column, as
``sirt::btm`` uses by default (keeps all-win essays finite). While the design is still
disconnected there is no maximum-likelihood scale and SSR is ``nan``."""
SPLITS = 3
"""Random splits averaged by the split-half reliability of every round."""
SAMPLE_DRAWS = 200
"""Posterior draws kept by the sampled reliability of every round (half as many warm-up)."""
SPLIT_ALPHA = 0.1
"""Prior precision used to fit each half (as ``split_half_reliability``'s default)."""
GAP_FROM_ROUND = 5
"""Reliability gaps are averaged from this round on (before it all figures are near zero or
undefined and would flatter every estimate)."""
ROUND_EB_ITERATIONS = 5
"""Prior-variance updates per round; warm-started from the previous round, so they add up."""
WARM_VARIANCE_FLOOR = 0.05
"""A round starts its prior variance from at least this (as the engine's round fits do)."""


@dataclass(frozen=True)
class Scenario:
    """A simulation scenario.

    Attributes
    ----------
    n_essays : number of essays.
    sd : standard deviation of the true abilities (logits).
    noise, position_bias, lapse : the simulated judge (see :class:`SimulatedJudge`).
    outcome : what the judge reports, one of
        :data:`~cjgrade.stats.simulation_judge.OUTCOMES` (``hard``: Bernoulli wins; ``winner``,
        ``logprob``, ``confidence``: from a belief with noise ``belief_noise`` on the logit
        scale, stated with ``power``; see :func:`simulate_soft_outcomes`).
    max_rounds : rounds at most (a round compares every essay about once).
    spearman_target, reliability_target : thresholds whose first crossing is reported.
    """

    n_essays: int = 60
    sd: float = 1.5
    noise: float = 1.0
    position_bias: float = 0.0
    lapse: float = 0.0
    outcome: str = "hard"
    belief_noise: float = 1.0
    power: float = 1.0
    max_rounds: int = 30
    spearman_target: float = 0.9
    reliability_target: float = 0.8

    def __post_init__(self) -> None:
        if isinstance(self.n_essays, bool) or self.n_essays < 4:
            raise InputError("a simulation needs at least 4 essays")
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise InputError("the true ability SD must be a positive number")
        if self.max_rounds < 1:
            raise InputError("max_rounds must be at least 1")
        for name in ("spearman_target", "reliability_target"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise InputError(f"{name} must be between 0 and 1")
        # Validates the judge once, before any run.
        judge = SimulatedJudge(np.zeros(2), self.noise, self.position_bias, self.lapse)
        if self.outcome != "hard":
            simulate_soft_outcomes(judge, [0], [1], 0, 0, outcome=self.outcome,
                                   belief_noise=self.belief_noise, power=self.power)
        elif self.outcome not in OUTCOMES:  # pragma: no cover - "hard" is in OUTCOMES
            raise InputError(f"unknown outcome {self.outcome!r}")

    @property
    def soft(self) -> bool:
        """Whether the judge's outcomes are soft probabilities."""
        return self.outcome in SOFT_OUTCOMES


@dataclass(frozen=True)
class RoundRecord:
    """Figures after one round (see the module docstring)."""

    round: int
    comparisons_per_essay: float
    spearman: float
    truth_reliability: float
    ssr: float
    reported_reliability: float
    split_half: float
    posterior_reliability: float
    max_delta_theta: float
    information: float
    coverage: float = float("nan")
    prior_variance: float = float("nan")
    truth_variance: float = float("nan")


@dataclass(frozen=True)
class SimulationTrace:
    """All rounds of one run of one strategy on one seed."""

    strategy: str
    seed: int
    rounds: tuple[RoundRecord, ...]

    def first_reaching(self, metric: str, threshold: float) -> float:
        """Comparisons per essay when ``metric`` first reached ``threshold`` (nan if never)."""
        for record in self.rounds:
            if getattr(record, metric) >= threshold:
                return record.comparisons_per_essay
        return float("nan")

    def record_reaching(self, metric: str, threshold: float) -> RoundRecord | None:
        """The first round whose ``metric`` reached ``threshold``, or None."""
        for record in self.rounds:
            if getattr(record, metric) >= threshold:
                return record
        return None


def _split_half(data: PairwiseData, rng: np.random.Generator) -> float:
    try:
        return split_half_reliability(
            data, rng, by="decision", n_splits=SPLITS, alpha=SPLIT_ALPHA
        ).reliability
    except InputError:  # too few decisions or common items in the first rounds
        return float("nan")


def _fit_round(
    data: PairwiseData, prior_variance: float, start: FloatArray, soft_variance: float | None
) -> tuple[EmpiricalBayesFit, float]:
    """The empirical-Bayes fit (warm-started) and the SSR of the maximum-likelihood fit."""
    eb = fit_empirical_bayes(
        data,
        initial_variance=max(prior_variance, WARM_VARIANCE_FLOOR),
        initial_soft_variance=soft_variance,
        initial_params=start,
        max_iter=ROUND_EB_ITERATIONS,
        tol=1e-3,
    )
    try:
        ml = fit_bradley_terry(data, eps=SSR_EPS, max_iter=500)
        ssr = scale_separation_reliability(ml.theta, ml.se)
    except ConvergenceError:  # disconnected design in the first rounds: no ML scale yet
        ssr = float("nan")
    return eb, ssr


def _times_asked_before(
    pair_counts: NDArray[np.intp], pairs: NDArray[np.intp]
) -> NDArray[np.int64]:
    """For each pair of a batch, how many times that unordered pair was asked before it
    (earlier rounds plus earlier rows of the batch)."""
    asked = pair_counts[pairs[:, 0], pairs[:, 1]].astype(np.int64)
    seen: dict[tuple[int, int], int] = {}
    for k, (i, j) in enumerate(pairs.tolist()):
        key = (min(i, j), max(i, j))
        asked[k] += seen.get(key, 0)
        seen[key] = seen.get(key, 0) + 1
    return asked


def _outcomes(
    scenario: Scenario, judge: SimulatedJudge, pairs: NDArray[np.intp],
    asked: NDArray[np.int64], key: int,
) -> FloatArray:
    if scenario.outcome == "hard":
        return simulate_question_outcomes(judge, pairs[:, 0], pairs[:, 1], asked, key)
    return simulate_soft_outcomes(
        judge, pairs[:, 0], pairs[:, 1], asked, key, outcome=scenario.outcome,
        belief_noise=scenario.belief_noise, power=scenario.power,
    )


def _coverage(estimate: FloatArray, se: FloatArray, truth: FloatArray) -> float:
    """Share of the (centred) true abilities inside the 95% intervals of the (centred)
    estimates."""
    error = (estimate - estimate.mean()) - (truth - truth.mean())
    return float(np.mean(np.abs(error) <= 1.959964 * se))


def _truth_figures(estimate: FloatArray, truth: FloatArray) -> tuple[float, float]:
    if float(np.ptp(estimate)) == 0.0:
        return 0.0, 0.0
    rho = float(spearmanr(estimate, truth).statistic)
    r = float(np.corrcoef(estimate, truth)[0, 1])
    return rho, r * r


def simulate_run(
    scenario: Scenario,
    strategy: str,
    seed: int,
    *,
    options: PairingOptions | None = None,
    stop_when_reached: bool = True,
    estimate_reliability: bool = True,
) -> SimulationTrace:
    """Run one strategy on one seed, round by round.

    The seed determines the true abilities, the judge's coin flips and the pairing draws
    through independent child generators, so every strategy meets the same essays for a seed.
    The judge's verdicts are common random numbers
    (:func:`~cjgrade.stats.simulation_judge.simulate_question_outcomes`): whenever two
    strategies ask the same pair for the same time on a seed they get the same verdict, which
    makes their difference far less noisy than independent coin flips would.
    With ``stop_when_reached`` the run ends once Spearman, SSR and the reported reliability
    have all reached their targets (later rounds cannot change a first crossing). Without
    ``estimate_reliability`` the costly sampled and split-half reliabilities are skipped
    (``nan``), for quick checks of pairing alone.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"unknown pairing strategy {strategy!r}; choose one of {STRATEGIES}")
    truth_rng, judge_rng, pair_rng, split_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    n = scenario.n_essays
    truth = draw_abilities(n, scenario.sd, truth_rng)
    judge = SimulatedJudge(truth, scenario.noise, scenario.position_bias, scenario.lapse)
    judge_key = int(judge_rng.integers(2**63))
    state = PairingState.from_history(n)
    a_all = np.zeros(0, dtype=np.intp)
    b_all = np.zeros(0, dtype=np.intp)
    y_all = np.zeros(0)
    theta = np.zeros(n)
    prior_variance = 1.0
    soft_variance: float | None = None
    records: list[RoundRecord] = []
    for number in range(1, scenario.max_rounds + 1):
        pairs = select_pairs(strategy, state, pair_rng, options=options)
        if pairs.shape[0] == 0:
            break
        asked = _times_asked_before(state.pair_counts, pairs)
        y = _outcomes(scenario, judge, pairs, asked, judge_key)
        p_win = win_probability(judge, pairs[:, 0], pairs[:, 1])
        a_all = np.concatenate([a_all, pairs[:, 0]])
        b_all = np.concatenate([b_all, pairs[:, 1]])
        y_all = np.concatenate([y_all, y])
        data = PairwiseData.build(n, a_all, b_all, y_all, soft=np.full(a_all.size, scenario.soft))
        eb, ssr = _fit_round(data, prior_variance, theta, soft_variance)
        new_theta, prior_variance = eb.fit.theta, eb.prior_variance
        se = centred_se(eb.fit.se, prior_variance)
        soft_variance = eb.fit.soft_variance
        posterior = eb.reliability
        split, reported = float("nan"), float("nan")
        if estimate_reliability:
            split = _split_half(data, split_rng)
            reported = sample_reliability(
                data,
                split_rng,
                n_draws=SAMPLE_DRAWS,
                n_warmup=SAMPLE_DRAWS // 2,
                initial=eb,
                estimate=new_theta,
            ).reliability
        rho, truth_rel = _truth_figures(new_theta, truth)
        records.append(
            RoundRecord(
                round=number,
                comparisons_per_essay=2.0 * a_all.size / n,
                spearman=rho,
                truth_reliability=truth_rel,
                ssr=ssr,
                reported_reliability=reported,
                split_half=split,
                posterior_reliability=posterior,
                max_delta_theta=float(np.max(np.abs(new_theta - theta))),
                information=float(np.mean(p_win * (1.0 - p_win))),
                coverage=_coverage(new_theta, se, truth),
                prior_variance=prior_variance,
                truth_variance=float(np.var(truth)),
            )
        )
        theta = new_theta
        state = replace(
            state.with_pairs(pairs).with_estimates(theta, se),
            soft_information=None if soft_variance is None else 1.0 / soft_variance,
        )
        target = scenario.reliability_target
        reached = rho >= scenario.spearman_target and ssr >= target
        if stop_when_reached and reached and (reported >= target or not estimate_reliability):
            break
    return SimulationTrace(strategy, seed, tuple(records))


@dataclass(frozen=True)
class StrategySummary:
    """Summary of one strategy over seeds (comparisons per essay are medians; nan = a target
    was not reached within ``max_rounds`` on at least half of the seeds).

    Attributes
    ----------
    strategy : the strategy name.
    n_runs : seeds run.
    to_spearman : comparisons per essay to reach the Spearman target.
    to_ssr : comparisons per essay until SSR reached the reliability target.
    to_reported : comparisons per essay until the reported reliability reached the target.
    reached_spearman : runs that reached the Spearman target at all.
    ssr_at_spearman, reported_at_spearman, truth_at_spearman : mean SSR, reported reliability
        and truth-based reliability at the round the Spearman target was reached.
    reported_gap : mean over runs and rounds (from round 5) of (reported - truth-based
        reliability).
    split_half_gap, posterior_gap, ssr_gap : the same for split-half, the empirical-Bayes
        posterior reliability and SSR.
    truth_at_reported : mean truth-based reliability at the round the reported reliability
        first reached the target (what a stopping rule on it would have delivered).
    information_to_spearman : mean ``information`` per comparison (see :class:`RoundRecord`)
        over the rounds up to the one where Spearman first reached its target, over the runs
        that reached it: how informative the strategy's questions were on the way.
    to_spearman_mean : mean comparisons per essay to the Spearman target, a run that never
        reached it counted as ``max_rounds + 1`` (so a lower bound when
        ``reached_spearman < n_runs``).
    coverage : mean over runs and rounds (from round 5) of the share of true abilities inside
        the 95% intervals of the estimates (``RoundRecord.coverage``).
    vs_baseline, vs_baseline_se : mean over seeds of this strategy's comparisons per essay to
        the Spearman target minus the baseline's on the same seed (the first strategy of a
        comparison; unreached counted as in ``to_spearman_mean``), and its standard error;
        ``nan`` without a baseline, for the baseline itself and with fewer than two seeds.
        Seeds share true abilities and judge verdicts, so this paired figure is far less
        noisy than a difference of medians.
    """

    strategy: str
    n_runs: int
    to_spearman: float
    to_ssr: float
    to_reported: float
    reached_spearman: int
    ssr_at_spearman: float
    reported_at_spearman: float
    truth_at_spearman: float
    reported_gap: float
    split_half_gap: float
    posterior_gap: float
    ssr_gap: float
    truth_at_reported: float
    information_to_spearman: float
    to_spearman_mean: float
    vs_baseline: float
    vs_baseline_se: float
    coverage: float = float("nan")


def _median(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or np.isnan(arr).sum() * 2 > arr.size:
        return float("nan")
    # Unreached runs count as "more than any reached value".
    return float(np.median(np.where(np.isnan(arr), np.inf, arr)))


def _mean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(np.mean(arr)) if arr.size else float("nan")


def _gap(records: Sequence[RoundRecord], metric: str) -> float:
    return _mean([getattr(r, metric) - r.truth_reliability for r in records])


def _rounds_to(traces: Sequence[SimulationTrace], scenario: Scenario) -> FloatArray:
    """Comparisons per essay to the Spearman target per run (unreached: ``max_rounds + 1``)."""
    first = [t.first_reaching("spearman", scenario.spearman_target) for t in traces]
    return np.asarray([scenario.max_rounds + 1.0 if math.isnan(f) else f for f in first])


def _paired(
    traces: Sequence[SimulationTrace],
    baseline: Sequence[SimulationTrace] | None,
    scenario: Scenario,
) -> tuple[float, float]:
    if baseline is None or baseline is traces or len(traces) < 2:
        return float("nan"), float("nan")
    if [t.seed for t in baseline] != [t.seed for t in traces]:
        raise InputError("a paired comparison needs the baseline run on the same seeds")
    diff = _rounds_to(traces, scenario) - _rounds_to(baseline, scenario)
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))


def summarise_traces(
    strategy: str,
    traces: Sequence[SimulationTrace],
    scenario: Scenario,
    baseline: Sequence[SimulationTrace] | None = None,
) -> StrategySummary:
    """Summarise the runs of one strategy (see :class:`StrategySummary`); ``baseline`` are
    another strategy's runs on the same seeds, for the paired difference."""
    rho_t, rel_t = scenario.spearman_target, scenario.reliability_target
    vs_baseline, vs_baseline_se = _paired(traces, baseline, scenario)
    firsts = [t.record_reaching("spearman", rho_t) for t in traces]
    at_rho = [r for r in firsts if r is not None]
    at_rep = [
        r for t in traces if (r := t.record_reaching("reported_reliability", rel_t)) is not None
    ]
    every = [r for t in traces for r in t.rounds if r.round >= GAP_FROM_ROUND]
    return StrategySummary(
        strategy=strategy,
        n_runs=len(traces),
        to_spearman=_median([t.first_reaching("spearman", rho_t) for t in traces]),
        to_ssr=_median([t.first_reaching("ssr", rel_t) for t in traces]),
        to_reported=_median([t.first_reaching("reported_reliability", rel_t) for t in traces]),
        reached_spearman=len(at_rho),
        ssr_at_spearman=_mean([r.ssr for r in at_rho]),
        reported_at_spearman=_mean([r.reported_reliability for r in at_rho]),
        truth_at_spearman=_mean([r.truth_reliability for r in at_rho]),
        reported_gap=_gap(every, "reported_reliability"),
        split_half_gap=_gap(every, "split_half"),
        posterior_gap=_gap(every, "posterior_reliability"),
        ssr_gap=_gap(every, "ssr"),
        truth_at_reported=_mean([r.truth_reliability for r in at_rep]),
        information_to_spearman=_mean(
            [
                r.information
                for t, hit in zip(traces, firsts, strict=True)
                if hit is not None
                for r in t.rounds
                if r.round <= hit.round
            ]
        ),
        to_spearman_mean=float(np.mean(_rounds_to(traces, scenario))) if traces else math.nan,
        vs_baseline=vs_baseline,
        vs_baseline_se=vs_baseline_se,
        coverage=_mean([r.coverage for r in every]),
    )


def compare_strategies(
    scenario: Scenario,
    strategies: Sequence[str],
    seeds: Sequence[int],
    *,
    options: PairingOptions | None = None,
    estimate_reliability: bool = True,
) -> tuple[StrategySummary, ...]:
    """Run every strategy on every seed and summarise each strategy, the first one being the
    baseline of the paired differences (see :func:`simulate_run` for
    ``estimate_reliability``)."""
    if not strategies:
        raise InputError("name at least one strategy")
    if not seeds:
        raise InputError("name at least one seed")
    summaries = []
    baseline: list[SimulationTrace] | None = None
    for strategy in strategies:
        traces = [
            simulate_run(
                scenario,
                strategy,
                int(s),
                options=options,
                estimate_reliability=estimate_reliability,
            )
            for s in seeds
        ]
        baseline = traces if baseline is None else baseline
        summaries.append(summarise_traces(strategy, traces, scenario, baseline))
    return tuple(summaries)
