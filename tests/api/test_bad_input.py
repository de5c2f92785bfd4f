"""Bad input gets a clear 4xx problem+json and leaves nothing half-written."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.store.fixtures import needs_scales

from .conftest import Api, start_api

BASE = "/admin/v1/assessment-instructions"
INSTR = "Write an argumentative essay about school uniforms."


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


async def test_content_round_trip_is_sha256_addressed(api: Api) -> None:
    """POST /v1/content returns the SHA-256 of the bytes; the same text twice gives one row."""
    text = "Ett prov på svenska – with UTF-8 ✓\n"
    async with api.client(role="runner") as client:
        first = await client.post("/v1/content", content=text.encode("utf-8"))
        second = await client.post("/v1/content", content=text.encode("utf-8"))
        fetched = await client.get(f"/v1/content/{first.json()['storage_id']}")
    assert first.status_code == second.status_code == 201
    assert first.json()["storage_id"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert second.json() == first.json()
    assert fetched.text == text
    assert fetched.headers["content-type"].startswith("text/plain")
    assert await api.count_rows("content") == 1


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"\xff\xfe bad", "not valid UTF-8"),
        (b"", "empty"),
        (b" \n\t", "empty"),
        (b"nul\x00inside", "NUL"),
    ],
)
async def test_bad_content_is_422(api: Api, payload: bytes, fragment: str) -> None:
    """Non-UTF-8, empty, blank and NUL-containing uploads are refused and not stored."""
    async with api.client() as client:
        response = await client.post("/v1/content", content=payload)
    assert fragment in assert_problem(response, 422)["detail"]
    assert await api.count_rows("content") == 0


async def test_unknown_content_is_404_and_bad_id_is_422(api: Api) -> None:
    """An unknown id is 404; something that is not a SHA-256 hex is 422."""
    async with api.client(role="read") as client:
        assert_problem(await client.get("/v1/content/" + "a" * 64), 404)
        assert_problem(await client.get("/v1/content/not-a-hash"), 422)


@pytest.fixture
async def small_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with a 2 KiB body limit and an admin token."""
    from cjgrade.store import create_token

    app, context = await start_api(database_url, tmp_path, max_body_bytes=2048)
    try:
        async with app.state.store.transaction() as session:
            _, secret = await create_token(session, "t", "admin")
        yield Api(app=app, store=app.state.store, tokens={"admin": secret})
    finally:
        await context.__aexit__(None, None, None)


async def test_oversized_bodies_are_413_declared_or_streamed(small_api: Api) -> None:
    """A body over the limit is 413, whether Content-Length declares it or it is streamed."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 512

    async with small_api.client() as client:
        declared = await client.post("/v1/content", content=b"x" * 4096)
        streamed = await client.post("/v1/content", content=chunks())
        json_body = await client.post(
            BASE,
            json={"assignment_id": "a", "instructions_text": "x" * 5000, "grade_scale": "s"},
        )
        fits = await client.post("/v1/content", content=b"y" * 1000)
    for response in (declared, streamed, json_body):
        assert "exceeds the limit of 2048 bytes" in assert_problem(response, 413)["detail"]
    assert fits.status_code == 201
    assert await small_api.count_rows("content") == 1
    assert await small_api.count_rows("assignments") == 0


@needs_scales
@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            {
                "assignment_id": "a1",
                "instructions_text": "too short",
                "grade_scale": "swedish_8_anchor",
            },
            "instructions_text",
        ),
        (
            {
                "assignment_id": "a1",
                "instructions_text": "         \n          ",
                "grade_scale": "swedish_8_anchor",
            },
            "instructions_text",
        ),
        (
            {
                "assignment_id": "a1",
                "instructions_text": 12345678901,
                "grade_scale": "swedish_8_anchor",
            },
            "instructions_text",
        ),
        (
            {"assignment_id": "a/1", "instructions_text": INSTR, "grade_scale": "swedish_8_anchor"},
            "assignment_id",
        ),
        (
            {
                "assignment_id": "x" * 101,
                "instructions_text": INSTR,
                "grade_scale": "swedish_8_anchor",
            },
            "assignment_id",
        ),
        (
            {
                "assignment_id": "a1",
                "instructions_text": INSTR,
                "grade_scale": "swedish_8_anchor",
                "context_origin": "national",
            },
            "context_origin",
        ),
        (
            {
                "assignment_id": "a1",
                "instructions_text": INSTR,
                "grade_scale": "swedish_8_anchor",
                "surprise": 1,
            },
            "surprise",
        ),
        ({"instructions_text": INSTR, "grade_scale": "swedish_8_anchor"}, "assignment_id"),
        (
            {
                "assignment_id": "a1",
                "instructions_text": INSTR,
                "grade_scale": "swedish_8_anchor",
                "student_prompt_storage_id": "f" * 64,
            },
            "student_prompt_storage_id",
        ),
    ],
)
async def test_invalid_instructions_are_422_naming_the_field(
    api: Api, body: dict[str, object], where: str
) -> None:
    """Wrong types, short or blank texts, bad ids, unknown fields: 422 naming the field."""
    async with api.client() as client:
        response = await client.post(BASE, json=body)
    assert where in assert_problem(response, 422)["detail"]
    assert await api.count_rows("assignments") == 0
    assert await api.count_rows("content") == 0


async def test_malformed_json_and_wrong_media_type_are_4xx(api: Api) -> None:
    """A body that is not JSON is a 4xx problem, not a 500."""
    async with api.client() as client:
        broken = await client.post(
            BASE, content=b'{"assignment_id": ', headers={"Content-Type": "application/json"}
        )
        array = await client.post(BASE, json=[1, 2, 3])
    assert_problem(broken, 422)
    assert_problem(array, 422)


@needs_scales
@pytest.mark.parametrize("essay", ["   ", "", "\n\t "], ids=["spaces", "empty", "whitespace"])
async def test_blank_anchor_essay_is_422(api: Api, essay: str) -> None:
    """An anchor essay needs at least one non-whitespace character."""
    async with api.client() as client:
        await client.post(
            BASE,
            json={
                "assignment_id": "a1",
                "instructions_text": INSTR,
                "grade_scale": "swedish_8_anchor",
            },
        )
        response = await client.post(
            "/admin/v1/anchors/register",
            json={"assignment_id": "a1", "grade": "A", "anchor_label": "A1", "essay_text": essay},
        )
    assert "essay_text" in assert_problem(response, 422)["detail"]
    assert await api.count_rows("anchors") == 0


SQLISH = [
    "x'; DROP TABLE assignments; --",
    "1 OR 1=1",
    'Robert"); DELETE FROM anchors; --',
]


@needs_scales
@pytest.mark.parametrize("evil", SQLISH)
async def test_sql_looking_strings_are_data_not_code(api: Api, evil: str) -> None:
    """SQL fragments in ids are refused by the id rule; in texts, labels and filters they are
    stored and returned verbatim, and the tables survive."""
    async with api.client() as client:
        bad_id = await client.post(
            BASE,
            json={
                "assignment_id": evil,
                "instructions_text": INSTR,
                "grade_scale": "swedish_8_anchor",
            },
        )
        assert_problem(bad_id, 422)
        ok = await client.post(
            BASE,
            json={
                "assignment_id": "a1",
                "instructions_text": f"{INSTR} {evil}",
                "grade_scale": "swedish_8_anchor",
                "name": evil,
            },
        )
        assert ok.status_code == 201, ok.text
        anchor = await client.post(
            "/admin/v1/anchors/register",
            json={"assignment_id": "a1", "grade": "A", "anchor_label": evil, "essay_text": evil},
        )
        assert anchor.status_code == 201, anchor.text
        filtered = await client.get(BASE, params={"grade_scale": evil})
        assert filtered.json()["total"] == 0
        got = (await client.get(f"{BASE}/assignment/a1")).json()
        anchors = (await client.get("/admin/v1/anchors/assignment/a1")).json()
    assert got["name"] == evil and got["instructions_text"].endswith(evil)
    assert anchors["anchors"][0]["anchor_label"] == evil
    assert await api.count_rows("assignments") == 1
    assert await api.count_rows("anchors") == 1


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    """An unknown path is 404 and a wrong method 405, both problem+json."""
    async with api.client() as client:
        assert_problem(await client.get("/admin/v1/nothing-here"), 404)
        assert_problem(await client.put("/admin/v1/scales"), 405)
