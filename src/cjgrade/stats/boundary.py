"""Statistics of a boundary test: one pair of essays judged many times in both orders.

Entry points::

    wilson_interval(successes, n, level=0.95) -> (low, high)
    clopper_pearson_interval(successes, n, level=0.95) -> (low, high)
    binomial_test(successes, n, p=0.5) -> float          # exact, two-sided
    pairwise_agreement(k, n) -> float | None
    boundary_metrics(decisions) -> BoundaryMetrics

A *decision* (:class:`BoundaryDecision`) is one successful judge call on the pair: whether the
higher-graded essay was shown first, which essay the judge chose, the judge's probability that
the higher-graded essay is the better one (``p_higher``) and its stated confidence.

How outcomes count (see ``docs/anchor-alignment.md``):

- **Win rate of the higher grade** (``win_rate``): the mean of ``p_higher`` over the decisions.
  A hard verdict contributes 1 or 0; a soft verdict (probabilities from token log-probabilities
  or from a stated confidence) contributes its probability, e.g. 0.7 of a win. Its 95 % interval
  is Wilson's score interval applied to the fractional count ``sum(p_higher)`` out of ``n``
  (exact for hard verdicts; an approximation for soft ones, stated as such).
- **Hard win rate** (``hard_wins / n``): the decisions whose chosen essay is the higher-graded
  one, with the exact Clopper-Pearson interval and an exact two-sided binomial test against
  50 % (does the judge separate the pair at all?).
- **Position bias**: the share of decisions won by the essay shown *first*, with an exact
  two-sided binomial test against 50 %; plus the soft counterpart (mean probability given to the
  first-shown essay). With as many calls in each order, a judge that always picks the first
  essay scores 1.0 whatever the grades.
- **Agreement across repeats**: ``modal_agreement`` (share of all decisions naming the essay
  most decisions named), ``pairwise_agreement`` (share of pairs of decisions made in the same
  order that name the same essay, averaged over the two orders, weighted by their pair
  counts) and ``order_consistency`` (share of repeats whose two orders named the same essay).
- **Mean stated confidence** with a t-based 95 % interval, over the decisions that stated one.

Every function is pure (no I/O, no clock, no randomness).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cjgrade.errors import InputError

__all__ = [
    "BoundaryDecision",
    "BoundaryMetrics",
    "binomial_test",
    "boundary_metrics",
    "clopper_pearson_interval",
    "mean_interval",
    "pairwise_agreement",
    "wilson_interval",
]


def _check_count(successes: float, n: int, level: float) -> None:
    if not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive whole number of trials, got {n!r}")
    if not (math.isfinite(successes) and 0 <= successes <= n):
        raise InputError(f"successes must lie in [0, {n}], got {successes!r}")
    if not 0 < level < 1:
        raise InputError(f"the confidence level must lie strictly between 0 and 1, got {level}")


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``successes / n``.

    ``successes`` may be fractional (a sum of soft outcomes); the formula is then applied to
    the observed proportion as it stands.
    """
    _check_count(successes, n, level)
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval for ``successes`` of ``n`` (whole numbers)."""
    _check_count(successes, n, level)
    if successes != int(successes):
        raise InputError("the exact interval needs a whole number of successes")
    from scipy.stats import beta

    k = int(successes)
    alpha = 1 - level
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def binomial_test(successes: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test of ``successes`` of ``n`` against probability ``p``:
    the total probability of outcomes no more likely than the one observed (scipy's
    definition)."""
    _check_count(successes, n, 0.5)
    if successes != int(successes):
        raise InputError("the binomial test needs a whole number of successes")
    if not 0 < p < 1:
        raise InputError(f"p must lie strictly between 0 and 1, got {p}")
    from scipy.stats import binomtest

    return float(binomtest(int(successes), n, p).pvalue)


def pairwise_agreement(k: int, n: int) -> float | None:
    """Share of the ``n(n-1)/2`` pairs of ``n`` binary decisions (``k`` of one kind) that
    agree; None for fewer than two decisions."""
    if n < 2:
        return None
    if not 0 <= k <= n:
        raise InputError(f"k must lie in [0, {n}], got {k}")
    return (math.comb(k, 2) + math.comb(n - k, 2)) / math.comb(n, 2)


def mean_interval(values: Sequence[float], level: float = 0.95
                  ) -> tuple[float | None, float | None, float | None]:
    """``(mean, low, high)``: Student-t interval for the mean; bounds None for fewer than two
    values, everything None for none."""
    if not values:
        return None, None, None
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None, None
    from scipy.stats import t

    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class BoundaryDecision:
    """One successful judge call on a boundary pair."""

    repeat: int
    """0-based repeat index; each repeat asks both orders."""
    higher_first: bool
    """True when the higher-graded essay was shown first (slot A)."""
    higher_won: bool
    """True when the judge chose the higher-graded essay."""
    p_higher: float
    """The judge's probability that the higher-graded essay is better, in [0, 1]."""
    confidence: float | None = None
    """Stated confidence (1-5) when the judge gave one."""

    @property
    def first_won(self) -> bool:
        return self.higher_won == self.higher_first

    @property
    def p_first(self) -> float:
        """Probability given to the essay shown first."""
        return self.p_higher if self.higher_first else 1.0 - self.p_higher


@dataclass(frozen=True)
class BoundaryMetrics:
    """The report figures of one boundary pair (see the module docstring); ``None`` where a
    figure needs decisions that are missing."""

    n: int
    n_higher_first: int
    n_lower_first: int
    win_rate: float | None
    win_rate_interval: tuple[float, float] | None
    hard_wins: int
    hard_win_rate: float | None
    hard_win_interval: tuple[float, float] | None
    hard_win_p_value: float | None
    first_position_wins: int
    first_position_rate: float | None
    first_position_p_value: float | None
    soft_first_position_rate: float | None
    win_rate_higher_first: float | None
    win_rate_lower_first: float | None
    modal_agreement: float | None
    pairwise_agreement: float | None
    order_consistency: float | None
    n_repeats_both_orders: int
    n_confidence: int
    mean_confidence: float | None
    confidence_interval: tuple[float, float] | None
    soft: bool
    """True when at least one decision was soft (0 < p_higher < 1)."""


def _rate(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def boundary_metrics(decisions: Sequence[BoundaryDecision], level: float = 0.95
                     ) -> BoundaryMetrics:
    """The figures of one pair from its successful decisions (failed calls left out by the
    caller, who reports them)."""
    for d in decisions:
        if not (math.isfinite(d.p_higher) and 0.0 <= d.p_higher <= 1.0):
            raise InputError(f"p_higher must lie in [0, 1], got {d.p_higher!r}")
    n = len(decisions)
    first = [d for d in decisions if d.higher_first]
    second = [d for d in decisions if not d.higher_first]
    hard = sum(d.higher_won for d in decisions)
    first_wins = sum(d.first_won for d in decisions)
    soft_sum = math.fsum(d.p_higher for d in decisions)

    pair_total, agreeing = 0, 0.0
    for group in (first, second):
        m = len(group)
        if m >= 2:
            k = sum(d.higher_won for d in group)
            pair_total += math.comb(m, 2)
            agreeing += (math.comb(k, 2) + math.comb(m - k, 2))
    by_repeat: dict[int, dict[bool, bool]] = {}
    for d in decisions:
        by_repeat.setdefault(d.repeat, {})[d.higher_first] = d.higher_won
    complete = [r for r in by_repeat.values() if len(r) == 2]
    consistent = sum(r[True] == r[False] for r in complete)

    confidences = [float(d.confidence) for d in decisions if d.confidence is not None]
    mean_conf, conf_low, conf_high = mean_interval(confidences, level)
    return BoundaryMetrics(
        n=n,
        n_higher_first=len(first),
        n_lower_first=len(second),
        win_rate=soft_sum / n if n else None,
        win_rate_interval=wilson_interval(soft_sum, n, level) if n else None,
        hard_wins=hard,
        hard_win_rate=hard / n if n else None,
        hard_win_interval=clopper_pearson_interval(hard, n, level) if n else None,
        hard_win_p_value=binomial_test(hard, n) if n else None,
        first_position_wins=first_wins,
        first_position_rate=first_wins / n if n else None,
        first_position_p_value=binomial_test(first_wins, n) if n else None,
        soft_first_position_rate=_rate([d.p_first for d in decisions]),
        win_rate_higher_first=_rate([d.p_higher for d in first]),
        win_rate_lower_first=_rate([d.p_higher for d in second]),
        modal_agreement=max(hard, n - hard) / n if n else None,
        pairwise_agreement=agreeing / pair_total if pair_total else None,
        order_consistency=consistent / len(complete) if complete else None,
        n_repeats_both_orders=len(complete),
        n_confidence=len(confidences),
        mean_confidence=mean_conf,
        confidence_interval=(conf_low, conf_high)
        if conf_low is not None and conf_high is not None else None,
        soft=any(0.0 < d.p_higher < 1.0 for d in decisions),
    )
