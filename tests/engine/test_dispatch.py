"""Dispatchers: remote workers over a transport, duplicates, crashes; event envelopes."""

from __future__ import annotations

import asyncio

import pytest

from cjgrade.bus import (
    BatchFailedV1,
    ComparisonCompletedV1,
    InProcessTransport,
    decode_envelope,
    make_envelope,
)
from cjgrade.engine.dispatch import (
    COMPARISON_COMPLETED,
    BusDispatcher,
    ComparisonTask,
    InProcessDispatcher,
    serve_comparisons,
)
from cjgrade.engine.loop import BatchEngine
from cjgrade.errors import BusError, InputError
from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest
from cjgrade.store import Store

from .conftest import essay_text, make_spec, true_order_verdict


class DuplicatingTransport(InProcessTransport):
    """Delivers every comparison result twice (at-least-once delivery, as Kafka may)."""

    async def publish(self, topic: str, envelope):  # type: ignore[no-untyped-def]
        await super().publish(topic, envelope)
        if topic == COMPARISON_COMPLETED:
            await super().publish(topic, envelope)


async def test_batch_runs_on_remote_workers_over_the_bus(store: Store) -> None:
    """With the bus dispatcher and two workers, a batch completes; each verdict delivered twice
    is stored once, and every comparison is judged exactly once."""
    transport = DuplicatingTransport()
    judges = [get_judge("scripted", options={"default": true_order_verdict}) for _ in range(2)]
    stop = asyncio.Event()
    workers = [asyncio.ensure_future(serve_comparisons(transport, j, concurrency=2, stop=stop))
               for j in judges]
    await asyncio.sleep(0)
    try:
        spec = make_spec(n_students=8, budget=30, target_ssr=None, stability_threshold=None)
        engine = BatchEngine(store, BusDispatcher(transport, timeout_s=30), transport=transport)
        result = await engine.run(await engine.create(spec))
    finally:
        stop.set()
        served = await asyncio.gather(*workers)
    assert result.status == "completed"
    assert len(result.comparisons) == 30 and all(c.status == "succeeded"
                                                 for c in result.comparisons)
    # The two workers share the requests (one consumer group), both took part, and each
    # result was delivered twice but stored once.
    assert sum(served) == 30 and min(served) > 0
    assert len(transport.events(COMPARISON_COMPLETED)) == 60


async def test_bus_dispatcher_times_out_without_workers() -> None:
    """No worker answering is a BusError that says to start workers and resume."""
    transport = InProcessTransport()
    task = ComparisonTask(
        comparison_id=1, batch_uuid="b", round=0, slot=0, essay_a="x", essay_b="y",
        judge="scripted/default",
        request=JudgeRequest("", "", "i", "", essay_text(1), essay_text(2)),
    )
    with pytest.raises(BusError, match="are workers running"):
        async for _ in BusDispatcher(transport, timeout_s=0.05).dispatch([task]):
            pass


async def test_in_process_dispatcher_stores_results_before_a_crash() -> None:
    """After a crash, outcomes completed before it are still yielded, then the crash raises,
    and no new call starts."""
    runtime = get_judge("scripted")
    adapter = runtime.adapter
    adapter.enqueue(true_order_verdict, true_order_verdict)  # the third call crashes
    tasks = [
        ComparisonTask(i, "b", 0, i, "x", "y", "scripted/default",
                       JudgeRequest("", "", "i", "", essay_text(i), essay_text(i + 1)))
        for i in range(6)
    ]
    got = []
    with pytest.raises(InputError):
        async for outcome in InProcessDispatcher(runtime, concurrency=1).dispatch(tasks):
            got.append(outcome.comparison_id)
    assert got == [0, 1]
    assert len(adapter.history) == 3


def test_envelope_round_trip_and_errors() -> None:
    """Envelopes decode in two phases; unknown types and bad data are BusErrors."""
    event = BatchFailedV1(batch_uuid="u1", reason="low_success_rate", details="d")
    env = make_envelope(event)
    assert env.key == "u1" and env.schema_version == 1
    back = decode_envelope(env.model_dump_json())
    assert back.event() == event
    with pytest.raises(BusError, match="unknown event type"):
        decode_envelope({**env.model_dump(mode="json"), "event_type": "x.v9"}).event()
    bad = {**env.model_dump(mode="json"), "event_type": "cjgrade.comparison.completed.v1"}
    with pytest.raises(BusError, match="invalid"):
        decode_envelope(bad).event()
    with pytest.raises(BusError):
        decode_envelope(b"not json")
    ok = ComparisonCompletedV1(batch_uuid="u", comparison_id=3, status="failed",
                               error_code="E", error_reason="r")
    assert decode_envelope(make_envelope(ok).model_dump_json()).event() == ok
