"""Agreement maths: quadratic weighted kappa, Spearman, quantile mapping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from cjgrade.errors import InputError
from cjgrade.stats.agreement import (
    map_to_score_distribution,
    quadratic_weighted_kappa,
    spearman_rho,
)


def test_qwk_perfect_and_hand_computed_cases() -> None:
    """Identical ratings give 1; a small case matches the value computed by hand."""
    assert quadratic_weighted_kappa([1, 2, 3, 3], [1, 2, 3, 3]) == pytest.approx(1.0)
    # O = [[1,1],[0,2]] on scale 0..1: W = [[0,1],[1,0]], E = outer([2,2],[1,3])/4
    # sum(W*O) = 1, sum(W*E) = (2*3 + 2*1)/4 = 2 -> kappa = 1 - 1/2
    assert quadratic_weighted_kappa([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.5)


def test_qwk_matches_the_definition_on_random_data(rng: np.random.Generator) -> None:
    """QWK equals 1 - sum(W O)/sum(W E) computed directly with a loop."""
    a = rng.integers(0, 5, 200)
    b = np.clip(a + rng.integers(-1, 2, 200), 0, 4)
    k = 5
    o = np.zeros((k, k))
    for x, y in zip(a, b, strict=True):
        o[x, y] += 1
    e = np.outer(o.sum(1), o.sum(0)) / o.sum()
    w = np.array([[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)])
    expected = 1 - (w * o).sum() / (w * e).sum()
    assert quadratic_weighted_kappa(a, b, min_rating=0, max_rating=4) == pytest.approx(expected)


def test_qwk_rejects_bad_input() -> None:
    """Unequal lengths, non-integers and out-of-scale ratings are InputErrors."""
    with pytest.raises(InputError):
        quadratic_weighted_kappa([1, 2], [1])
    with pytest.raises(InputError):
        quadratic_weighted_kappa([1.5, 2], [1, 2])
    with pytest.raises(InputError):
        quadratic_weighted_kappa([1, 9], [1, 2], min_rating=0, max_rating=4)


def test_spearman_matches_scipy_with_ties(rng: np.random.Generator) -> None:
    """Our Spearman equals scipy's, ties included."""
    x = rng.normal(size=50)
    y = rng.integers(0, 4, 50)
    assert spearman_rho(x, y) == pytest.approx(spearmanr(x, y).statistic)


def test_quantile_mapping_reassigns_own_scores_in_theta_order(
        rng: np.random.Generator) -> None:
    """Mapping onto the items' own scores keeps the multiset and follows theta's order."""
    scores = rng.integers(1, 7, 40)
    theta = rng.normal(size=40)
    mapped = map_to_score_distribution(theta, scores)
    assert sorted(mapped) == sorted(scores)
    order = np.argsort(theta)
    assert np.all(np.diff(mapped[order]) >= 0)


def test_quantile_mapping_onto_a_larger_distribution() -> None:
    """Against a bigger reference sample, items get its quantiles (actual score values)."""
    reference = [0] * 50 + [1] * 50  # half zeros, half ones
    mapped = map_to_score_distribution([0.3, -1.0, 2.0, 0.1], reference)
    assert list(mapped) == [1.0, 0.0, 1.0, 0.0]


def test_perfect_order_gives_perfect_agreement(rng: np.random.Generator) -> None:
    """If theta orders the essays exactly as the human scores, mapped QWK is 1."""
    scores = np.sort(rng.integers(0, 4, 30))
    theta = np.arange(30) + 0.0
    mapped = map_to_score_distribution(theta, scores)
    assert quadratic_weighted_kappa(mapped, scores) == pytest.approx(1.0)
