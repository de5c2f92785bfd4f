"""Component-by-component Bradley-Terry fits of disconnected comparison graphs (sirt::btm)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from cjgrade.stats.components import fit_by_component, label_components


def sirt_btm_reference(
    n: int, pairs: list[tuple[int, int]], eps: float, maxiter: int = 100, conv: float = 1e-4
) -> list[float]:
    """Independent reference: the loop of sirt's R/btm.R, item by item in plain Python.

    ``pairs`` are (winner, loser); fix.eta = 0, no ties; every item is compared.
    """
    wins = [0.0] * n
    count = [0.0] * n
    for w, lo in pairs:
        wins[w] += 1
        count[w] += 1
        count[lo] += 1
    score = [eps + (count[i] - 2 * eps) * wins[i] / count[i] for i in range(n)]
    start = [(score[i] / count[i] + 0.1) / 1.2 for i in range(n)]
    theta = [math.log(q / (1 - q)) for q in start]
    mean = sum(theta) / n
    theta = [t - mean for t in theta]
    maxincr = 1.0
    for _ in range(maxiter):
        d1 = list(score)
        d2 = [1e-20] * n
        for w, lo in pairs:
            p = 1 / (1 + math.exp(theta[lo] - theta[w]))
            d1[w] -= p
            d1[lo] -= 1 - p
            d2[w] += p * (1 - p)
            d2[lo] += p * (1 - p)
        maxincr *= 0.98
        new = [t + max(-maxincr, min(maxincr, d1[i] / d2[i])) for i, t in enumerate(theta)]
        mean = sum(new) / n
        new = [t - mean for t in new]
        change = max(abs(x - y) for x, y in zip(new, theta, strict=True))
        theta = new
        if change <= conv:
            break
    return theta


def two_groups(rng: np.random.Generator) -> tuple[PairwiseData, list[tuple[int, int]]]:
    """Items 0-5 and 6-9 (interleaved indices), unbalanced counts, no decision across."""
    groups = [np.array([0, 2, 4, 6, 8, 9]), np.array([1, 3, 5, 7])]
    pairs: list[tuple[int, int]] = []
    for items in groups:
        for _ in range(12 * items.size):
            i, j = rng.choice(items, 2, replace=False)
            pairs.append(
                (int(i), int(j)) if rng.random() < 0.5 + 0.08 * (i - j) else (int(j), int(i))
            )
    a, b = zip(*pairs, strict=True)
    return PairwiseData.build(10, a, b), pairs


def test_label_components_orders_by_size_and_marks_isolated() -> None:
    """Labels: 0 = largest component, ties by lowest item; -1 for items with no comparisons."""
    data = PairwiseData.build(7, [5, 0, 2, 3], [6, 1, 0, 4])
    comps = label_components(data)
    assert comps.labels.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert comps.sizes == (3, 2, 2) and comps.n_components == 3 and comps.isolated == ()
    data = PairwiseData.build(4, [1], [2])
    comps = label_components(data)
    assert comps.labels.tolist() == [-1, 0, 0, -1] and comps.isolated == (0, 3)


def test_connected_graph_gives_the_plain_fit(rng: np.random.Generator) -> None:
    """One component holding every item: exactly fit_bradley_terry's result."""
    n, m = 8, 120
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    data = PairwiseData.build(n, a, b, (rng.random(m) < 0.5).astype(float))
    parts = fit_by_component(data, eps=0.3, se_method="diagonal")
    plain = fit_bradley_terry(data, eps=0.3, se_method="diagonal")
    assert parts.fit.theta == pytest.approx(plain.theta, abs=1e-12)
    assert parts.fit.se == pytest.approx(plain.se, abs=1e-12)
    assert parts.components.sizes == (n,) and parts.offsets.tolist() == [0.0]


def test_each_component_is_its_own_fixed_point(rng: np.random.Generator) -> None:
    """Within a component the abilities and SEs are those of the component fitted alone."""
    data, _ = two_groups(rng)
    parts = fit_by_component(data, eps=0.3, se_method="fisher")
    assert parts.fit.components == 2 and parts.components.sizes == (6, 4)
    assert float(np.sum(parts.fit.theta)) == pytest.approx(0.0, abs=1e-12)
    for c, items in enumerate([np.array([0, 2, 4, 6, 8, 9]), np.array([1, 3, 5, 7])]):
        local = {int(i): k for k, i in enumerate(items)}
        keep = np.isin(data.a, items)
        sub = PairwiseData.build(
            items.size, [local[i] for i in data.a[keep]], [local[i] for i in data.b[keep]]
        )
        alone = fit_bradley_terry(sub, eps=0.3, se_method="fisher")
        got = parts.fit.theta[items]
        assert got - got.mean() == pytest.approx(alone.theta, abs=1e-10)
        assert parts.fit.se[items] == pytest.approx(alone.se, abs=1e-10)
        assert got.mean() == pytest.approx(parts.offsets[c], abs=1e-12)


def test_components_are_placed_where_sirt_leaves_them(rng: np.random.Generator) -> None:
    """Component means equal those of an independent transcription of sirt's btm loop."""
    data, pairs = two_groups(rng)
    for maxiter in (3, 100):
        parts = fit_by_component(data, eps=0.3, sirt_max_iter=maxiter)
        ref = np.array(sirt_btm_reference(10, pairs, 0.3, maxiter=maxiter))
        labels = parts.components.labels
        means = [ref[labels == c].mean() for c in range(2)]
        assert parts.offsets == pytest.approx(means, abs=1e-12)
    # Within components sirt stops at a change of 1e-4; we converge fully.
    assert parts.fit.theta == pytest.approx(ref, abs=1e-3)


def test_without_eps_several_components_are_refused(rng: np.random.Generator) -> None:
    """eps = 0: the levels are not identified; the error gives sizes and example items."""
    data, _ = two_groups(rng)
    with pytest.raises(ConvergenceError, match=r"2 disconnected components \(sizes 6, 4"):
        fit_by_component(data)
    labels = [f"e{i}" for i in range(10)]
    with pytest.raises(ConvergenceError, match="'e0'"):
        fit_by_component(data, item_labels=labels)


def test_items_without_comparisons_are_reported_not_fitted() -> None:
    """Isolated items get NaN; the others are fitted, with or without eps."""
    data = PairwiseData.build(5, [1, 2, 3, 1, 2], [2, 3, 1, 3, 1])
    for eps in (0.0, 0.3):
        fit = fit_by_component(data, eps=eps).fit
        assert np.isnan(fit.theta[[0, 4]]).all() and np.isnan(fit.se[[0, 4]]).all()
        assert np.isfinite(fit.theta[1:4]).all() and np.all(fit.se[1:4] > 0)
        assert fit.isolated == (0, 4) and fit.components == 1
        assert float(np.nansum(fit.theta)) == pytest.approx(0.0, abs=1e-12)


def test_single_comparison_components_and_extremes(rng: np.random.Generator) -> None:
    """Two-item components with one decision each fit with eps; all-win items are flagged."""
    data = PairwiseData.build(6, [0, 2, 4], [1, 3, 5])
    parts = fit_by_component(data, eps=0.3, se_method="diagonal")
    theta = parts.fit.theta
    # Adjusted scores 0.7 and 0.3 out of 1: the winner is logit(0.7) above the loser.
    for w in (0, 2, 4):
        assert theta[w] - theta[w + 1] == pytest.approx(np.log(0.7 / 0.3), abs=1e-9)
    assert parts.fit.extreme == tuple(range(6)) and parts.components.sizes == (2, 2, 2)


def test_relabelling_items_permutes_the_result(rng: np.random.Generator) -> None:
    """Permuting item indices permutes abilities and SEs and keeps the placement."""
    data, _ = two_groups(rng)
    perm = rng.permutation(10)
    moved = PairwiseData.build(10, perm[data.a], perm[data.b])
    first = fit_by_component(data, eps=0.3, se_method="diagonal").fit
    second = fit_by_component(moved, eps=0.3, se_method="diagonal").fit
    assert second.theta[perm] == pytest.approx(first.theta, abs=1e-10)
    assert second.se[perm] == pytest.approx(first.se, abs=1e-10)


def test_per_comparison_fields_follow_their_component(rng: np.random.Generator) -> None:
    """Weights and judges are subset with their comparisons (a zero weight drops one)."""
    data, _ = two_groups(rng)
    weight = np.ones(data.n_comparisons)
    weight[0] = 0.0
    weighted = PairwiseData.build(
        10, data.a, data.b, judge=np.arange(data.n_comparisons) % 3, weight=weight
    )
    dropped = PairwiseData.build(10, data.a[1:], data.b[1:])
    got = fit_by_component(weighted, eps=0.3).fit.theta
    want = fit_by_component(dropped, eps=0.3).fit.theta
    assert got == pytest.approx(want, abs=1e-10)


def test_position_effect_needs_one_component(rng: np.random.Generator) -> None:
    """A shared position effect on several components is an input error."""
    data, _ = two_groups(rng)
    with_pos = PairwiseData.build(10, data.a, data.b, position_known=np.ones(data.n_comparisons))
    with pytest.raises(InputError, match="position effect"):
        fit_by_component(with_pos, eps=0.3, position_effect=True)
    with pytest.raises(InputError, match="nothing to fit"):
        fit_by_component(PairwiseData.build(3, [0], [1], weight=[0.0]))
