"""The admin API end to end over HTTP: instructions, prompts, rubrics, anchors, scales."""

from __future__ import annotations

import numpy as np

from .conftest import Api, anchor

INSTR = "Write an argumentative essay about school uniforms, 300-500 words."
BASE = "/admin/v1/assessment-instructions"


def instruction(assignment_id: str = "np_2017_vt", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "assignment_id": assignment_id,
        "instructions_text": INSTR,
        "grade_scale": "eng5_np_legacy_9_step",
    }
    body.update(extra)
    return body


async def test_upsert_get_list_delete_instructions(api: Api) -> None:
    """POST creates (201) then replaces (200); GET returns it; list pages; DELETE removes it."""
    async with api.client() as client:
        created = await client.post(BASE, json=instruction())
        assert created.status_code == 201, created.text
        assert created.json()["grade_scale"] == "eng5_np_legacy_9_step"
        replaced = await client.post(BASE, json=instruction(instructions_text=INSTR + " Revised."))
        assert replaced.status_code == 200
        got = await client.get(f"{BASE}/assignment/np_2017_vt")
        assert got.status_code == 200
        assert got.json()["instructions_text"].endswith("Revised.")
        assert got.json()["context_origin"] == "research_experiment"
        deleted = await client.delete(f"{BASE}/assignment/np_2017_vt")
        assert deleted.status_code == 204
        gone = await client.get(f"{BASE}/assignment/np_2017_vt")
        assert gone.status_code == 404
        assert "cjgrade admin instructions create" in gone.json()["detail"]
        again = await client.delete(f"{BASE}/assignment/np_2017_vt")
        assert again.status_code == 404


async def test_list_pages_and_filters_by_scale(api: Api, rng: np.random.Generator) -> None:
    """Paging returns {items,total,page,page_size}; grade_scale filters; page_size > 200 is 422."""
    scales = ["swedish_8_anchor", "eng5_np_national_9_step"]
    picks = rng.integers(0, 2, size=7)
    async with api.client() as client:
        for i, pick in enumerate(picks):
            body = instruction(f"a{i:02d}", grade_scale=scales[int(pick)])
            assert (await client.post(BASE, json=body)).status_code == 201
        page = (await client.get(BASE, params={"page": 2, "page_size": 3})).json()
        assert page["total"] == 7 and page["page"] == 2 and page["page_size"] == 3
        assert [item["assignment_id"] for item in page["items"]] == ["a03", "a04", "a05"]
        only = (await client.get(BASE, params={"grade_scale": scales[0]})).json()
        assert only["total"] == int((picks == 0).sum())
        assert all(item["grade_scale"] == scales[0] for item in only["items"])
        too_big = await client.get(BASE, params={"page_size": 201})
        assert too_big.status_code == 422
        assert too_big.headers["content-type"].startswith("application/problem+json")


async def test_prompts_and_rubrics_round_trip(api: Api) -> None:
    """A prompt and a rubric are stored as content, linked, and read back unchanged."""
    async with api.client() as client:
        await client.post(BASE, json=instruction())
        missing = await client.get("/admin/v1/student-prompts/assignment/np_2017_vt")
        assert missing.status_code == 404
        assert "prompts upload" in missing.json()["detail"]
        prompt = "Do pupils learn better in uniforms? Discuss.\n"
        stored = await client.post(
            "/admin/v1/student-prompts", json={"assignment_id": "np_2017_vt", "prompt_text": prompt}
        )
        assert stored.status_code == 200, stored.text
        rubric = "Judge language first, then structure, then content."
        await client.post(
            "/admin/v1/judge-rubrics", json={"assignment_id": "np_2017_vt", "rubric_text": rubric}
        )
        got_prompt = (await client.get("/admin/v1/student-prompts/assignment/np_2017_vt")).json()
        got_rubric = (await client.get("/admin/v1/judge-rubrics/assignment/np_2017_vt")).json()
        assert got_prompt["text"] == prompt
        assert got_rubric["text"] == rubric
        content = await client.get(f"/v1/content/{got_prompt['storage_id']}")
        assert content.text == prompt
        record = (await client.get(f"{BASE}/assignment/np_2017_vt")).json()
        assert record["student_prompt_storage_id"] == got_prompt["storage_id"]
        assert record["judge_rubric_storage_id"] == got_rubric["storage_id"]


async def test_prompt_for_unknown_assignment_is_404_and_writes_nothing(api: Api) -> None:
    """Uploading a prompt for an unknown assignment is a 404 and stores no content."""
    async with api.client() as client:
        response = await client.post(
            "/admin/v1/student-prompts",
            json={"assignment_id": "nope", "prompt_text": "A prompt of some length."},
        )
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]
    assert await api.count_rows("content") == 0


async def test_anchor_registration_upserts_and_counts_by_scale(api: Api) -> None:
    """Anchors register with 201, re-registering a label replaces it, counts are by scale."""
    async with api.client(role="runner") as runner, api.client() as admin:
        await admin.post(BASE, json=instruction())
        first = await runner.post(
            "/admin/v1/anchors/register",
            json=anchor("np_2017_vt", "B", "B1", "An essay."),
        )
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "registered"
        assert first.json()["grade_scale"] == "eng5_np_legacy_9_step"
        second = await runner.post(
            "/admin/v1/anchors/register",
            json=anchor("np_2017_vt", "A", "B1", "A better essay."),
        )
        assert second.status_code == 201
        assert second.json()["status"] == "updated"
        assert second.json()["anchor_id"] == first.json()["anchor_id"]
        await runner.post(
            "/admin/v1/anchors/register",
            json=anchor("np_2017_vt", "F+", "F+1", "A weak essay."),
        )
        summary = (await runner.get("/admin/v1/anchors/assignment/np_2017_vt")).json()
    assert summary["anchor_count"] == 2
    assert summary["anchor_count_total"] == 2
    assert summary["anchor_count_by_scale"] == {"eng5_np_legacy_9_step": 2}
    by_label = {a["anchor_label"]: a for a in summary["anchors"]}
    assert by_label["B1"]["grade"] == "A"
    assert await api.count_rows("anchors") == 2


async def test_unknown_grade_is_422_listing_valid_grades_and_writes_nothing(api: Api) -> None:
    """A grade not on the assignment's scale is refused with the valid grades, no rows written."""
    async with api.client() as client:
        await client.post(BASE, json=instruction())
        content_before = await api.count_rows("content")
        response = await client.post(
            "/admin/v1/anchors/register",
            json=anchor("np_2017_vt", "Z", "Z1", "An essay never stored."),
        )
    assert response.status_code == 422
    assert "'Z'" in response.json()["detail"] and "F+" in response.json()["detail"]
    assert await api.count_rows("anchors") == 0
    assert await api.count_rows("content") == content_before


async def test_anchors_of_unknown_assignment_are_404(api: Api) -> None:
    """Registering or listing anchors of an unknown assignment is 404 with a hint to create it."""
    async with api.client() as client:
        listed = await client.get("/admin/v1/anchors/assignment/ghost")
        registered = await client.post(
            "/admin/v1/anchors/register",
            json={"assignment_id": "ghost", "grade": "A", "anchor_label": "A1", "essay_text": "x"},
        )
    for response in (listed, registered):
        assert response.status_code == 404
        assert "instructions create" in response.json()["detail"]


async def test_scale_change_is_refused_once_anchors_exist(api: Api) -> None:
    """Changing the scale of an assignment with anchors is a 409; nothing changes."""
    async with api.client() as client:
        await client.post(BASE, json=instruction())
        await client.post(
            "/admin/v1/anchors/register",
            json=anchor("np_2017_vt", "B", "B1", "Essay."),
        )
        response = await client.post(BASE, json=instruction(grade_scale="swedish_8_anchor"))
        assert response.status_code == 409
        assert "cannot become" in response.json()["detail"]
        still = (await client.get(f"{BASE}/assignment/np_2017_vt")).json()
    assert still["grade_scale"] == "eng5_np_legacy_9_step"


async def test_scales_list_has_the_builtin_scales(api: Api) -> None:
    """GET /admin/v1/scales lists at least the three built-in scales with ordered grades."""
    async with api.client(role="read") as client:
        scales = {s["scale_id"]: s for s in (await client.get("/admin/v1/scales")).json()}
    assert {"swedish_8_anchor", "eng5_np_legacy_9_step", "eng5_np_national_9_step"} <= set(scales)
    assert scales["swedish_8_anchor"]["grades"][0] == "F"
    assert scales["swedish_8_anchor"]["grades"][-1] == "A"
    assert scales["eng5_np_national_9_step"]["below_lowest_grade"] == "0"


async def test_unknown_grade_scale_is_422(api: Api) -> None:
    """An assignment on a scale that does not exist is refused, nothing written."""
    async with api.client() as client:
        response = await client.post(BASE, json=instruction(grade_scale="no_such_scale"))
    assert response.status_code == 422
    assert "no_such_scale" in response.json()["detail"]
    assert await api.count_rows("assignments") == 0
    assert await api.count_rows("content") == 0


async def test_name_is_unique_and_found_by_the_name_filter(api: Api) -> None:
    """A name (slug) finds the assignment through `?name=`, never in place of an id; giving
    another assignment the same name is a 409."""
    async with api.client() as client:
        await client.post(BASE, json=instruction("uuid-1", name="np_2017_vt_slug"))
        by_name = await client.get(BASE, params={"name": "np_2017_vt_slug"})
        as_id = await client.get(f"{BASE}/assignment/np_2017_vt_slug")
        clash = await client.post(BASE, json=instruction("uuid-2", name="np_2017_vt_slug"))
    assert by_name.status_code == 200 and by_name.json()["total"] == 1
    assert by_name.json()["items"][0]["assignment_id"] == "uuid-1"
    assert as_id.status_code == 404 and "'uuid-1'" in as_id.json()["detail"]
    assert clash.status_code == 409 and "already used" in clash.json()["detail"]
    assert await api.count_rows("assignments") == 1


async def test_routes_resolve_ids_never_names(api: Api) -> None:
    """Issue 14: `np1`, then `other1` named `np1`; DELETE .../assignment/np1 twice is 204 then
    404, and `other1` and its anchors survive. Every route that takes an assignment (path or
    body) resolves the id only."""
    async with api.client() as client:
        assert (await client.post(BASE, json=instruction("np1"))).status_code == 201
        assert (await client.post(BASE, json=instruction("other1", name="np1"))).status_code == 201
        registered = await client.post(
            "/admin/v1/anchors/register", json=anchor("other1", "A", "A1", "An anchor essay.")
        )
        assert registered.status_code == 201, registered.text
        first = await client.delete(f"{BASE}/assignment/np1")
        second = await client.delete(f"{BASE}/assignment/np1")
        assert first.status_code == 204
        assert second.status_code == 404 and "other1" in second.json()["detail"]
        for path in (
            f"{BASE}/assignment/np1",
            "/admin/v1/anchors/assignment/np1",
            "/admin/v1/student-prompts/assignment/np1",
            "/admin/v1/judge-rubrics/assignment/np1",
        ):
            assert (await client.get(path)).status_code == 404, path
        for path, body in (
            ("/admin/v1/student-prompts", {"assignment_id": "np1", "prompt_text": "P" * 20}),
            ("/admin/v1/judge-rubrics", {"assignment_id": "np1", "rubric_text": "R" * 20}),
            ("/admin/v1/anchors/register", anchor("np1", "A", "A2", "An anchor essay.")),
        ):
            assert (await client.post(path, json=body)).status_code == 404, path
        survivor = await client.get(f"{BASE}/assignment/other1")
    assert survivor.status_code == 200 and survivor.json()["name"] == "np1"
    assert await api.count_rows("assignments") == 1
    assert await api.count_rows("anchors") == 1


async def test_prompt_linked_by_storage_id_in_the_upsert(api: Api) -> None:
    """An uploaded text can be linked as the student prompt in the same upsert; a text shorter
    than the prompt minimum is refused."""
    async with api.client() as client:
        prompt = "Discuss school uniforms in 300 words."
        storage_id = (await client.post("/v1/content", content=prompt.encode())).json()
        created = await client.post(
            BASE, json=instruction(student_prompt_storage_id=storage_id["storage_id"])
        )
        short_id = (await client.post("/v1/content", content=b"short")).json()["storage_id"]
        short = await client.post(
            BASE, json=instruction("other", student_prompt_storage_id=short_id)
        )
        got = (await client.get("/admin/v1/student-prompts/assignment/np_2017_vt")).json()
    assert created.status_code == 201
    assert got["text"] == prompt
    assert short.status_code == 422 and "at least 10" in short.json()["detail"]


async def test_concurrent_upserts_of_one_assignment_never_fail_with_500(api: Api) -> None:
    """Eight simultaneous creates of the same assignment: one 201, the rest 200 (replaced) or
    409 (lost the race, nothing written); never a 5xx; exactly one row."""
    import asyncio

    async with api.client() as client:
        responses = await asyncio.gather(
            *(client.post(BASE, json=instruction("raced", name=f"n{i}")) for i in range(8))
        )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1, codes
    assert set(codes) <= {200, 201, 409}, [r.text for r in responses]
    assert await api.count_rows("assignments") == 1


async def test_grades_are_stored_in_the_scales_own_spelling(api: Api) -> None:
    """A lower-case grade or a Unicode minus is accepted and stored as the scale spells it."""
    async with api.client() as client:
        await client.post(BASE, json=instruction())
        for label, grade in (("b1", "b"), ("e1", "E\u2212")):
            response = await client.post(
                "/admin/v1/anchors/register",
                json=anchor("np_2017_vt", grade, label, "Essay."),
            )
            assert response.status_code == 201, response.text
        anchors = (await client.get("/admin/v1/anchors/assignment/np_2017_vt")).json()
    assert {a["anchor_label"]: a["grade"] for a in anchors["anchors"]} == {"b1": "B", "e1": "E-"}


async def test_deleting_an_assignment_that_batches_use_is_409(api: Api) -> None:
    """DELETE of an assignment a batch references is a 409 conflict problem; it stays."""
    from cjgrade.store import NewEssay, create_batch

    async with api.client() as client:
        await client.post(BASE, json=instruction())
        async with api.store.transaction() as session:
            await create_batch(
                session, [NewEssay("e1", text="An essay.")], assignment_id="np_2017_vt"
            )
        response = await client.delete(f"{BASE}/assignment/np_2017_vt")
        assert response.status_code == 409
        assert response.json()["type"].endswith("/conflict")
        assert "used by 1 batch" in response.json()["detail"]
        assert (await client.get(f"{BASE}/assignment/np_2017_vt")).status_code == 200
