"""Pipelined rounds: with a dispatcher that declares its capacity, the next round's early part
is dispatched while the current round ends, so no judge slot waits for the refit; the budget
holds, a stop leaves at most one capacity's worth of extra comparisons (all stored), and a
batch stopped with two rounds in flight resumes with every comparison stored once."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest

from cjgrade.engine.dispatch import (
    ComparisonOutcome,
    ComparisonTask,
    InProcessDispatcher,
    PipelinedDispatcher,
    judge_task,
)
from cjgrade.engine.ledger import BatchLedger
from cjgrade.engine.loop import BatchEngine
from cjgrade.errors import StorageError
from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest
from cjgrade.judges.cache import fingerprint_request
from cjgrade.store import Store, set_batch_status

from .conftest import make_spec, true_order_verdict


class Crash(RuntimeError):
    """The orchestrator dying mid-batch."""


class SaturatedCluster:
    """A cluster of ``capacity`` judge slots shared by every dispatch stream, as workers are.

    It finishes a call only while every slot is busy: a slot left free stays free until more
    work is dispatched. When nothing new comes for ``grace_s`` it finishes what is in flight
    and logs those calls as finished with slots idle. So a log with an idle finish followed by
    a dispatch shows slots that sat idle across a round boundary.

    ``log`` holds ``(event, round, comparison id)`` with events ``dispatched``, ``finished``,
    ``finished idle``. With ``crash_after``, the call finishing after that many raises
    :class:`Crash` in its stream and nothing else finishes.
    """

    def __init__(self, capacity: int, *, grace_s: float = 0.5,
                 crash_after: int | None = None) -> None:
        self.judge = get_judge("scripted", options={"default": true_order_verdict})
        self._capacity = capacity
        self.grace_s = grace_s
        self.crash_after = crash_after
        self.log: list[tuple[str, int, int]] = []
        self.finished = 0
        self._queued: deque[tuple[ComparisonTask, asyncio.Queue[object]]] = deque()
        self._running: deque[tuple[ComparisonTask, asyncio.Queue[object]]] = deque()
        self._dispatched = asyncio.Event()
        self._draining = False
        self._scheduler: asyncio.Task[None] | None = None

    def capacity(self) -> int:
        return self._capacity

    def request_sha256(self, request: JudgeRequest) -> str:
        return fingerprint_request(request)

    async def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]:
        outbox: asyncio.Queue[object] = asyncio.Queue()
        for task in tasks:
            self.log.append(("dispatched", task.round, task.comparison_id))
            self._queued.append((task, outbox))
        self._fill()
        self._draining = False
        self._dispatched.set()
        if self._scheduler is None or self._scheduler.done():
            self._scheduler = asyncio.ensure_future(self._schedule())
        for _ in tasks:
            item = await outbox.get()
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, ComparisonOutcome)
            yield item

    async def aclose(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)

    def rounds_of(self, event: str) -> list[int]:
        return [r for e, r, _ in self.log if e == event]

    def _fill(self) -> None:
        while self._queued and len(self._running) < self._capacity:
            self._running.append(self._queued.popleft())

    async def _schedule(self) -> None:
        while self._running:
            if len(self._running) < self._capacity and not self._draining:
                self._dispatched.clear()
                try:
                    await asyncio.wait_for(self._dispatched.wait(), self.grace_s)
                except TimeoutError:
                    self._draining = True
                continue
            task, outbox = self._running.popleft()
            outcome = await judge_task(self.judge, task)
            self.finished += 1
            self.log.append(("finished idle" if self._draining else "finished", task.round,
                             task.comparison_id))
            if self.crash_after is not None and self.finished > self.crash_after:
                outbox.put_nowait(Crash(f"killed at call {self.finished}"))
                return
            outbox.put_nowait(outcome)
            self._fill()
            await asyncio.sleep(0)


class CancellingCluster(SaturatedCluster):
    """Cancels the batch (as ``POST /v1/batches/{id}/cancel`` does) when the first comparisons
    of round 1 are dispatched: round 0 and round 1's early part are in flight then."""

    def __init__(self, store: Store, capacity: int) -> None:
        super().__init__(capacity)
        self.store = store

    async def dispatch(self, tasks: Sequence[ComparisonTask]) -> AsyncIterator[ComparisonOutcome]:
        if tasks[0].round == 1:
            async with self.store.transaction() as session:
                await set_batch_status(session, tasks[0].batch_uuid, "cancelled")
        async for outcome in super().dispatch(tasks):
            yield outcome


def _spec(budget: int, **options: object):  # type: ignore[no-untyped-def]
    """20 essays (16 students, 4 anchors): rounds of 12 at capacity 4 (10 in 3 waves)."""
    return make_spec(n_students=16, budget=budget, **options)


def test_only_dispatchers_that_declare_a_capacity_pipeline() -> None:
    """The fake cluster pipelines; embedded mode's in-process dispatcher does not, so its
    rounds and the pairs a seed draws stay as they were."""
    assert isinstance(SaturatedCluster(4), PipelinedDispatcher)
    judge = get_judge("scripted", options={"default": true_order_verdict})
    assert not isinstance(InProcessDispatcher(judge), PipelinedDispatcher)


async def test_next_round_is_dispatched_before_the_round_ends(store: Store) -> None:
    """Round r+1's first comparisons are dispatched before round r's last one finishes, and
    no slot sits idle before a later dispatch: only the batch's very end drains the slots."""
    cluster = SaturatedCluster(4)
    engine = BatchEngine(store, cluster)
    result = await engine.run(await engine.create(
        _spec(48, target_reliability=None, stability_threshold=None)))
    assert result.status == "completed" and len(result.comparisons) == 48
    assert all(c.status == "succeeded" for c in result.comparisons)
    events = cluster.log
    last_round = max(c.round for c in result.comparisons)
    for r in range(last_round):
        first_next = next(i for i, (e, rr, _) in enumerate(events)
                          if e == "dispatched" and rr == r + 1)
        last_done = max(i for i, (e, rr, _) in enumerate(events)
                        if e.startswith("finished") and rr == r)
        assert first_next < last_done, f"round {r + 1} waited for round {r} to end"
    last_dispatch = max(i for i, (e, _, _) in enumerate(events) if e == "dispatched")
    assert all(i > last_dispatch for i, (e, _, _) in enumerate(events) if e == "finished idle")
    assert cluster.finished == 48


async def test_rounds_follow_the_capacity_and_parts_take_their_own_slots(
    store: Store,
) -> None:
    """Rounds are sized in waves of the dispatcher's capacity (12 = 3 waves of 4 for 20
    essays); a round's early part and its rest take consecutive slots, each pair once."""
    cluster = SaturatedCluster(4)
    engine = BatchEngine(store, cluster)
    result = await engine.run(await engine.create(
        _spec(48, target_reliability=None, stability_threshold=None)))
    by_round: dict[int, list[int]] = {}
    for c in result.comparisons:
        by_round.setdefault(c.round, []).append(c.slot)
    assert {r: sorted(s) for r, s in by_round.items()} == {r: list(range(12)) for r in range(4)}


async def test_budget_is_never_exceeded_when_rounds_overlap(
    store: Store, rng: np.random.Generator
) -> None:
    """Comparisons in flight count against the budget: an odd budget is met exactly."""
    budget = int(rng.integers(25, 60))
    cluster = SaturatedCluster(int(rng.integers(2, 7)))
    engine = BatchEngine(store, cluster)
    result = await engine.run(await engine.create(
        _spec(budget, target_reliability=None, stability_threshold=None)))
    assert result.status == "completed" and result.stop_reason == "budget"
    assert len(result.comparisons) == budget == cluster.finished
    assert all(c.status == "succeeded" for c in result.comparisons)


async def test_stop_leaves_at_most_one_capacity_of_extra_comparisons_all_stored(
    store: Store,
) -> None:
    """A target reached after round r: the next round's early part (already dispatched, so
    paid) finishes and is stored, the final fit includes it, and nothing more is asked."""
    cluster = SaturatedCluster(4)
    engine = BatchEngine(store, cluster)
    spec = _spec(400, target_reliability=0.6, stability_threshold=None, min_comparisons_per_essay=1)
    uid = await engine.create(spec)
    result = await engine.run(uid)
    assert result.status == "completed" and result.stop_reason == "target_reliability"
    stop_round = result.rounds[-1].round
    assert result.rounds[-1].stop
    extra = [c for c in result.comparisons if c.round > stop_round]
    assert 0 < len(extra) <= cluster.capacity()
    assert all(c.status == "succeeded" for c in result.comparisons)
    assert cluster.finished == len(result.comparisons) < 400
    assert sum(e.n_comparisons for e in result.essays) == 2 * len(result.comparisons)


async def test_resume_with_two_rounds_in_flight_stores_every_comparison_once(
    store: Store,
) -> None:
    """Killed while round 0 ends and round 1's early part is in flight: both rounds have
    pending comparisons; the resumed run dispatches them, finishes the batch with exactly the
    budget, asks nothing stored again and stores every comparison once."""
    crashing = SaturatedCluster(4, crash_after=9)
    engine = BatchEngine(store, crashing)
    uid = await engine.create(_spec(36, target_reliability=None, stability_threshold=None))
    with pytest.raises(Crash):
        await engine.run(uid)
    await crashing.aclose()
    ledger = BatchLedger(store)
    before = await ledger.comparisons(uid)
    assert {c.round for c in before if c.status == "pending"} == {0, 1}
    stored_before = {c.id: c.winner for c in before if c.status != "pending"}
    assert len(stored_before) == 9

    cluster = SaturatedCluster(4)
    result = await BatchEngine(store, cluster).run(uid)
    assert result.status == "completed" and len(result.comparisons) == 36
    assert all(c.status == "succeeded" for c in result.comparisons)
    assert cluster.finished == 36 - 9
    judged_again = {cid for e, _, cid in cluster.log if e.startswith("finished")}
    assert not judged_again & set(stored_before)
    assert {c.id: c.winner for c in result.comparisons if c.id in stored_before} == stored_before
    assert len({(c.round, c.slot) for c in result.comparisons}) == 36
    assert len({c.id for c in result.comparisons}) == 36


async def test_cancel_with_two_rounds_in_flight_stores_what_was_requested(
    store: Store,
) -> None:
    """Cancelled while round 0 ends and round 1's early part is in flight: no further part is
    requested, and what was (its requests are out, so paid) is finished and stored."""
    cluster = CancellingCluster(store, 4)
    engine = BatchEngine(store, cluster)
    uid = await engine.create(_spec(48, target_reliability=None, stability_threshold=None))
    with pytest.raises(StorageError, match="cancelled"):
        await engine.run(uid)
    rows = await BatchLedger(store).comparisons(uid)
    assert [c for c in rows if c.status == "pending"] == []
    assert len([c for c in rows if c.round == 0]) == 12
    assert len([c for c in rows if c.round == 1]) == cluster.capacity()
    assert cluster.finished == len(rows) == 12 + cluster.capacity()
