"""Bad input gets a clear 4xx problem+json and leaves nothing half-written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .conftest import Api, anchor, start_api

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


BAD_CONTENT = [
    (b"\xff\xfe bad", "not valid UTF-8"),
    (b"", "empty"),
    (b" \n\t", "empty"),
    (b"nul\x00inside", "NUL"),
]


async def test_bad_content_is_422(api: Api) -> None:
    """Non-UTF-8, empty, blank and NUL-containing uploads are refused and not stored."""
    async with api.client() as client:
        for payload, fragment in BAD_CONTENT:
            response = await client.post("/v1/content", content=payload)
            assert fragment in assert_problem(response, 422)["detail"], payload
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


def with_valid(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "assignment_id": "a1",
        "instructions_text": INSTR,
        "grade_scale": "swedish_8_anchor",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


INVALID_INSTRUCTIONS: list[tuple[dict[str, object], str]] = [
    (with_valid(instructions_text="too short"), "instructions_text"),
    (with_valid(instructions_text="         \n          "), "instructions_text"),
    (with_valid(instructions_text="  short   \n  "), "instructions_text"),
    (with_valid(instructions_text=12345678901), "instructions_text"),
    (with_valid(instructions_text=["a list of", "strings"]), "instructions_text"),
    (with_valid(assignment_id="a/1"), "assignment_id"),
    (with_valid(assignment_id="x" * 101), "assignment_id"),
    (with_valid(assignment_id=""), "assignment_id"),
    (with_valid(assignment_id=7), "assignment_id"),
    (with_valid(context_origin="national"), "context_origin"),
    (with_valid(surprise=1), "surprise"),
    (with_valid(assignment_id=None), "assignment_id"),
    (with_valid(grade_scale=None), "grade_scale"),
    (with_valid(name="   "), "name"),
    (with_valid(name="np 2017/vt"), "name"),
    (with_valid(student_prompt_storage_id="not-a-hash"), "student_prompt_storage_id"),
]


async def test_invalid_instructions_are_422_naming_the_field(api: Api) -> None:
    """Wrong types, short or blank texts, bad ids, unknown fields: 422 naming the field; a prompt
    id that names no stored text: 404. Nothing is stored."""
    async with api.client() as client:
        for body, where in INVALID_INSTRUCTIONS:
            response = await client.post(BASE, json=body)
            assert where in assert_problem(response, 422)["detail"], body
        unknown_prompt = await client.post(
            BASE, json=with_valid(student_prompt_storage_id="f" * 64)
        )
        assert "no content" in assert_problem(unknown_prompt, 404)["detail"]
    assert await api.count_rows("assignments") == 0
    assert await api.count_rows("content") == 0


async def test_malformed_json_and_wrong_shapes_are_422(api: Api) -> None:
    """A body that is not JSON, or not an object, is a 422 problem, not a 500."""
    async with api.client() as client:
        broken = await client.post(
            BASE, content=b'{"assignment_id": ', headers={"Content-Type": "application/json"}
        )
        array = await client.post(BASE, json=[1, 2, 3])
    assert_problem(broken, 422)
    assert_problem(array, 422)


async def test_blank_anchor_essay_is_422(api: Api) -> None:
    """An anchor essay needs at least one non-whitespace character."""
    async with api.client() as client:
        await client.post(BASE, json=with_valid())
        for essay in ("   ", "", "\n\t ", "\u2003"):
            response = await client.post(
                "/admin/v1/anchors/register",
                json=anchor("a1", "A", "A1", essay),
            )
            assert "essay_text" in assert_problem(response, 422)["detail"], repr(essay)
    assert await api.count_rows("anchors") == 0


SQLISH = [
    "x'; DROP TABLE assignments; --",
    "1 OR 1=1",
    'Robert"); DELETE FROM anchors; --',
]


async def test_sql_looking_strings_are_data_not_code(api: Api) -> None:
    """SQL fragments in ids are refused by the id rule; in texts, labels and filters they are
    stored and returned verbatim, and the tables survive."""
    for i, evil in enumerate(SQLISH):
        await _store_evil(api, f"a{i}", evil)
    assert await api.count_rows("assignments") == len(SQLISH)
    assert await api.count_rows("anchors") == len(SQLISH)


async def _store_evil(api: Api, assignment_id: str, evil: str) -> None:
    async with api.client() as client:
        assert_problem(await client.post(BASE, json=with_valid(assignment_id=evil)), 422)
        ok = await client.post(
            BASE,
            json=with_valid(assignment_id=assignment_id, instructions_text=f"{INSTR} {evil}"),
        )
        assert ok.status_code == 201, ok.text
        registered = await client.post(
            "/admin/v1/anchors/register",
            json=anchor(assignment_id, "A", evil, evil),
        )
        assert registered.status_code == 201, registered.text
        filtered = await client.get(BASE, params={"grade_scale": evil})
        assert filtered.json()["total"] == 0
        got = (await client.get(f"{BASE}/assignment/{assignment_id}")).json()
        anchors = (await client.get(f"/admin/v1/anchors/assignment/{assignment_id}")).json()
    assert got["instructions_text"].endswith(evil)
    assert anchors["anchors"][0]["anchor_label"] == evil


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    """An unknown path is 404 and a wrong method 405, both problem+json."""
    async with api.client() as client:
        assert_problem(await client.get("/admin/v1/nothing-here"), 404)
        assert_problem(await client.put("/admin/v1/scales"), 405)


async def test_lone_surrogates_and_nul_in_fields_are_422(api: Api) -> None:
    """JSON escapes that are not text (a lone surrogate) and NUL characters, which PostgreSQL
    cannot store, are refused at validation, never reaching the database."""
    raw_bodies = [
        b'{"assignment_id": "a1", "instructions_text": "abcdefghij\\ud800", '
        b'"grade_scale": "swedish_8_anchor"}',
        b'{"assignment_id": "a1", "instructions_text": "abcdefghij\\u0000kl", '
        b'"grade_scale": "swedish_8_anchor"}',
        b'{"assignment_id": "a1", "instructions_text": "abcdefghijkl", '
        b'"grade_scale": "swedish_8_anchor", "name": "x\\u0000"}',
    ]
    async with api.client() as client:
        for raw in raw_bodies:
            response = await client.post(
                BASE, content=raw, headers={"Content-Type": "application/json"}
            )
            assert_problem(response, 422)
        await client.post(BASE, json=with_valid())
        for label in ("x\ud800", "x\x00y"):
            raw = (
                '{"assignment_id": "a1", "grade": "A", "essay_text": "ok", "anchor_label": '
                + json.dumps(label)
                + "}"
            ).encode()
            response = await client.post(
                "/admin/v1/anchors/register",
                content=raw,
                headers={"Content-Type": "application/json"},
            )
            assert "anchor_label" in assert_problem(response, 422)["detail"]
    assert await api.count_rows("anchors") == 0
    assert await api.count_rows("assignments") == 1
