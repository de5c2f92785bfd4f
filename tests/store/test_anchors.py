"""Anchors: grade validation against the assignment's scale, upsert, counts by scale."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cjgrade.errors import InputError
from cjgrade.store import (
    NotFound,
    Store,
    count_anchors_by_scale,
    delete_anchor,
    list_anchors,
    register_anchor,
    summarise_anchors,
    upsert_assignment,
)
from cjgrade.store.models import Anchor

ESSAY = "This is an anchor essay written for the national test; it has enough words to count."


async def _assignment(
    store: Store, aid: str = "eng5", scale: str = "eng5_np_legacy_9_step"
) -> None:
    async with store.transaction() as s:
        await upsert_assignment(
            s, aid, instructions="Instructions for the task.", grade_scale=scale
        )


async def test_register_and_upsert(store: Store) -> None:
    """Registering the same label twice updates grade and text in place (one row)."""
    await _assignment(store)
    async with store.transaction() as s:
        first, created = await register_anchor(s, "eng5", grade="B", text=ESSAY, label="B1")
    async with store.transaction() as s:
        second, created2 = await register_anchor(
            s, "eng5", grade="A", text=ESSAY + " Revised.", label="B1"
        )
    assert created and not created2
    assert second.id == first.id and second.grade == "A"
    assert second.content_id != first.content_id and second.grade_scale == "eng5_np_legacy_9_step"
    async with store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Anchor)) == 1


@pytest.mark.parametrize("grade", ["Z", "", "A+", "G", "'; DROP TABLE anchors; --"])
async def test_unknown_grade_rejected(store: Store, grade: str) -> None:
    """A grade not on the assignment's scale is refused with the valid grades listed."""
    await _assignment(store)
    with pytest.raises(InputError, match="valid grades are \\['F\\+', 'E-'"):
        async with store.transaction() as s:
            await register_anchor(s, "eng5", grade=grade, text=ESSAY)
    async with store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Anchor)) == 0


async def test_grade_stored_in_scale_spelling(store: Store) -> None:
    """A lower-case grade or a Unicode minus is stored in the scale's own spelling."""
    await _assignment(store)
    async with store.transaction() as s:
        b, _ = await register_anchor(s, "eng5", grade="b", text=ESSAY, label="B1")
        e, _ = await register_anchor(s, "eng5", grade="E\u2212", text=ESSAY + ".", label="E1")
    assert (b.grade, e.grade) == ("B", "E-")


async def test_below_lowest_grade_accepted(store: Store) -> None:
    """A scale's below-lowest grade (F on the ENG5 legacy scale) is a valid anchor grade."""
    await _assignment(store)
    async with store.transaction() as s:
        rec, _ = await register_anchor(s, "eng5", grade="F", text=ESSAY)
    assert rec.grade == "F" and rec.label.startswith("F-")


async def test_unknown_assignment_and_bad_text(store: Store) -> None:
    """Unknown assignments raise NotFound; empty and non-UTF-8 texts raise InputError."""
    await _assignment(store)
    async with store.transaction() as s:
        with pytest.raises(NotFound):
            await register_anchor(s, "ghost", grade="B", text=ESSAY)
        with pytest.raises(InputError, match="empty"):
            await register_anchor(s, "eng5", grade="B", text="  ")
        with pytest.raises(InputError, match="UTF-8"):
            await register_anchor(s, "eng5", grade="B", text=b"\xc3\x28")


async def test_counts_by_scale_and_summary(store: Store) -> None:
    """The summary counts the assignment's scale; counts_by_scale covers every scale."""
    await _assignment(store, scale="eng5_np_national_9_step")
    async with store.transaction() as s:
        for label, grade in [("n1", "1"), ("n9", "9"), ("n0", "0")]:
            await register_anchor(s, "eng5", grade=grade, text=f"{ESSAY} {label}", label=label)
    await _assignment(store, scale="eng5_np_national_9_step")
    # A row on another scale, as left by a re-scaled assignment's history.
    async with store.transaction() as s:
        s.add(
            Anchor(
                assignment_id="eng5",
                label="old",
                grade="B",
                grade_scale="swedish_8_anchor",
                content_id=(await list_anchors(s, "eng5"))[0].content_id,
            )
        )
    async with store.transaction() as s:
        summary = await summarise_anchors(s, "eng5")
        counts = await count_anchors_by_scale(s, "eng5")
    assert counts == {"eng5_np_national_9_step": 3, "swedish_8_anchor": 1}
    assert summary.anchor_count == 3 and summary.anchor_count_total == 4
    assert [a.label for a in summary.anchors] == ["n0", "n1", "n9"]


async def test_delete_anchor(store: Store) -> None:
    """delete_anchor removes one row and reports whether it existed."""
    await _assignment(store)
    async with store.transaction() as s:
        rec, _ = await register_anchor(s, "eng5", grade="B", text=ESSAY)
    async with store.transaction() as s:
        assert await delete_anchor(s, rec.id) is True
        assert await delete_anchor(s, rec.id) is False
