"""The in-process dispatcher after a crash; event envelopes. (Remote workers over a transport:
``tests/distributed/test_in_process.py``.)"""

from __future__ import annotations

import pytest

from cjgrade.bus import BatchFailedV1, ComparisonCompletedV1, decode_envelope, make_envelope
from cjgrade.engine.dispatch import ComparisonTask, InProcessDispatcher
from cjgrade.errors import BusError, InputError
from cjgrade.judges import get_judge
from cjgrade.judges.base import JudgeRequest

from .conftest import essay_text, true_order_verdict


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
