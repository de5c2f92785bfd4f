"""Batches: atomic creation, validation, status transitions, rounds, leases, estimates."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from cjgrade.errors import InputError, StorageError
from cjgrade.store import (
    NewEssay,
    NotFound,
    Store,
    advance_round,
    claim_batch,
    count_batches,
    create_batch,
    delete_assignment,
    get_batch,
    list_batch_essays,
    list_batches,
    list_resumable_batches,
    release_batch,
    set_batch_status,
    upsert_assignment,
)
from cjgrade.store.models import Batch, BatchEssay

ESSAYS = [NewEssay(f"s{i}", text=f"Student essay number {i}.") for i in range(3)]


async def test_create_batch_positions_and_settings(store: Store) -> None:
    """A batch stores its essays with positions in input order and its settings as JSON."""
    settings = {"judge": "sim/bt", "budget": 30, "stopping": {"target_reliability": 0.8}, "seed": 7}
    async with store.transaction() as s:
        batch = await create_batch(s, ESSAYS, settings=settings, label="pilot")
    assert uuid.UUID(batch.id).version == 4 and batch.status == "created"
    assert batch.settings == settings and batch.label == "pilot" and batch.current_round == 0
    async with store.transaction() as s:
        essays = await list_batch_essays(s, batch.id)
    assert [(e.essay_id, e.position) for e in essays] == [("s0", 0), ("s1", 1), ("s2", 2)]
    assert all(e.n_comparisons == 0 and e.theta is None for e in essays)


@pytest.mark.parametrize(
    ("essays", "kwargs", "message"),
    [
        ([*ESSAYS, NewEssay("s0", text="dup")], {}, "appears twice"),
        ([NewEssay("x", text="t", content_id="c")], {}, "either text or content_id"),
        ([NewEssay("x")], {}, "either text or content_id"),
        ([NewEssay(" ", text="t")], {}, "essay id"),
        ([NewEssay("a", text="t", is_anchor=True)], {}, "has no grade"),
        ([NewEssay("a", text="t", grade="B")], {}, "no grade scale"),
        ([NewEssay("a", text="")], {}, "empty"),
        ([NewEssay("a", text=b"\xff")], {}, "UTF-8"),
        (ESSAYS, {"settings": {"x": float("nan")}}, "plain JSON"),
        (ESSAYS, {"settings": {"x": object()}}, "plain JSON"),
        (ESSAYS, {"batch_id": "not-a-uuid"}, "not a UUID"),
        (ESSAYS, {"batch_id": str(uuid.uuid4()).upper()}, "canonical"),
    ],
)
async def test_bad_batches_write_nothing(
    store: Store, essays: list[NewEssay], kwargs: dict[str, object], message: str
) -> None:
    """Invalid essays, settings or ids raise InputError and leave no batch or essay rows."""
    with pytest.raises(InputError, match=message):
        async with store.transaction() as s:
            await create_batch(s, essays, **kwargs)  # type: ignore[arg-type]
    async with store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Batch)) == 0
        assert await s.scalar(select(func.count()).select_from(BatchEssay)) == 0


async def test_unknown_content_and_assignment(store: Store) -> None:
    """Unknown content ids and unknown assignments raise NotFound."""
    async with store.transaction() as s:
        with pytest.raises(NotFound):
            await create_batch(s, [NewEssay("a", content_id="0" * 64)])
        with pytest.raises(NotFound):
            await create_batch(s, ESSAYS, assignment_id="ghost")


async def test_assignment_batch_validates_anchor_grades(store: Store) -> None:
    """An assignment batch takes the assignment's scale and validates anchor grades on it;
    the assignment can then neither change scale nor be deleted."""
    async with store.transaction() as s:
        await upsert_assignment(
            s, "eng5", instructions="Instr.", grade_scale="eng5_np_legacy_9_step"
        )
    anchor = NewEssay("ANCHOR_1", text="An anchor.", is_anchor=True, grade="B")
    async with store.transaction() as s:
        with pytest.raises(InputError, match="not on scale"):
            await create_batch(
                s,
                [*ESSAYS, NewEssay("A2", text="x", is_anchor=True, grade="Q")],
                assignment_id="eng5",
            )
    async with store.transaction() as s:
        with pytest.raises(InputError, match="not 'swedish_8_anchor'"):
            await create_batch(s, ESSAYS, assignment_id="eng5", grade_scale="swedish_8_anchor")
    async with store.transaction() as s:
        batch = await create_batch(s, [*ESSAYS, anchor], assignment_id="eng5")
    assert batch.grade_scale == "eng5_np_legacy_9_step"
    with pytest.raises(InputError, match="cannot become"):
        async with store.transaction() as s:
            await upsert_assignment(s, "eng5", instructions="I.", grade_scale="swedish_8_anchor")
    with pytest.raises(InputError, match="cannot be deleted"):
        async with store.transaction() as s:
            await delete_assignment(s, "eng5")


async def test_status_transitions(store: Store) -> None:
    """Statuses move forward only; terminal ones set finished_at; failed needs a reason."""
    async with store.transaction() as s:
        batch = await create_batch(s, ESSAYS)
        running = await set_batch_status(s, batch.id, "running")
        again = await set_batch_status(s, batch.id, "running")
        with pytest.raises(StorageError, match="cannot go from running to completed"):
            await set_batch_status(s, batch.id, "completed")
        with pytest.raises(InputError, match="reason"):
            await set_batch_status(s, batch.id, "failed")
        await set_batch_status(s, batch.id, "finalising")
        done = await set_batch_status(s, batch.id, "completed")
        with pytest.raises(StorageError):
            await set_batch_status(s, batch.id, "running")
    assert running.status == again.status == "running" and running.finished_at is None
    assert done.terminal and done.finished_at is not None


async def test_failed_batch_keeps_reason(store: Store) -> None:
    """A failed batch records its failure reason."""
    async with store.transaction() as s:
        batch = await create_batch(s, ESSAYS)
        await set_batch_status(s, batch.id, "failed", failure_reason="judge auth rejected")
    async with store.transaction() as s:
        got = await get_batch(s, batch.id)
    assert got is not None and got.failure_reason == "judge auth rejected"


async def test_rounds_only_advance(store: Store) -> None:
    """current_round moves forward; going back is refused."""
    async with store.transaction() as s:
        batch = await create_batch(s, ESSAYS)
        await advance_round(s, batch.id, 2)
        assert (await advance_round(s, batch.id, 2)).current_round == 2
        with pytest.raises(StorageError):
            await advance_round(s, batch.id, 1)


async def test_leases(store: Store) -> None:
    """One owner holds a live lease; an expired lease can be taken over; resumable lists it."""
    async with store.transaction() as s:
        batch = await create_batch(s, ESSAYS)
        await set_batch_status(s, batch.id, "running")
    async with store.transaction() as s:
        assert await claim_batch(s, batch.id, "engine-1", ttl_s=60)
        assert await claim_batch(s, batch.id, "engine-1", ttl_s=60)  # renewal
        assert not await claim_batch(s, batch.id, "engine-2", ttl_s=60)
        assert await list_resumable_batches(s) == []
    async with store.transaction() as s:
        assert await claim_batch(s, batch.id, "engine-1", ttl_s=-1)  # expire it
        assert [b.id for b in await list_resumable_batches(s)] == [batch.id]
        assert await claim_batch(s, batch.id, "engine-2", ttl_s=60)
        assert not await release_batch(s, batch.id, "engine-1")
        assert await release_batch(s, batch.id, "engine-2")


async def test_list_batches_filters(store: Store) -> None:
    """list_batches filters by status and label."""
    async with store.transaction() as s:
        a = await create_batch(s, ESSAYS, label="a")
        b = await create_batch(s, ESSAYS, label="b")
        await set_batch_status(s, b.id, "running")
        assert [x.id for x in await list_batches(s, status="running")] == [b.id]
        assert [x.id for x in await list_batches(s, label="a")] == [a.id]
        assert {x.id for x in await list_batches(s, status=["created", "running"])} == {a.id, b.id}
        assert await count_batches(s) == 2 and await count_batches(s, status="running") == 1
