"""Property tests (hypothesis) for Bradley-Terry invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cjgrade.errors import ConvergenceError
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry


@st.composite
def comparisons(draw: st.DrawFn) -> PairwiseData:
    """A small data set: a cycle through all items (so the graph is connected) plus extras."""
    n = draw(st.integers(3, 7))
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, n - 1)), max_size=25))
    a = list(range(n)) + [i for i, _ in extra]
    b = [(i + 1) % n for i in range(n)] + [(i + k) % n for i, k in extra]
    y = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 0.3, 0.9]), min_size=len(a), max_size=len(a)))
    return PairwiseData.build(n, a, b, y)


FIT = {"alpha": 0.3, "tol": 1e-11}


@settings(max_examples=40, deadline=None)
@given(data=comparisons(), seed=st.integers(0, 2**32 - 1))
def test_relabelling_items_permutes_theta(data: PairwiseData, seed: int) -> None:
    """Renaming items permutes the abilities and SEs the same way."""
    perm = np.random.default_rng(seed).permutation(data.n_items)
    relabelled = PairwiseData.build(data.n_items, perm[data.a], perm[data.b], data.y)
    f0, f1 = fit_bradley_terry(data, **FIT), fit_bradley_terry(relabelled, **FIT)
    assert f1.theta[perm] == pytest.approx(f0.theta, abs=1e-8)
    assert f1.se[perm] == pytest.approx(f0.se, abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(data=comparisons())
def test_swapping_order_and_outcome_changes_nothing(data: PairwiseData) -> None:
    """(a, b, y) and (b, a, 1 - y) are the same comparison when position is not modelled."""
    swapped = PairwiseData.build(data.n_items, data.b, data.a, 1.0 - data.y)
    f0, f1 = fit_bradley_terry(data, **FIT), fit_bradley_terry(swapped, **FIT)
    assert f1.theta == pytest.approx(f0.theta, abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(data=comparisons())
def test_reversing_every_outcome_negates_theta(data: PairwiseData) -> None:
    """If every result is reversed the scale is mirrored."""
    reversed_ = PairwiseData.build(data.n_items, data.a, data.b, 1.0 - data.y)
    f0, f1 = fit_bradley_terry(data, **FIT), fit_bradley_terry(reversed_, **FIT)
    assert f1.theta == pytest.approx(-f0.theta, abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(data=comparisons(), shift=st.floats(-5, 5), eps=st.sampled_from([0.0, 0.3]))
def test_shifted_start_gives_same_centred_solution(
    data: PairwiseData, shift: float, eps: float
) -> None:
    """Without a prior theta is defined up to a constant: a shifted warm start changes nothing."""
    try:
        base = fit_bradley_terry(data, alpha=0.0, eps=eps)
    except ConvergenceError:  # some group won every comparison: no finite MLE to compare
        assume(False)
        return
    shifted = fit_bradley_terry(data, alpha=0.0, eps=eps, initial_params=base.theta + shift)
    assert shifted.theta == pytest.approx(base.theta, abs=1e-8)
    assert base.theta.sum() == pytest.approx(0.0, abs=1e-9)
