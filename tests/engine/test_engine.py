"""The batch loop on a real SQLite store: complete runs, crash and resume, failures, refusals."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from cjgrade.bus import InProcessTransport
from cjgrade.engine.dispatch import ComparisonOutcome, InProcessDispatcher
from cjgrade.engine.ledger import BatchLedger
from cjgrade.engine.loop import BatchEngine
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.progress import Progress
from cjgrade.errors import InputError, JudgeOutputInvalid, JudgeUnavailable
from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest, Usage, Verdict, Winner
from cjgrade.judges.cache import fingerprint_request
from cjgrade.judges.cost import BilledSpend
from cjgrade.store import Store

from .conftest import make_spec, quality_of, true_order_verdict


def scripted(default: object | None = None):  # type: ignore[no-untyped-def]
    runtime = get_judge("scripted", options={} if default is None else {"default": default})
    return runtime, runtime.adapter


async def test_scripted_run_completes_and_recovers_the_order(store: Store) -> None:
    """A consistent judge gives a scale in the true order, real SEs and real counts."""
    spec = make_spec(n_students=10, budget=70, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted(true_order_verdict)
    transport = InProcessTransport()
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=4), transport=transport)
    uid = await engine.create(spec)
    result = await engine.run(uid)
    assert result.status == "completed" and result.stop_reason == "budget"
    assert len(result.comparisons) == 70 == len(adapter.history)
    assert all(c.status == "succeeded" and c.request_sha256 for c in result.comparisons)
    quality = [quality_of(next(s.text for s in spec.essays if s.id == e.essay_id))
               for e in result.essays]
    rho = spearmanr(quality, [e.theta for e in result.essays]).statistic
    assert rho > 0.95
    assert all(e.se > 0 for e in result.essays)
    per_essay = {e.essay_id: 0 for e in result.essays}
    for c in result.comparisons:
        per_essay[c.essay_a] += 1
        per_essay[c.essay_b] += 1
    assert {e.essay_id: e.n_comparisons for e in result.essays} == per_essay
    topics = [t for t, _ in transport.published]
    assert topics == ["cjgrade.assessment.requested.v1", "cjgrade.batch.completed.v1",
                      "cjgrade.assessment.result.v1"]
    assert [r.round for r in result.rounds] == list(range(len(result.rounds)))


async def test_the_sampler_runs_only_for_rounds_a_rule_reads(store: Store) -> None:
    """With no reliability target and no stability rule every round reports the Laplace
    figure (the sampler is not run for nothing); with a target, the rounds before the warm-up
    do and those after it are sampled; the final result is sampled either way."""
    runtime, _ = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=4))
    fixed = make_spec(n_students=10, budget=60, target_reliability=None,
                      stability_threshold=None)
    result = await engine.run(await engine.create(fixed))
    assert {r.reliability_method for r in result.rounds} == {"laplace_empirical_bayes"}
    assert result.reliability is not None
    assert result.reliability.posterior_reliability_method == "posterior_sampled"
    targeted = make_spec(n_students=10, budget=60, target_reliability=0.999,
                         stability_threshold=None, min_comparisons_per_essay=4.0)
    result = await engine.run(await engine.create(targeted))
    n = len(targeted.essays)
    for r in result.rounds:
        warmed_up = 2 * r.n_comparisons / n >= 4.0
        assert r.reliability_method == ("posterior_sampled" if warmed_up
                                        else "laplace_empirical_bayes"), r
    assert {r.reliability_method for r in result.rounds} == {
        "posterior_sampled", "laplace_empirical_bayes"}


async def test_heuristic_judge_runs_the_bundled_sample(store: Store) -> None:
    """The heuristic judge on the bundled sample puts the A anchor above the F anchor."""
    from importlib import resources
    from pathlib import Path

    from cjgrade.runner.folder_spec import spec_from_folder
    from cjgrade.runner.inputs import read_input_folder

    root = Path(str(resources.files("cjgrade.data").joinpath("sample")))
    folder = read_input_folder(root, resolve_grade=lambda raw, scale: raw,
                               option_overrides={"budget": 48})
    spec = replace(spec_from_folder(folder, judge="heuristic/surface"), grades_requested=False)
    engine = BatchEngine(store, InProcessDispatcher(get_judge("heuristic/surface")))
    result = await engine.run(await engine.create(spec))
    theta = {e.essay_id: e.theta for e in result.essays}
    assert result.status == "completed" and len(result.comparisons) == 48
    assert theta["anchor:a08_A"] > theta["anchor:a01_F"]
    assert result.costs[0].provider == "heuristic" and result.costs[0].cost_usd == 0.0


async def test_resume_after_crash_asks_nothing_twice_and_loses_nothing(store: Store) -> None:
    """Kill the loop mid-round (the judge crashes on call 23); resuming re-asks only the
    comparison that was in flight, reuses the 22 stored verdicts and completes the budget."""
    spec = make_spec(n_students=10, budget=60, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted()
    adapter.enqueue(*([true_order_verdict] * 22))  # call 23 finds an empty queue: InputError
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=1))
    uid = await engine.create(spec)
    with pytest.raises(InputError, match="no response enqueued"):
        await engine.run(uid)
    ledger = BatchLedger(store)
    before = await ledger.comparisons(uid)
    answered_before = {c.id for c in before if c.status == "succeeded"}
    assert len(answered_before) == 22 and len(adapter.history) == 23
    crashed_request = adapter.history[-1]
    assert (await ledger.load_batch(uid)).status == "running"

    runtime2, adapter2 = scripted(true_order_verdict)
    resumed = BatchEngine(store, InProcessDispatcher(runtime2, concurrency=1))
    result = await resumed.run(uid)
    assert result.status == "completed" and len(result.comparisons) == 60
    assert all(c.status == "succeeded" for c in result.comparisons)
    # Nothing stored before the crash was asked again; only the in-flight one was repeated.
    assert len(adapter2.history) == 60 - 22
    assert adapter2.history[0] == crashed_request
    stored_before = {c.id: (c.essay_a, c.essay_b) for c in before}
    after = {c.id: (c.essay_a, c.essay_b) for c in result.comparisons}
    assert all(after[i] == pair for i, pair in stored_before.items())  # the round was kept


async def test_run_of_a_finished_batch_calls_no_judge(store: Store) -> None:
    """Running a completed batch again recomputes its results without any judge call."""
    spec = make_spec(budget=20, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime))
    uid = await engine.create(spec)
    first = await engine.run(uid)
    calls = len(adapter.history)
    again = await engine.run(uid)
    assert len(adapter.history) == calls
    assert [e.theta for e in again.essays] == pytest.approx([e.theta for e in first.essays])


async def test_verdict_delivered_twice_is_stored_once(store: Store) -> None:
    """A second outcome for the same comparison is ignored; the first one stays."""
    spec = make_spec(budget=20)
    engine = BatchEngine(store, InProcessDispatcher(scripted(true_order_verdict)[0]))
    uid = await engine.create(spec)
    ledger = BatchLedger(store)
    await ledger.add_round(uid, 0, [("s00", "s01", None)])
    (row,) = await ledger.comparisons(uid)

    def verdict(winner: Winner) -> Verdict:
        return Verdict(winner=winner, p_a=1.0 if winner is Winner.A else 0.0, justification="",
                       provider="scripted", model="default", request_sha256="0" * 64)

    assert await ledger.record_outcome(ComparisonOutcome(row.id, verdict(Winner.A)))
    assert not await ledger.record_outcome(ComparisonOutcome(row.id, verdict(Winner.B)))
    assert not await ledger.record_outcome(ComparisonOutcome(row.id, error_code="X"))
    (row,) = await ledger.comparisons(uid)
    assert (row.status, row.winner) == ("succeeded", "A")


async def test_low_success_rate_fails_the_batch_with_a_reason(store: Store) -> None:
    """When most verdicts are malformed the batch fails with low_success_rate, and says why."""
    spec = make_spec(n_students=10, budget=40, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted()
    for i in range(40):
        adapter.enqueue(true_order_verdict if i % 3 == 0 else
                        JudgeOutputInvalid("winner missing from the response"))
    transport = InProcessTransport()
    engine = BatchEngine(store, InProcessDispatcher(runtime), transport=transport)
    result = await engine.run(await engine.create(spec))
    assert result.status == "failed"
    assert result.failure_reason is not None
    assert result.failure_reason.startswith("low_success_rate")
    assert "JudgeOutputInvalid" in result.failure_reason
    # One round (14 essays / 2 = 7, rounded up to the 8 calls in flight), then no more spend.
    assert len(adapter.history) == 8
    assert [t for t, _ in transport.published][-1] == "cjgrade.batch.failed.v1"
    assert all(c.error_reason for c in result.comparisons if c.status == "failed")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"n_students": 1}, "needs at least 2"),
        ({"budget": 5}, "cannot give each of the 8 students"),
        ({"strategy": "best"}, "unknown pairing strategy"),
    ],
)
async def test_refusals_happen_before_anything_is_written(
    store: Store, changes: dict[str, object], match: str
) -> None:
    """Bad batches are refused with a message, no row written and no judge called."""
    spec = make_spec(**changes)  # type: ignore[arg-type]
    runtime, adapter = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime))
    with pytest.raises(InputError, match=match):
        await engine.create(spec)
    assert await BatchLedger(store).count_batches() == 0
    assert adapter.history == []


async def test_grades_without_anchors_are_refused(store: Store) -> None:
    """Asking for grades with no anchors says to add anchors or turn grades off."""
    spec = replace(make_spec(anchor_grades=()), grades_requested=True)
    engine = BatchEngine(store, InProcessDispatcher(scripted(true_order_verdict)[0]))
    with pytest.raises(InputError, match=r"no anchor essays.*--no-grades"):
        await engine.create(spec)
    assert await BatchLedger(store).count_batches() == 0


async def test_budget_is_never_exceeded_with_odd_rounds(
    store: Store, rng: np.random.Generator
) -> None:
    """The number of comparisons requested equals the budget even when it is not a multiple
    of the round size."""
    budget = int(rng.integers(13, 30))
    spec = make_spec(n_students=7, budget=budget, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=3))
    result = await engine.run(await engine.create(spec))
    assert len(result.comparisons) == budget == len(adapter.history)


async def test_concurrent_run_of_the_same_batch_is_refused(store: Store) -> None:
    """A batch leased by another live process cannot be run at the same time."""
    from cjgrade.errors import ConfigError

    spec = make_spec(budget=20)
    engine = BatchEngine(store, InProcessDispatcher(scripted(true_order_verdict)[0]))
    uid = await engine.create(spec)
    ledger = BatchLedger(store)
    await ledger.acquire(uid, "other-host:1")
    with pytest.raises(ConfigError, match="being run by other-host:1"):
        await engine.run(uid)
    await asyncio.sleep(0)


async def test_grades_are_projected_with_distributions(store: Store) -> None:
    """With anchors, every student gets a probability over the scale's grades that sums to 1,
    stored in the database; anchor alignment and the leave-one-anchor-out check are reported."""
    from cjgrade.store import list_grade_projections

    spec = replace(
        make_spec(n_students=10, anchor_grades=("F", "E", "D", "C", "B", "A"), budget=80,
                  target_reliability=None, stability_threshold=None),
        grades_requested=True,
    )
    runtime, _ = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=4))
    uid = await engine.create(spec)
    result = await engine.run(uid)
    assert result.grades.available is True
    for e in result.students:
        assert e.grade is not None
        assert sum(e.grade.probabilities.values()) == pytest.approx(1.0)
        assert e.grade.grade == max(e.grade.probabilities, key=e.grade.probabilities.get)
    best = max(result.students, key=lambda e: e.theta)
    worst = min(result.students, key=lambda e: e.theta)
    assert "FEDCBA".index(best.grade.grade[0]) > "FEDCBA".index(worst.grade.grade[0])
    assert result.alignment is not None and result.alignment.kendall_tau_b > 0.8
    assert result.grades.leave_one_anchor_out is not None
    assert result.grades.leave_one_anchor_out.n == 6
    async with store.transaction() as session:
        stored = await list_grade_projections(session, uid)
    assert {p.essay_id for p in stored} == {e.essay_id for e in result.students}


def test_stability_needs_a_scale_that_separates_the_essays() -> None:
    """Tiny theta changes do not stop a batch whose reliability is still near zero."""
    from cjgrade.engine.fitting import RoundEstimate
    from cjgrade.engine.stop_rules import decide_stop

    spec = make_spec(n_students=4, anchor_grades=(), budget=100)
    ids = tuple(e.id for e in spec.essays)

    def estimate(reliability: float) -> RoundEstimate:
        return RoundEstimate(
            essay_ids=ids, theta=np.full(len(ids), 0.01), se=np.ones(len(ids)), ssr=0.0,
            reliability=reliability, prior_variance=0.001, fit=None,  # type: ignore[arg-type]
            n_comparisons=20,
        )

    previous = dict.fromkeys(ids, 0.0)
    empty = decide_stop(estimate(0.02), previous, spec, n_requested=20, budget=100)
    assert (empty.stop, empty.rule) == (False, "continue")
    real = decide_stop(estimate(0.7), previous, spec, n_requested=20, budget=100)
    assert (real.stop, real.rule) == (True, "stability")


async def test_batch_bound_to_a_stored_assignment(store: Store) -> None:
    """An assignment-bound batch takes instructions, prompt, rubric, scale and anchors from
    the store, and refuses a rubric override on a canonical national assignment."""
    from cjgrade.domain import Essay
    from cjgrade.engine.ledger import spec_for_assignment
    from cjgrade.store import register_anchor, upsert_assignment

    from .conftest import essay_text

    async with store.transaction() as session:
        await upsert_assignment(session, "np_2017_vt", instructions="Judge argument quality.",
                                grade_scale="swedish_8_anchor", student_prompt="Phones?",
                                judge_rubric="Prefer clear arguments.",
                                context_origin="canonical_national")
        for q, g in ((5, "F"), (40, "C"), (75, "A")):
            await register_anchor(session, "np_2017_vt", grade=g, text=essay_text(q) * 3,
                                  label=f"anchor-{g}")
    students = [Essay(id=f"s{i}", text=essay_text(10 * i + 8)) for i in range(6)]
    spec = await spec_for_assignment(
        store, "np_2017_vt", students, judge="scripted/default",
        options=make_spec(budget=30, target_reliability=None, stability_threshold=None).options,
    )
    assert spec.rubric == "Prefer clear arguments." and spec.student_prompt == "Phones?"
    assert [a.grade for a in spec.anchors] == ["A", "C", "F"]
    runtime, adapter = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime))
    result = await engine.run(await engine.create(spec))
    assert result.status == "completed" and result.assignment_id == "np_2017_vt"
    assert result.grades.available is True
    assert all(r.rubric == "Prefer clear arguments." for r in adapter.history)
    with pytest.raises(InputError, match="canonical"):
        await spec_for_assignment(store, "np_2017_vt", students, judge="scripted/default",
                                  rubric_override="Prefer long essays.")


async def test_resume_unfinished_picks_up_a_crashed_batch(store: Store) -> None:
    """After a crash, resume_unfinished finds the batch (its lease is this dead run's) and
    completes it; finished batches are left alone."""
    spec = make_spec(n_students=6, budget=24, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted()
    adapter.enqueue(*([true_order_verdict] * 5))
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=1))
    uid = await engine.create(spec)
    with pytest.raises(InputError):
        await engine.run(uid)
    done = BatchEngine(store, InProcessDispatcher(scripted(true_order_verdict)[0]))
    other = await done.create(make_spec(n_students=4, budget=8))
    await done.run(other)
    results = await done.resume_unfinished()
    assert [r.batch_uuid for r in results] == [uid]
    assert results[0].status == "completed" and len(results[0].comparisons) == 24


class BilledFailures:
    """Fails every third comparison the way the judge runtime does after its retries: the
    final JudgeError carries the spend of the invalid replies the provider billed."""

    def __init__(self, cost: float | None) -> None:
        self.cost = cost
        self.calls = 0

    def request_sha256(self, request: JudgeRequest) -> str:
        return fingerprint_request(request)

    async def judge(self, request: JudgeRequest) -> Verdict:
        self.calls += 1
        if self.calls % 3 == 0:
            exc = JudgeOutputInvalid("reply was not JSON")
            exc.billed = BilledSpend(Usage(1000, 50), self.cost, 3)  # type: ignore[attr-defined]
            raise exc
        return replace(true_order_verdict(request), cost_usd=0.01,
                       usage=Usage(800, 40))


@pytest.mark.parametrize("cost", [0.02, None])
async def test_failed_comparisons_count_their_billed_spend(
    store: Store, cost: float | None
) -> None:
    """What the provider billed for a comparison that still failed is stored on it and added
    to the run's tokens and cost (an unknown price makes the total unknown, never 0)."""
    spec = make_spec(n_students=8, budget=12, target_reliability=None, stability_threshold=None,
                     min_success_rate=0.5, concurrency=1)
    engine = BatchEngine(store, InProcessDispatcher(BilledFailures(cost), concurrency=1))
    result = await engine.run(await engine.create(spec))
    failed = [c for c in result.comparisons if c.status == "failed"]
    assert len(failed) == 4 and all(c.attempts == 3 for c in failed)
    assert all(c.input_tokens == 1000 and c.cost_usd == cost for c in failed)
    (line,) = result.costs
    assert (line.provider, line.model, line.comparisons) == ("scripted", "default", 8)
    assert line.input_tokens == 8 * 800 + 4 * 1000
    if cost is None:
        assert line.cost_usd is None and result.total_cost_usd is None
    else:
        assert line.cost_usd == pytest.approx(8 * 0.01 + 4 * 0.02)


class Crash(RuntimeError):
    """The process dying at a chosen point."""


class CrashAfterRefit:
    """A progress listener that kills the run right after round ``n``'s fit is recorded,
    before the next round's pairs are drawn (a crash between rounds)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0

    def on_progress(self, progress: Progress) -> None:
        # The round's last stored outcome reports done == requested, then its refit does.
        if progress.round == self.n and progress.done == progress.requested:
            self.seen += 1
            if self.seen == 2:
                raise Crash(f"killed after round {self.n}")


class CrashOnCompletion(InProcessTransport):
    """A bus that dies when the completion event is published: finalisation has committed,
    its events are still in the outbox."""

    async def publish(self, topic: str, envelope: Any) -> None:
        if topic == "cjgrade.batch.completed.v1":
            raise Crash("killed while publishing the completion")
        await super().publish(topic, envelope)


async def test_crash_between_rounds_resumes_with_the_next_round(store: Store) -> None:
    """Killed after round 1's fit: the resumed run draws round 2 once, asks none of the
    stored comparisons again and ends with exactly the budget."""
    spec = make_spec(n_students=8, budget=36, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime), progress=CrashAfterRefit(1))
    uid = await engine.create(spec)
    with pytest.raises(Crash):
        await engine.run(uid)
    before = await BatchLedger(store).comparisons(uid)
    assert before and all(c.status == "succeeded" for c in before)
    assert [f.round for f in await BatchLedger(store).fits(uid)] == [0, 1]
    assert max(c.round for c in before) == 1
    assert len(adapter.history) == len(before)
    runtime2, adapter2 = scripted(true_order_verdict)
    result = await BatchEngine(store, InProcessDispatcher(runtime2)).run(uid)
    assert result.status == "completed" and len(result.comparisons) == 36
    assert len(adapter2.history) == 36 - len(before)
    assert len({(c.round, c.slot) for c in result.comparisons}) == 36


async def test_crash_during_finalisation_publishes_on_resume_without_judging(
    store: Store,
) -> None:
    """Killed while the completion events are published: resume calls no judge, keeps the
    committed results and publishes the events left in the outbox, once."""
    spec = make_spec(n_students=6, budget=18, target_reliability=None, stability_threshold=None)
    runtime, adapter = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime), transport=CrashOnCompletion())
    uid = await engine.create(spec)
    with pytest.raises(Crash):
        await engine.run(uid)
    calls = len(adapter.history)
    assert calls == 18
    transport = InProcessTransport()
    runtime2, adapter2 = scripted(true_order_verdict)
    result = await BatchEngine(store, InProcessDispatcher(runtime2), transport=transport).run(uid)
    assert result.status == "completed" and len(result.comparisons) == 18
    assert adapter2.history == []
    topics = [t for t, _ in transport.published]
    assert topics == ["cjgrade.batch.completed.v1", "cjgrade.assessment.result.v1"]
    again = InProcessTransport()
    await BatchEngine(store, InProcessDispatcher(runtime2), transport=again).run(uid)
    assert again.published == []


def test_default_round_fills_the_calls_in_flight() -> None:
    """Without round_size a round is half the essays rounded up to whole waves of
    `concurrency` calls; an explicit round_size is kept."""
    assert BatchOptions(concurrency=32).resolved_round_size(200) == 128
    assert BatchOptions(concurrency=32).resolved_round_size(60) == 32
    assert BatchOptions(concurrency=1).resolved_round_size(15) == 7
    assert BatchOptions(concurrency=8, round_size=5).resolved_round_size(200) == 5


async def test_cpu_steps_run_off_the_event_loop(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pair selection and the refits run in worker threads, so a bus consumer sharing the
    event loop keeps its heartbeat while a large batch computes."""
    import threading

    import cjgrade.engine.finalise as finalise_module
    import cjgrade.engine.loop as loop_module

    threads: dict[str, set[bool]] = {"select": set(), "refit": set(), "final": set()}

    def spy(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            threads[name].add(threading.current_thread() is threading.main_thread())
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(loop_module, "select_pairs", spy("select", loop_module.select_pairs))
    monkeypatch.setattr(loop_module, "fit_round", spy("refit", loop_module.fit_round))
    monkeypatch.setattr(finalise_module, "fit_round", spy("final", finalise_module.fit_round))
    spec = make_spec(n_students=6, budget=12, target_reliability=None, stability_threshold=None)
    runtime, _ = scripted(true_order_verdict)
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=4))
    result = await engine.run(await engine.create(spec))
    assert result.status == "completed"
    assert threads == {"select": {False}, "refit": {False}, "final": {False}}


def _flaky(every: int):  # type: ignore[no-untyped-def]
    """A scripted answer that fails every ``every``-th request with a 503, else the truth."""
    calls = [0]

    def answer(request: JudgeRequest) -> Verdict:
        calls[0] += 1
        if calls[0] % every == 0:
            raise JudgeUnavailable("HTTP 503: overloaded")
        return true_order_verdict(request)

    return answer


async def test_attempts_are_the_requests_each_comparison_took(store: Store) -> None:
    """With a third of the requests failing and retried, every comparison records the
    requests it took (1 or 2, never a flat 1), and they add up to what the judge was sent."""
    spec = make_spec(n_students=8, budget=12, round_size=12, target_reliability=None,
                     stability_threshold=None)
    runtime = get_judge("scripted", options={"default": _flaky(3)},
                        policy_overrides={"max_attempts": 4, "backoff_base_s": 0.0})
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=1))
    result = await engine.run(await engine.create(spec))
    assert result.status == "completed" and len(result.comparisons) == 12
    # requests 3, 6, ..., 15 fail and are retried: 17 requests for 12 comparisons
    assert len(runtime.adapter.history) == 17  # type: ignore[attr-defined]
    assert sorted(c.attempts for c in result.comparisons) == [1] * 7 + [2] * 5
    assert sum(c.attempts for c in result.comparisons) == 17


async def test_attempts_of_a_failing_judge_are_requests_not_refusals(store: Store) -> None:
    """A judge that keeps failing opens the circuit: the refused calls are not counted, so
    the failed comparisons' attempts add up to the requests really sent."""
    spec = make_spec(n_students=8, budget=12, round_size=12, target_reliability=None,
                     stability_threshold=None, min_success_rate=0.0)
    runtime = get_judge("scripted", options={"default": _flaky(1)},
                        policy_overrides={"max_attempts": 4, "backoff_base_s": 0.0,
                                          "breaker_failures": 5})
    engine = BatchEngine(store, InProcessDispatcher(runtime, concurrency=1))
    result = await engine.run(await engine.create(spec))
    assert all(c.status == "failed" for c in result.comparisons)
    sent = len(runtime.adapter.history)  # type: ignore[attr-defined]
    assert sent == 5
    assert sum(c.attempts for c in result.comparisons) == sent
    assert all("HTTP 503" in (c.error_reason or "") for c in result.comparisons)
