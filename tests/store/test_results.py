"""Round fits and grade projections: replace on redo, validation of numbers."""

from __future__ import annotations

import pytest

from cjgrade.errors import InputError
from cjgrade.store import (
    GradeProjectionRecord,
    NewEssay,
    RoundMetrics,
    Store,
    create_batch,
    get_latest_fit,
    list_grade_projections,
    list_round_fits,
    save_grade_projections,
    save_round_fit,
)


async def _batch(store: Store) -> str:
    async with store.transaction() as s:
        return (await create_batch(s, [NewEssay("a", text="A"), NewEssay("b", text="B")])).id


async def test_round_fit_replaced_on_redo(store: Store) -> None:
    """Saving a round's fit twice keeps one row with the newer values."""
    bid = await _batch(store)
    async with store.transaction() as s:
        await save_round_fit(
            s, bid, 1, theta={"a": 0.5, "b": -0.5}, se={"a": 1, "b": 1}, n_comparisons=4, ssr=0.3
        )
        await save_round_fit(
            s,
            bid,
            1,
            theta={"a": 0.7, "b": -0.7},
            se={"a": 0.9, "b": 0.9},
            n_comparisons=4,
            ssr=0.4,
            metrics=RoundMetrics(reliability=0.6, judges=("sim/bt",)),
        )
        await save_round_fit(
            s,
            bid,
            2,
            theta={"a": 0.8, "b": -0.8},
            se={"a": 0.5, "b": 0.5},
            n_comparisons=8,
            ssr=0.81,
            stop=True,
            stop_reason="target_reliability",
        )
    async with store.transaction() as s:
        fits = await list_round_fits(s, bid)
        latest = await get_latest_fit(s, bid)
    assert [(f.round, f.ssr) for f in fits] == [(1, 0.4), (2, 0.81)]
    assert fits[0].theta == {"a": 0.7, "b": -0.7} and fits[0].metrics == RoundMetrics(
        reliability=0.6, judges=("sim/bt",))
    assert fits[1].metrics == RoundMetrics()
    assert latest is not None and latest.stop and latest.stop_reason == "target_reliability"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"theta": {"a": float("nan")}},
        {"se": {"a": float("inf")}},
        {"ssr": float("nan")},
        {"metrics": RoundMetrics(reliability=float("nan"))},
    ],
)
async def test_non_finite_fit_refused(store: Store, kwargs: dict[str, object]) -> None:
    """NaN or infinite estimates are refused instead of being stored."""
    bid = await _batch(store)
    args: dict[str, object] = {"theta": {"a": 0.0}, "se": {"a": 1.0}, "n_comparisons": 1}
    args.update(kwargs)
    async with store.transaction() as s:
        with pytest.raises(InputError):
            await save_round_fit(s, bid, 1, **args)  # type: ignore[arg-type]


async def test_projections_upsert_and_validation(store: Store) -> None:
    """Projections are replaced per essay; probabilities must sum to one."""
    bid = await _batch(store)
    p1 = GradeProjectionRecord("a", "swedish_8_anchor", {"B": 0.7, "A": 0.3}, "B", 6.3, 0.6, "MID")
    p2 = GradeProjectionRecord("a", "swedish_8_anchor", {"B": 0.4, "A": 0.6}, "A", 6.6, 0.5, "MID")
    async with store.transaction() as s:
        await save_grade_projections(s, bid, [p1])
        await save_grade_projections(s, bid, [p2])
        with pytest.raises(InputError, match="sum to"):
            await save_grade_projections(s, bid, [GradeProjectionRecord("b", "s", {"A": 0.5}, "A")])
        with pytest.raises(InputError, match="no probability"):
            await save_grade_projections(s, bid, [GradeProjectionRecord("b", "s", {"A": 1.0}, "B")])
        stored = await list_grade_projections(s, bid)
    assert stored == [p2]
