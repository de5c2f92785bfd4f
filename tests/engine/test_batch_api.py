"""Provider batch APIs as the engine's dispatcher, against the local fake OpenAI API (official
SDK): a round is one provider batch, partial results are stored, and a resumed run re-attaches
to the stored batch instead of submitting it again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from cjgrade.engine.batch_api import HANDLE_CODE, BatchApiDispatcher
from cjgrade.engine.ledger import BatchLedger
from cjgrade.engine.loop import BatchEngine
from cjgrade.errors import JudgeUnavailable
from cjgrade.judges.batch_openai import create_batch_judge
from cjgrade.judges.clock import ManualClock
from cjgrade.judges.manifest import load_manifest
from cjgrade.store import Store
from tests.judges.fakes.openai_api import VALID_KEY, FakeOpenAI, completion_body, verdict_json

from .conftest import make_spec

GPT5 = load_manifest().resolve("openai/gpt-5-mini")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def dispatcher(fake: FakeOpenAI, store: Store, **kwargs: Any) -> BatchApiDispatcher:
    judge = create_batch_judge(GPT5, api_key=VALID_KEY, base_url=f"{fake.url}/v1")
    return BatchApiDispatcher(judge, BatchLedger(store), poll_interval=5.0, clock=ManualClock(),
                              **kwargs)


def submitted_ids(fake: FakeOpenAI) -> list[list[str]]:
    """The custom ids of every batch the fake received, in submission order."""
    return [[line["custom_id"] for line in b["lines"]] for b in fake.batches.values()]


def spec() -> Any:
    return replace(make_spec(n_students=8, budget=16, target_reliability=None,
                             stability_threshold=None), judge="openai/gpt-5-mini")


async def test_each_round_is_one_provider_batch(store: Store, fake: FakeOpenAI) -> None:
    """Two rounds of 8 are two provider batches of 8; every verdict is flagged batch_api and
    priced (half price); nothing is sent twice."""
    engine = BatchEngine(store, dispatcher(fake, store))
    result = await engine.run(await engine.create(spec()))
    assert result.status == "completed" and len(result.comparisons) == 16
    batches = submitted_ids(fake)
    assert [len(b) for b in batches] == [8, 8]
    assert sorted(i for b in batches for i in b) == sorted(
        f"c{c.id}" for c in result.comparisons)
    assert all("batch_api" in c.flags for c in result.comparisons)
    assert result.total_cost_usd is not None and result.total_cost_usd > 0
    assert not any(c.error_code for c in result.comparisons)


async def test_resume_reattaches_to_the_stored_provider_batch(
    store: Store, fake: FakeOpenAI
) -> None:
    """Polling gives up while the provider is still working: the run stops with the round
    pending and the handle stored. The resumed run polls the same provider batch (no second
    submission of those comparisons) and completes the budget."""
    fake.polls_before_end = 2
    first = BatchEngine(store, dispatcher(fake, store, max_wait=0.0))
    uid = await first.create(spec())
    with pytest.raises(JudgeUnavailable, match="poll it again later"):
        await first.run(uid)
    ledger = BatchLedger(store)
    pending = await ledger.comparisons(uid)
    assert len(pending) == 8 and all(c.status == "pending" for c in pending)
    notes = [c.pending_note for c in pending]
    assert all(n is not None and n.code == HANDLE_CODE and n.detail for n in notes)
    stored = json.loads(notes[0].detail)  # type: ignore[union-attr,arg-type]
    assert len(fake.batches) == 1 and stored["batch_id"] in fake.batches

    resumed_dispatcher = dispatcher(fake, store)
    result = await BatchEngine(store, resumed_dispatcher).run(uid)
    assert result.status == "completed" and len(result.comparisons) == 16
    assert resumed_dispatcher.submitted == 1  # only round 2; round 1 was re-attached
    ids = [i for b in submitted_ids(fake) for i in b]
    assert len(ids) == len(set(ids)) == 16


async def test_partial_results_fail_only_their_comparisons(
    store: Store, fake: FakeOpenAI
) -> None:
    """Requests the provider failed or never ran become failed comparisons with the
    provider's reason; the rest of the round is stored as verdicts."""
    def outcome(cid: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        number = int(cid[1:])
        if number % 4 == 1:
            return 500, {"error": {"message": "server melted", "type": "server_error",
                                   "code": None}}
        if number % 4 == 2:
            return None  # expired before it ran
        return 200, completion_body(verdict_json("B", 4), model=body["model"])

    fake.batch_outcome = outcome
    s = spec()
    s = replace(s, options=s.options.model_copy(update={"min_success_rate": 0.2}))
    engine = BatchEngine(store, dispatcher(fake, store))
    result = await engine.run(await engine.create(s))
    failed = {c.id: c for c in result.comparisons if c.status == "failed"}
    assert set(failed) == {c.id for c in result.comparisons
                           if c.id % 4 in (1, 2)}
    assert all(c.error_reason for c in failed.values())
    assert any("returned no result" in (c.error_reason or "") for c in failed.values())
    assert all(c.winner == "B" for c in result.comparisons if c.status == "succeeded")
