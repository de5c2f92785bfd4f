"""A small dataset written by the test, a real batch through the engine with ``sim/scores``,
and every figure recomputed here by hand from that batch's own result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from cjgrade.evaluation.datasets import load_dataset
from cjgrade.evaluation.design import by_set, design_set
from cjgrade.evaluation.metrics import set_figures
from cjgrade.evaluation.run import JudgeSetup, run_design
from cjgrade.stats.bt import PairwiseData, fit_bradley_terry
from tests.evaluation.data import scored_rows, write_csv


def qwk_by_hand(a: list[int], b: list[int], low: int, high: int) -> float:
    """Cohen's quadratic weighted kappa written out: 1 - sum w*o / sum w*e."""
    n, k = len(a), high - low + 1
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[x - low][y - low] += 1
    rows = [sum(r) for r in observed]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    num = den = 0.0
    for i in range(k):
        for j in range(k):
            w = (i - j) ** 2 / (k - 1) ** 2
            num += w * observed[i][j]
            den += w * rows[i] * cols[j] / n
    return 1 - num / den


async def test_every_figure_of_a_sim_scores_batch(tmp_path: Path) -> None:
    rows = scored_rows({0: 6, 1: 8, 2: 8, 3: 6})
    essays = load_dataset(write_csv(tmp_path / "d.csv", rows))
    design = design_set("1", by_set(essays, None)["1"], anchors_per_level=2, students=12, seed=7)
    # a noisy judge with hard outcomes, so that the figures are not all at their bounds
    judge = JudgeSetup.baseline("scores", belief_noise=3.0, soft=False)
    run = await run_design(design, judge, budget_per_essay=None, concurrency=8)
    result, f = run.result, set_figures(run)

    # the batch is the one the design describes
    assert result.status == "completed" and result.grade_scale == "eval_levels_1"
    assert result.grades.grades == ("0", "1", "2", "3")
    human = {f"anchor-{e.essay_id}": e for e in design.anchors}
    human.update({f"student-{e.essay_id}": e for e in design.students})
    assert sorted(e.essay_id for e in result.essays) == sorted(human)
    assert all(a.anchor_grade == str(human[a.essay_id].score) for a in result.anchors)

    students = list(result.students)
    truth = [human[e.essay_id].score for e in students]
    predicted = [int(e.grade.grade) for e in students if e.grade is not None]
    assert len(predicted) == 12
    assert f.qwk == pytest.approx(qwk_by_hand(predicted, truth, 0, 3))
    diff = [abs(p - t) for p, t in zip(predicted, truth, strict=True)]
    assert f.exact == pytest.approx(sum(d == 0 for d in diff) / 12)
    assert f.adjacent == pytest.approx(sum(d <= 1 for d in diff) / 12)
    theta = [e.theta for e in students]
    assert f.spearman == pytest.approx(spearmanr(theta, truth).statistic)

    # quantile mapping: the students' own scores handed out in theta order
    order = sorted(range(12), key=lambda i: theta[i])
    mapped = [0] * 12
    for rank, i in enumerate(order):
        mapped[i] = sorted(truth)[rank]
    assert f.quantile_qwk == pytest.approx(qwk_by_hand(mapped, truth, 0, 3))

    # nearest anchor on a plain refit of the same comparisons
    ids = [e.essay_id for e in result.essays]
    done = [c for c in result.comparisons if c.status == "succeeded"]
    p = [float(c.p_a) for c in done if c.p_a is not None]
    refit = fit_bradley_terry(PairwiseData.build(
        len(ids), [ids.index(c.essay_a) for c in done], [ids.index(c.essay_b) for c in done],
        p, soft=[0 < x < 1 for x in p]), alpha=0.1).theta
    nearest = []
    for e in students:
        t = refit[ids.index(e.essay_id)]
        best = min(result.anchors, key=lambda a: abs(refit[ids.index(a.essay_id)] - t))
        nearest.append(int(str(best.anchor_grade)))
    assert f.nearest_anchor_qwk == pytest.approx(qwk_by_hand(nearest, truth, 0, 3))

    everyone = np.array([e.theta for e in result.essays])
    scores = np.array([human[e.essay_id].score for e in result.essays], dtype=float)
    r = np.sum((everyone - everyone.mean()) * (scores - scores.mean())) / np.sqrt(
        np.sum((everyone - everyone.mean()) ** 2) * np.sum((scores - scores.mean()) ** 2))
    assert f.truth_reliability == pytest.approx(r**2)
    assert result.reliability is not None
    assert f.reliability == result.reliability.posterior_reliability
    assert result.alignment is not None
    assert f.alignment_tau == result.alignment.kendall_tau_b

    raters = [human[e.essay_id] for e in students]
    assert f.human_qwk == pytest.approx(qwk_by_hand([h.score for h in raters],
                                                    [int(h.rater2 or 0) for h in raters], 0, 3))
    words = [len(human[e.essay_id].text.split()) for e in students]
    assert f.length_spearman == pytest.approx(spearmanr(words, truth).statistic)
    assert f.n_comparisons == len(done) and f.n_failed == 0
    assert f.comparisons_per_essay == pytest.approx(len(done) / len(ids))
    assert (f.input_tokens, f.output_tokens, f.cost_usd) == (0, 0, 0.0)

    # not at a bound: the check above compared real numbers
    assert f.qwk is not None and 0.3 < f.qwk < 1.0 and f.exact < 1.0
    assert 0.0 < f.length_spearman < 1.0  # type: ignore[operator]
