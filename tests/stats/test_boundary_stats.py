"""Boundary-test statistics against hand-computed values and scipy."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from cjgrade.errors import InputError
from cjgrade.stats.boundary import (
    BoundaryDecision,
    binomial_test,
    boundary_metrics,
    clopper_pearson_interval,
    mean_interval,
    pairwise_agreement,
    wilson_interval,
)


def test_wilson_by_hand_and_scipy() -> None:
    """8 of 10: z = 1.95996, centre (0.8 + z^2/20)/(1 + z^2/10) = 0.71674, half-width
    0.22658: (0.4902, 0.9433)."""
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=5e-5)
    ref = binomtest(8, 10).proportion_ci(method="wilson")
    assert (low, high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == pytest.approx(1.0)


def test_wilson_takes_a_fractional_count() -> None:
    """A soft count of 3.5 of 6 lies between the hard counts 3 and 4."""
    low, high = wilson_interval(3.5, 6)
    assert wilson_interval(3, 6)[0] < low < wilson_interval(4, 6)[0]
    assert wilson_interval(3, 6)[1] < high < wilson_interval(4, 6)[1]


def test_clopper_pearson_by_hand_and_scipy() -> None:
    """8 of 10: the exact interval (0.4439, 0.9748); 0 of 10: upper 1 - 0.025**(1/10)."""
    assert clopper_pearson_interval(8, 10) == pytest.approx((0.4439, 0.9748), abs=5e-5)
    ref = binomtest(8, 10).proportion_ci(method="exact")
    assert clopper_pearson_interval(8, 10) == pytest.approx((ref.low, ref.high), abs=1e-12)
    low, high = clopper_pearson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10))


def test_binomial_test_by_hand() -> None:
    """8 of 10 against 1/2: 2 (C(10,8) + C(10,9) + C(10,10)) / 2^10 = 112/1024; 10 of 10:
    2/1024; 5 of 10: 1."""
    assert binomial_test(8, 10) == pytest.approx(112 / 1024)
    assert binomial_test(10, 10) == pytest.approx(2 / 1024)
    assert binomial_test(5, 10) == pytest.approx(1.0)


def test_pairwise_agreement_by_hand() -> None:
    assert pairwise_agreement(3, 4) == pytest.approx(3 / 6)
    assert pairwise_agreement(4, 4) == 1.0
    assert pairwise_agreement(1, 1) is None


def test_mean_interval_by_hand() -> None:
    """Values 3, 4, 5: mean 4, SD 1, half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321."""
    mean, low, high = mean_interval([3.0, 4.0, 5.0])
    assert mean == 4.0 and mean - low == pytest.approx(high - mean)
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3), abs=1e-5)
    assert mean_interval([2.0]) == (2.0, None, None)
    assert mean_interval([]) == (None, None, None)


def _decisions() -> list[BoundaryDecision]:
    """Three repeats. Higher first: the higher wins all three. Lower first: the higher wins
    only repeat 0. Soft probabilities and stated confidences as listed."""
    return [
        BoundaryDecision(0, True, True, 0.9, 4), BoundaryDecision(0, False, True, 0.6, 2),
        BoundaryDecision(1, True, True, 0.8, 4), BoundaryDecision(1, False, False, 0.3, 3),
        BoundaryDecision(2, True, True, 0.7, 3), BoundaryDecision(2, False, False, 0.2, None),
    ]


def test_boundary_metrics_by_hand() -> None:
    """Hard: the higher wins 4 of 6; the first-shown essay wins 3 + 2 = 5 of 6 (p = 14/64).
    Soft win rate 3.5/6. Agreement: modal 4/6; within-order pairs 3 of 3 and 1 of 3 agree
    (4/6); one repeat of three names the same essay in both orders. Confidence mean of
    4, 2, 4, 3, 3 = 3.2."""
    m = boundary_metrics(_decisions())
    assert (m.n, m.n_higher_first, m.n_lower_first) == (6, 3, 3)
    assert m.win_rate == pytest.approx(3.5 / 6)
    assert m.win_rate_interval == pytest.approx(wilson_interval(3.5, 6))
    assert (m.hard_wins, m.hard_win_rate) == (4, pytest.approx(4 / 6))
    assert m.hard_win_interval == pytest.approx(clopper_pearson_interval(4, 6))
    assert m.hard_win_p_value == pytest.approx(binomtest(4, 6).pvalue)
    assert (m.first_position_wins, m.first_position_rate) == (5, pytest.approx(5 / 6))
    assert m.first_position_p_value == pytest.approx(14 / 64)
    assert m.soft_first_position_rate == pytest.approx((0.9 + 0.4 + 0.8 + 0.7 + 0.7 + 0.8) / 6)
    assert m.win_rate_higher_first == pytest.approx(0.8)
    assert m.win_rate_lower_first == pytest.approx(1.1 / 3)
    assert m.modal_agreement == pytest.approx(4 / 6)
    assert m.pairwise_agreement == pytest.approx(4 / 6)
    assert (m.order_consistency, m.n_repeats_both_orders) == (pytest.approx(1 / 3), 3)
    assert (m.n_confidence, m.mean_confidence) == (5, pytest.approx(3.2))
    assert m.soft


def test_a_judge_that_always_picks_the_first_essay() -> None:
    """Ten repeats of a first-position judge: half the decisions for each essay, position
    rate 1.0 with p = 2/2^20, agreement across repeats within each order perfect, no
    repeat consistent across orders."""
    decisions = [BoundaryDecision(r, first, first, 1.0 if first else 0.0)
                 for r in range(10) for first in (True, False)]
    m = boundary_metrics(decisions)
    assert m.hard_win_rate == 0.5 and m.win_rate == 0.5
    assert m.first_position_rate == 1.0
    assert m.first_position_p_value == pytest.approx(2 / 2**20)
    assert m.pairwise_agreement == 1.0 and m.order_consistency == 0.0
    assert not m.soft and m.mean_confidence is None


def test_no_decisions_gives_no_figures() -> None:
    m = boundary_metrics([])
    assert m.n == 0 and m.win_rate is None and m.first_position_p_value is None
    assert m.order_consistency is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: wilson_interval(3, 0), "positive whole number"),
        (lambda: wilson_interval(4, 3), "lie in"),
        (lambda: wilson_interval(1, 3, level=1.0), "strictly between"),
        (lambda: clopper_pearson_interval(1.5, 3), "whole number"),  # type: ignore[arg-type]
        (lambda: binomial_test(1, 3, p=1.0), "strictly between"),
        (lambda: boundary_metrics([BoundaryDecision(0, True, True, 1.5)]), r"\[0, 1\]"),
    ],
)
def test_bad_input(call: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()  # type: ignore[operator]
