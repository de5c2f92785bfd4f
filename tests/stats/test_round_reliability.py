"""The engine's round reliability: posterior-sampled, seeded, with a recorded method."""

from __future__ import annotations

import numpy as np

from cjgrade.engine.fitting import (
    RELIABILITY_LAPLACE,
    RELIABILITY_SAMPLED,
    RoundEstimate,
    build_pairwise,
    fit_round,
    round_reliability,
)
from cjgrade.engine.stop_rules import decide_stop
from cjgrade.stats.empirical_bayes import fit_empirical_bayes
from cjgrade.store.records import ComparisonRecord
from tests.engine.conftest import make_spec


def _comparisons(
    ids: list[str], per_essay: int, sd: float, rng: np.random.Generator
) -> list[ComparisonRecord]:
    """Random pairs judged by a Bradley-Terry judge with true SD ``sd`` (hard outcomes)."""
    n = len(ids)
    truth = rng.normal(0.0, sd, n)
    out = []
    for k in range(n * per_essay // 2):
        i = int(rng.integers(n))
        j = int((i + rng.integers(1, n)) % n)
        p = 1.0 / (1.0 + np.exp(-(truth[i] - truth[j])))
        p_a = 1.0 if rng.random() < p else 0.0
        out.append(ComparisonRecord(
            id=k, batch_id="b", round=k // n, slot=k % n, essay_a=ids[i], essay_b=ids[j],
            status="succeeded", winner="A" if p_a else "B", p_a=p_a,
            provider="sim", model="bt",
        ))
    return out


def test_round_reliability_is_sampled_and_reproducible(rng: np.random.Generator) -> None:
    """Refitting the same comparisons (as a resumed batch does) gives the same sampled
    reliability, recorded as posterior-sampled, and it is higher than the Laplace figure."""
    ids = [f"e{i:02d}" for i in range(40)]
    comparisons = _comparisons(ids, 14, 1.5, rng)
    one = fit_round(ids, comparisons, alpha=None, position_effect=False, seed=7)
    two = fit_round(ids, list(comparisons), alpha=None, position_effect=False, seed=7)
    assert one.reliability_method == RELIABILITY_SAMPLED
    assert one.reliability == two.reliability
    assert one.laplace_reliability is not None
    assert one.reliability > one.laplace_reliability
    other_seed = fit_round(ids, comparisons, alpha=None, position_effect=False, seed=8)
    assert other_seed.reliability != one.reliability
    assert abs(other_seed.reliability - one.reliability) < 0.05


def test_round_reliability_names_the_laplace_rule_for_large_batches(
    rng: np.random.Generator,
) -> None:
    """Above the size limit the Laplace empirical-Bayes figure is used, and said to be."""
    ids = [f"e{i:02d}" for i in range(30)]
    data, _ = build_pairwise(ids, _comparisons(ids, 10, 1.5, rng))
    eb = fit_empirical_bayes(data, max_iter=50, tol=1e-3)
    value, method = round_reliability(data, eb, max_sampled_items=29)
    assert (value, method) == (eb.reliability, RELIABILITY_LAPLACE)
    value, method = round_reliability(data, eb, max_sampled_items=30)
    assert method == RELIABILITY_SAMPLED and value != eb.reliability


def test_weak_soft_data_give_a_low_finite_reliability() -> None:
    """Four soft comparisons among twelve essays (the empirical-Bayes variance at its floor)
    give a finite reliability near zero, not an overflowing sampler."""
    ids = [f"e{i:02d}" for i in range(12)]
    pairs = [(0, 9), (11, 8), (5, 0), (9, 1)]
    comparisons = [
        ComparisonRecord(id=k, batch_id="b", round=0, slot=k, essay_a=ids[a], essay_b=ids[b],
                         status="succeeded", winner="B", p_a=0.15, provider="h", model="s")
        for k, (a, b) in enumerate(pairs)
    ]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        est = fit_round(ids, comparisons, alpha=None, position_effect=True, seed=0)
    assert 0.0 <= est.reliability < 0.3


def test_stop_decision_records_the_reliability_method() -> None:
    """The target-reliability rule fires on the estimate's reliability, and the stored
    explanation names which reliability that was."""
    spec = make_spec(n_students=4, anchor_grades=(), budget=100, target_reliability=0.8)
    ids = tuple(e.id for e in spec.essays)
    est = RoundEstimate(
        essay_ids=ids, theta=np.linspace(-1, 1, len(ids)), se=np.full(len(ids), 0.3),
        ssr=0.9, reliability=0.82, prior_variance=1.0, fit=None,  # type: ignore[arg-type]
        n_comparisons=40, reliability_method=RELIABILITY_SAMPLED, laplace_reliability=0.6,
    )
    decision = decide_stop(est, None, spec, n_requested=40, budget=100)
    assert (decision.stop, decision.rule) == (True, "target_reliability")
    assert "posterior_sampled" in decision.explanation
