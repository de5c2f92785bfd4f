"""Round fits stored by earlier versions (their ``details`` JSON had fewer keys) still resume."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from cjgrade.engine.dispatch import InProcessDispatcher
from cjgrade.engine.ledger import BatchLedger
from cjgrade.engine.loop import BatchEngine
from cjgrade.store import RoundMetrics, Store
from cjgrade.store.models import RoundFit

from .conftest import make_spec, true_order_verdict
from .test_engine import Crash, CrashAfterRefit, scripted

OLD_KEYS = ("reliability", "prior_variance", "position_effect", "position_se",
            "max_theta_change", "n_requested", "judges")
"""The keys the engine wrote before the reliability method, the soft-outcome variance and
the decision text were recorded."""


async def test_a_batch_whose_fits_were_stored_in_the_old_shape_resumes(store: Store) -> None:
    """Killed after round 1; its stored fits are rewritten as an earlier version wrote them
    (a string-keyed dict without the newer keys). The resumed run reads them as typed
    metrics (missing ones None), finishes the budget and reports the stored reliabilities."""
    spec = make_spec(n_students=8, budget=36, target_reliability=None, stability_threshold=None)
    runtime, _ = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime), progress=CrashAfterRefit(1))
    uid = await engine.create(spec)
    with pytest.raises(Crash):
        await engine.run(uid)
    async with store.transaction() as s:
        rows = (await s.execute(select(RoundFit.round, RoundFit.details)
                                .where(RoundFit.batch_id == uid))).all()
        assert len(rows) == 2 and all("soft_variance" in d for _, d in rows)
        for round_, details in rows:
            old = {k: details[k] for k in OLD_KEYS}
            await s.execute(update(RoundFit).where(RoundFit.batch_id == uid,
                                                   RoundFit.round == round_)
                            .values(details=old))
    old_fits = await BatchLedger(store).fits(uid)
    assert all(f.metrics.soft_variance is None and f.metrics.decision is None
               and f.metrics.reliability is not None for f in old_fits)

    runtime2, adapter2 = scripted(true_order_verdict)
    result = await BatchEngine(store, InProcessDispatcher(runtime2)).run(uid)
    assert result.status == "completed" and len(result.comparisons) == 36
    assert len(adapter2.history) == 36 - sum(1 for c in result.comparisons if c.round <= 1)
    assert [r.reliability for r in result.rounds[:2]] == [f.metrics.reliability
                                                          for f in old_fits]
    new_fits = await BatchLedger(store).fits(uid)
    assert all(f.metrics.decision for f in new_fits[2:])


def test_round_metrics_json_round_trip_and_refuses_unknown_keys() -> None:
    """``to_json``/``from_json`` are inverse; a key this version does not know is an error
    that says what to do, not silently dropped."""
    from cjgrade.errors import StorageError

    metrics = RoundMetrics(reliability=0.8, reliability_method="posterior_sampled",
                           prior_variance=1.2, max_theta_change=0.1, decision="continue",
                           n_requested=40, judges=("sim/bt",))
    assert RoundMetrics.from_json(metrics.to_json()) == metrics
    assert RoundMetrics.from_json(None) == RoundMetrics()
    with pytest.raises(StorageError, match=r"unknown keys \['iterations'\].*upgrade"):
        RoundMetrics.from_json({"reliability": 0.5, "iterations": 5})
