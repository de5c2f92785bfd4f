"""Assignments: upsert, lookup by id (by name only explicitly), paging, scale immutability,
rubric overrides."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cjgrade.errors import ConflictError, InputError
from cjgrade.store import (
    NotFound,
    Store,
    check_rubric_override,
    delete_assignment,
    get_assignment,
    get_assignment_by_name,
    list_assignments,
    register_anchor,
    require_assignment,
    set_judge_rubric,
    set_student_prompt,
    upsert_assignment,
)
from cjgrade.store.models import Anchor, Assignment, Content

UUID_ID = "00000000-0000-0000-0000-000000000052"
INSTRUCTIONS = "Write an argumentative essay about school uniforms."
ESSAY = "An anchor essay text that is long enough to be a realistic example of student work."


async def _create(store: Store, aid: str = UUID_ID, **kw: object) -> None:
    args: dict[str, object] = {"instructions": INSTRUCTIONS, "grade_scale": "swedish_8_anchor"}
    args.update(kw)
    async with store.transaction() as s:
        await upsert_assignment(s, aid, **args)  # type: ignore[arg-type]


async def test_create_then_update_keeps_prompt(store: Store) -> None:
    """Upsert creates, then updates in place; an omitted prompt keeps the stored one."""
    async with store.transaction() as s:
        rec, created = await upsert_assignment(
            s,
            UUID_ID,
            instructions=INSTRUCTIONS,
            grade_scale="eng5_np_legacy_9_step",
            name="np_2017_vt",
            student_prompt="Discuss uniforms.",
            judge_rubric="Language first.",
        )
    assert created and rec.student_prompt == "Discuss uniforms." and rec.name == "np_2017_vt"
    async with store.transaction() as s:
        rec2, created2 = await upsert_assignment(
            s, UUID_ID, instructions="New instructions text.", grade_scale="eng5_np_legacy_9_step"
        )
    assert not created2
    assert rec2.instructions == "New instructions text."
    assert rec2.student_prompt == "Discuss uniforms." and rec2.judge_rubric == "Language first."
    assert rec2.name == "np_2017_vt" and rec2.created_at == rec.created_at
    assert rec2.updated_at >= rec.updated_at


async def test_lookup_by_slug(store: Store) -> None:
    """An assignment is found by its id; its name (slug) finds it only through the explicit
    name lookups, and an id lookup with a name fails with a message naming the id to use."""
    await _create(store, name="np_2017_vt")
    async with store.transaction() as s:
        by_id = await get_assignment(s, UUID_ID)
        by_slug = await get_assignment_by_name(s, "np_2017_vt")
        listed, total = await list_assignments(s, name="np_2017_vt")
        assert await get_assignment(s, "np_2017_vt") is None
        with pytest.raises(NotFound, match=f"name of assignment '{UUID_ID}'; use its id"):
            await require_assignment(s, "np_2017_vt")
        missing = await get_assignment(s, "nope")
    assert by_slug == by_id and by_slug is not None and by_slug.id == UUID_ID
    assert [r.id for r in listed] == [UUID_ID] and total == 1
    assert missing is None


async def test_a_name_equal_to_another_id_never_resolves_to_it(store: Store) -> None:
    """Issue 14: with `np1` and `other1` named `np1`, deleting `np1` twice deletes `np1` once
    and then nothing; `other1` and its anchors stay. Every id lookup ignores names."""
    await _create(store, "np1")
    await _create(store, "other1", name="np1")
    async with store.transaction() as s:
        await register_anchor(s, "other1", grade="A", text=ESSAY, label="A1")
    for expected in (True, False):
        async with store.transaction() as s:
            assert await delete_assignment(s, "np1") is expected
    async with store.transaction() as s:
        survivor = await get_assignment(s, "other1")
        assert await get_assignment(s, "np1") is None
        with pytest.raises(NotFound):
            await set_student_prompt(s, "np1", "A prompt that is long enough.")
        with pytest.raises(NotFound):
            await register_anchor(s, "np1", grade="A", text=ESSAY, label="A2")
        assert await s.scalar(select(func.count()).select_from(Anchor)) == 1
    assert survivor is not None and survivor.name == "np1"


async def test_unknown_assignment_message_names_command(store: Store) -> None:
    """require_assignment raises NotFound telling the user how to create it."""
    async with store.transaction() as s:
        with pytest.raises(NotFound, match="cjgrade admin instructions create"):
            await require_assignment(s, "ghost")
        with pytest.raises(NotFound):
            await set_student_prompt(s, "ghost", "A prompt text.")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grade_scale": "no_such_scale"}, "unknown grade scale"),
        ({"context_origin": "made_up"}, "context origin"),
        ({"instructions": ""}, "instructions is empty"),
        ({"instructions": b"\xff\xfe bad"}, "not valid UTF-8"),
        ({"name": "  "}, "blank"),
    ],
)
async def test_bad_input_writes_nothing(
    store: Store, kwargs: dict[str, object], message: str
) -> None:
    """Unknown scale/origin, empty or non-UTF-8 text: InputError and no rows."""
    with pytest.raises(InputError, match=message):
        await _create(store, **kwargs)
    async with store.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Assignment)) == 0
        assert await s.scalar(select(func.count()).select_from(Content)) == 0


@pytest.mark.parametrize("bad_id", ["", "has space", "x" * 101, "'; DROP TABLE assignments;--"])
async def test_invalid_assignment_id(store: Store, bad_id: str) -> None:
    """Ids outside 1-100 safe characters are refused."""
    with pytest.raises(InputError, match="assignment id"):
        await _create(store, bad_id)


async def test_sql_looking_texts_verbatim(store: Store) -> None:
    """SQL-looking instructions and names are stored and returned verbatim."""
    evil = "Robert'); DROP TABLE assignments; -- and \" OR 1=1"
    await _create(store, "slug-1", instructions=evil, name=evil)
    async with store.transaction() as s:
        rec = await require_assignment(s, "slug-1")
        assert (rec.instructions, rec.name) == (evil, evil)
        assert await s.scalar(select(func.count()).select_from(Assignment)) == 1


async def test_scale_change_refused_once_anchors_exist(store: Store) -> None:
    """The grade scale may change while unused and is frozen once an anchor references it."""
    await _create(store)
    await _create(store, grade_scale="eng5_np_legacy_9_step")  # unused: allowed
    async with store.transaction() as s:
        await register_anchor(s, UUID_ID, grade="B", text=ESSAY, label="B1")
    with pytest.raises(ConflictError, match="cannot become 'swedish_8_anchor'"):
        await _create(store, grade_scale="swedish_8_anchor")
    async with store.transaction() as s:
        rec = await require_assignment(s, UUID_ID)
    assert rec.grade_scale == "eng5_np_legacy_9_step"


async def test_duplicate_name_refused(store: Store) -> None:
    """Two assignments cannot share a name (slug): a ConflictError."""
    await _create(store, "a1", name="np_2017_vt")
    with pytest.raises(ConflictError, match="already used"):
        await _create(store, "a2", name="np_2017_vt")


async def test_list_paging_and_scale_filter(store: Store) -> None:
    """Listing pages by id and filters by grade scale; totals count the filtered set."""
    for i in range(5):
        scale = "swedish_8_anchor" if i % 2 == 0 else "eng5_np_national_9_step"
        await _create(store, f"a{i}", grade_scale=scale)
    async with store.transaction() as s:
        page, total = await list_assignments(s, page=2, page_size=2)
        sw, sw_total = await list_assignments(s, grade_scale="swedish_8_anchor")
        with pytest.raises(InputError):
            await list_assignments(s, page_size=201)
    assert [r.id for r in page] == ["a2", "a3"] and total == 5
    assert [r.id for r in sw] == ["a0", "a2", "a4"] and sw_total == 3


async def test_prompt_and_rubric_setters(store: Store) -> None:
    """Prompts and rubrics are stored as content and linked to the assignment (by id)."""
    await _create(store, name="np_2017_vt")
    async with store.transaction() as s:
        await set_student_prompt(s, UUID_ID, "Write about your summer.")
        rec = await set_judge_rubric(s, UUID_ID, b"Judge language quality.")
    assert rec.student_prompt == "Write about your summer."
    assert rec.judge_rubric == "Judge language quality." and rec.judge_rubric_id


async def test_delete_cascades_to_anchors(store: Store) -> None:
    """Deleting an assignment removes its anchors; its name deletes nothing; deleting again
    reports nothing deleted."""
    await _create(store, name="np_2017_vt")
    async with store.transaction() as s:
        await register_anchor(s, UUID_ID, grade="A", text=ESSAY, label="A1")
    async with store.transaction() as s:
        assert await delete_assignment(s, "np_2017_vt") is False  # a name, not an id
        assert await delete_assignment(s, UUID_ID) is True
    async with store.transaction() as s:
        assert await delete_assignment(s, UUID_ID) is False
        assert await get_assignment(s, UUID_ID) is None
        assert await s.scalar(select(func.count()).select_from(Anchor)) == 0


async def test_canonical_assignment_refuses_rubric_override(store: Store) -> None:
    """canonical_national refuses a rubric override; research and no-assignment accept it."""
    await _create(store, "canon", context_origin="canonical_national")
    await _create(store, "research")
    async with store.transaction() as s:
        canon = await require_assignment(s, "canon")
        research = await require_assignment(s, "research")
    with pytest.raises(InputError, match="canonical_national"):
        check_rubric_override(canon, "my own rubric")
    check_rubric_override(canon, None)
    check_rubric_override(research, "my own rubric")
    check_rubric_override(None, "my own rubric")


async def test_batches_lock_the_scale_and_refuse_deletion(store: Store) -> None:
    """Once a batch references an assignment (no anchors), its grade scale cannot change and
    it cannot be deleted: both ConflictError, nothing changes."""
    from cjgrade.store import NewEssay, create_batch

    await _create(store)
    async with store.transaction() as s:
        await create_batch(s, [NewEssay("e1", text="essay one")], assignment_id=UUID_ID)
    with pytest.raises(ConflictError, match="0 anchor\\(s\\) and 1 batch"):
        await _create(store, grade_scale="eng5_np_legacy_9_step")
    with pytest.raises(ConflictError, match="used by 1 batch"):
        async with store.transaction() as s:
            await delete_assignment(s, UUID_ID)
    async with store.transaction() as s:
        record = await get_assignment(s, UUID_ID)
    assert record is not None and record.grade_scale == "swedish_8_anchor"
