"""``cjgrade eval`` on real ASAP essays (skipped when ../shared/data is absent); the full
table is ``benchmarks/bench_eval_asap.py`` and docs/evaluation.md."""

from __future__ import annotations

import pytest

from cjgrade.evaluation.datasets import load_dataset
from cjgrade.evaluation.plan import plan_evaluation, run_plan
from cjgrade.evaluation.run import JudgeSetup
from tests.conftest import shared_data_dir


@pytest.mark.realdata
async def test_heuristic_and_sim_scores_on_asap_set_3() -> None:
    """The ASAP TSV loads whole (2,598 essays, 8 sets); on set 3 the heuristic's projected
    grades agree with the humans well above chance, and sim/scores meets the pipeline targets
    (projected QWK not more than 0.1 below the nearest anchor's; reported reliability within
    0.1 of the truth-based one)."""
    essays = load_dataset(shared_data_dir("asap") / "asap_fold0.tsv")
    assert len(essays) == 2598 and len({e.essay_set for e in essays}) == 8
    plan = plan_evaluation(essays, [JudgeSetup.baseline("heuristic"),
                                    JudgeSetup.baseline("scores")],
                           sets=["3"], students=30, anchors_per_level=2, seeds=1)
    figures, stopped = await run_plan(plan)
    heuristic, scores = figures
    assert stopped is None and heuristic.n_failed == 0
    assert heuristic.qwk is not None and heuristic.qwk > 0.4
    assert heuristic.human_qwk is not None and heuristic.human_qwk > 0.7
    assert scores.qwk is not None and scores.nearest_anchor_qwk is not None
    assert scores.qwk >= scores.nearest_anchor_qwk - 0.1
    assert scores.reliability is not None and scores.truth_reliability is not None
    assert abs(scores.reliability - scores.truth_reliability) <= 0.1
