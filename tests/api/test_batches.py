"""``/v1/batches`` against the real app (ASGI, lifespan entered) on SQLite and PostgreSQL:
submit, list, progress, cancel, result, artefact and reports; every refusal writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cjgrade.store import content_id

from .conftest import ROLES, Api, anchor

INSTR = "Write an argumentative essay about school uniforms, 300-500 words."
WORDS = ("uniforms", "freedom", "identity", "cost", "equality", "discipline", "comfort",
         "expression", "belonging", "fairness", "tradition", "choice")


def essay_text(i: int) -> str:
    """Essays that differ in length and vocabulary, so a judge can tell them apart."""
    words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + i))
    return f"Essay {i}. " + f"School {words} matter because pupils learn better. " * (2 + i % 5)


def submit_body(n_students: int = 6, **extra: Any) -> dict[str, Any]:
    """An ad hoc batch: students plus two anchors of different grades, budget 24."""
    essays: list[dict[str, Any]] = [
        {"essay_id": f"s{i:02d}", "text": essay_text(i), "file_name": f"s{i:02d}.txt"}
        for i in range(n_students)
    ]
    essays += [
        {"essay_id": "anchor_E", "text": essay_text(40), "is_anchor": True, "grade": "E"},
        {"essay_id": "anchor_A", "text": essay_text(41), "is_anchor": True, "grade": "A"},
    ]
    body: dict[str, Any] = {
        "judge": "heuristic/surface", "essays": essays, "instructions": INSTR,
        "grade_scale": "swedish_8_anchor", "label": "api test",
        "options": {"budget": 24, "round_size": 8, "target_reliability": None,
                    "stability_threshold": None},
    }
    body.update(extra)
    return body


async def batch_api(database_url: str, home: Path, **env: str) -> AsyncIterator[Api]:
    """The app of a distributed deployment (it knows a broker) with one token per role. No
    broker runs: submitting only writes the batch and its request to the outbox."""
    from cjgrade.api import create_app
    from cjgrade.config import load_settings
    from cjgrade.store import create_token

    settings = load_settings(env={"CJGRADE_HOME": str(home), **env}, database_url=database_url)
    app = create_app(settings)
    context = app.router.lifespan_context(app)
    await context.__aenter__()
    try:
        tokens: dict[str, str] = {}
        async with app.state.store.transaction() as session:
            for role in ROLES:
                _, tokens[role] = await create_token(session, f"test-{role}", role)
        yield Api(app=app, store=app.state.store, tokens=tokens)
    finally:
        await context.__aexit__(None, None, None)


@pytest.fixture
async def dapi(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async for api in batch_api(database_url, tmp_path,
                               KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9"):
        yield api


async def run_in_process(api: Api, batch_uuid: str) -> None:
    """Run a submitted batch to its end with the engine in this process (as an orchestrator
    would, with the judge called directly instead of on workers)."""
    from cjgrade.engine.dispatch import InProcessDispatcher
    from cjgrade.engine.loop import BatchEngine
    from cjgrade.judges import get_judge

    engine = BatchEngine(api.store, InProcessDispatcher(get_judge("heuristic/surface")))
    await engine.run(batch_uuid)


async def test_submit_list_show_and_cancel(dapi: Api) -> None:
    """202 with the stored batch and its plan; the request is in the outbox; list and show
    report progress; cancel stops it (again: 200); a cancelled batch has no result (409)."""
    async with dapi.client("runner") as client:
        body = submit_body()
        uploaded = await client.post("/v1/content", content=essay_text(0).encode(),
                                     headers={"Content-Type": "text/plain"})
        body["essays"][0] = {"essay_id": "s00", "content_id": uploaded.json()["storage_id"]}
        answer = await client.post("/v1/batches", json=body)
        assert answer.status_code == 202, answer.text
        batch = answer.json()
        uuid = batch["batch_uuid"]
        assert answer.headers["location"] == f"/v1/batches/{uuid}"
        assert batch["status"] == "created" and batch["judge"] == "heuristic/surface"
        assert (batch["n_students"], batch["n_anchors"]) == (6, 2)
        assert batch["comparisons_planned"] == 24 and batch["comparisons_done"] == 0
        assert any("not a language model" in w for w in batch["warnings"])
        assert await dapi.count_rows("outbox") == 1
        listed = (await client.get("/v1/batches")).json()
        assert listed["total"] == 1 and listed["items"][0]["batch_uuid"] == uuid
        assert (await client.get("/v1/batches", params={"status": "completed"})).json()[
            "total"] == 0
        shown = (await client.get(f"/v1/batches/{uuid}")).json()
        assert shown["status"] == "created" and shown["reliability"] is None
        early = await client.get(f"/v1/batches/{uuid}/result")
        assert early.status_code == 409 and "cjgrade batches watch" in early.json()["detail"]
        cancelled = await client.post(f"/v1/batches/{uuid}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = await client.post(f"/v1/batches/{uuid}/cancel")
        assert again.status_code == 200
        gone = await client.get(f"/v1/batches/{uuid}/artefact")
        assert gone.status_code == 409 and "cancelled" in gone.json()["detail"]


class CancelOnFirstCall:
    """A judge that cancels its batch through the API when it is first called."""

    def __init__(self, api: Api, batch_uuid: str) -> None:
        from cjgrade.judges import get_judge

        self.inner = get_judge("heuristic/surface")
        self.name = self.inner.name
        self.api, self.batch_uuid, self.calls = api, batch_uuid, 0
        self.request_sha256 = self.inner.request_sha256

    async def judge(self, request: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            async with self.api.client("runner") as client:
                answer = await client.post(f"/v1/batches/{self.batch_uuid}/cancel")
                assert answer.status_code == 200, answer.text
        return await self.inner.judge(request)


async def test_a_batch_cancelled_while_running_requests_no_further_round(dapi: Api) -> None:
    """Cancelled during its first round, a running batch finishes that round (its requests are
    out) and requests no other; it stays cancelled."""
    from cjgrade.engine.dispatch import InProcessDispatcher
    from cjgrade.engine.loop import BatchEngine
    from cjgrade.errors import StorageError

    async with dapi.client() as client:
        uuid = (await client.post("/v1/batches", json=submit_body())).json()["batch_uuid"]
    judge = CancelOnFirstCall(dapi, uuid)
    engine = BatchEngine(dapi.store, InProcessDispatcher(judge, concurrency=1))
    with pytest.raises(StorageError, match="cancelled"):
        await engine.run(uuid)
    assert judge.calls == 8 and await dapi.count_rows("comparisons") == 8
    async with dapi.client("read") as client:
        shown = (await client.get(f"/v1/batches/{uuid}")).json()
    assert shown["status"] == "cancelled" and shown["comparisons_done"] == 8


REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown option", {"options": {"budjet": 5}}, 422, "budjet"),
    ("option out of range", {"options": {"target_reliability": 2}}, 422, "target_reliability"),
    ("unknown judge", {"judge": "openai/gpt-nonexistent"}, 422, "judge"),
    ("unknown scale", {"grade_scale": "no_such_scale"}, 422, "grade_scale"),
    ("no instructions", {"instructions": None}, 422, "instructions"),
    ("grades without a scale", {"grade_scale": None}, 422, "grade_scale"),
    ("unknown content", {"essays": [{"essay_id": "x", "content_id": "0" * 64},
                                    {"essay_id": "y", "text": "An essay."}]}, 404, "0000"),
    ("unknown assignment", {"assignment_id": "nope", "instructions": None, "grade_scale": None,
                            "essays": [{"essay_id": "x", "text": "An essay."},
                                       {"essay_id": "y", "text": "Another."}]}, 404, "nope"),
    ("tiny budget", {"options": {"budget": 1}}, 422, "budget"),
    ("unknown field", {"colour": "red"}, 422, "colour"),
    ("bad uuid", {"batch_uuid": "not-a-uuid"}, 422, "batch_uuid"),
]


@pytest.mark.parametrize(("case", "change", "status", "needle"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
async def test_refusals_name_the_problem_and_write_nothing(
    dapi: Api, case: str, change: dict[str, Any], status: int, needle: str
) -> None:
    async with dapi.client() as client:
        answer = await client.post("/v1/batches", json=submit_body(**change))
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["detail"]
    for table in ("batches", "outbox", "content"):
        assert await dapi.count_rows(table) == 0, table


async def test_essay_level_refusals(dapi: Api) -> None:
    """Duplicate ids, an anchor without a grade, a grade off the scale, text and content id
    both given: 422 naming the essay, nothing written."""
    cases = []
    body = submit_body()
    body["essays"][1]["essay_id"] = "s00"
    cases.append((body, "'s00' appears twice"))
    body = submit_body()
    del body["essays"][-1]["grade"]
    cases.append((body, "needs its grade"))
    body = submit_body()
    body["essays"][-1]["grade"] = "Z"
    cases.append((body, "Z"))
    body = submit_body()
    body["essays"][0]["content_id"] = content_id(essay_text(0))
    cases.append((body, "exactly one of text or content_id"))
    async with dapi.client() as client:
        for body, needle in cases:
            answer = await client.post("/v1/batches", json=body)
            assert answer.status_code == 422 and needle in answer.json()["detail"], answer.text
    assert await dapi.count_rows("batches") == 0


async def test_no_orchestrator_is_409_and_writes_nothing(api: Api) -> None:
    """A server outside a distributed deployment refuses (nothing would run the batch)."""
    async with api.client() as client:
        answer = await client.post("/v1/batches", json=submit_body())
    assert answer.status_code == 409
    assert "runs no batch orchestrator" in answer.json()["detail"]
    assert "cjgrade serve --bootstrap" in answer.json()["detail"]
    assert await api.count_rows("batches") == 0 and await api.count_rows("outbox") == 0


async def test_roles_tokens_and_unknown_batches(dapi: Api) -> None:
    """read may not submit or cancel (403); no token is 401; an unknown batch 404; a
    malformed uuid 422."""
    unknown = "0f8fad5b-d9cb-469f-a165-70867728950e"
    async with dapi.client("read") as client:
        refused = await client.post("/v1/batches", json=submit_body())
        assert refused.status_code == 403 and "admin or runner" in refused.json()["detail"]
        assert (await client.post(f"/v1/batches/{unknown}/cancel")).status_code == 403
        assert (await client.get(f"/v1/batches/{unknown}")).status_code == 404
        for tail in ("", "/result", "/artefact", "/report.md", "/report.html"):
            missing = await client.get(f"/v1/batches/{unknown}{tail}")
            assert missing.status_code == 404, tail
            assert unknown in missing.json()["detail"]
        assert (await client.get("/v1/batches/not-a-uuid")).status_code == 422
        assert (await client.get("/v1/batches", params={"status": "done"})).status_code == 422
    async with dapi.client(None) as client:
        assert (await client.get("/v1/batches")).status_code == 401
        assert (await client.post("/v1/batches", json=submit_body())).status_code == 401
    async with dapi.client("runner") as client:
        body = submit_body(batch_uuid=unknown)
        assert (await client.post("/v1/batches", json=body)).status_code == 202
        retried = await client.post("/v1/batches", json=body)
        assert retried.status_code == 409 and "already exists" in retried.json()["detail"]
    assert await dapi.count_rows("batches") == 1


async def test_batch_on_a_stored_assignment_takes_its_anchors(dapi: Api) -> None:
    """assignment_id: instructions, scale and registered anchors come from the store; the
    request gives students only (an anchor in it, or instructions, is 422)."""
    async with dapi.client() as client:
        await client.post("/admin/v1/assessment-instructions", json={
            "assignment_id": "np1", "instructions_text": INSTR,
            "grade_scale": "swedish_8_anchor"})
        for grade, i in (("E", 40), ("C", 41), ("A", 42)):
            await client.post("/admin/v1/anchors/register",
                              json=anchor("np1", grade, f"{grade}1", essay_text(i)))
        students = [{"essay_id": f"s{i}", "text": essay_text(i)} for i in range(5)]
        body = {"judge": "heuristic/surface", "assignment_id": "np1", "essays": students,
                "options": {"budget": 20}}
        answer = await client.post("/v1/batches", json=body)
        assert answer.status_code == 202, answer.text
        batch = answer.json()
        assert (batch["n_students"], batch["n_anchors"]) == (5, 3)
        assert batch["assignment_id"] == "np1" and batch["grade_scale"] == "swedish_8_anchor"
        with_anchor = {**body, "essays": [*students, {"essay_id": "a", "text": "An anchor.",
                                                     "is_anchor": True, "grade": "C"}]}
        refused = await client.post("/v1/batches", json=with_anchor)
        assert refused.status_code == 422 and "student essays only" in refused.json()["detail"]
        refused = await client.post("/v1/batches", json={**body, "instructions": INSTR})
        assert refused.status_code == 422 and "comes from assignment" in refused.json()["detail"]
    assert await dapi.count_rows("batches") == 1


async def test_finished_batch_result_artefact_and_reports(dapi: Api) -> None:
    """Once run, progress is complete and the result, the artefact (valid against the schema,
    checksummed, mode distributed, texts named in the content store) and both reports are
    served; the artefact is the same on every request."""
    from cjgrade.reports import validate_artefact, verify_checksum

    async with dapi.client("runner") as client:
        uuid = (await client.post("/v1/batches", json=submit_body())).json()["batch_uuid"]
    await run_in_process(dapi, uuid)
    async with dapi.client("read") as client:
        shown = (await client.get(f"/v1/batches/{uuid}")).json()
        assert shown["status"] == "completed"
        assert shown["comparisons_done"] == shown["comparisons_planned"] == 24
        assert shown["reliability"] is not None and shown["rounds_fitted"] == 3
        assert shown["cost_usd"] == 0.0 and shown["finished_at"] is not None
        result = (await client.get(f"/v1/batches/{uuid}/result")).json()
        assert result["status"] == "completed" and result["n_succeeded"] == 24
        assert [e["rank"] for e in result["essays"]] == list(range(1, 9))
        students = [e for e in result["essays"] if not e["is_anchor"]]
        assert all(abs(sum(e["grade_probabilities"].values()) - 1) < 1e-6 for e in students)
        doc = (await client.get(f"/v1/batches/{uuid}/artefact")).json()
        validate_artefact(doc)
        assert verify_checksum(doc)
        assert doc["metadata"]["mode"] == "distributed"
        assert doc["inputs"]["root"] is None
        first = doc["inputs"]["students"][0]
        assert first["file_name"] == "s00.txt"
        assert first["source_path"] == f"content:{content_id(essay_text(0))}"
        again = (await client.get(f"/v1/batches/{uuid}/artefact")).json()
        assert again == doc
        md = await client.get(f"/v1/batches/{uuid}/report.md")
        assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
        assert "api test" in md.text
        html = await client.get(f"/v1/batches/{uuid}/report.html")
        assert html.status_code == 200 and html.text.startswith("<!doctype html>")
        cancel = await client.post(f"/v1/batches/{uuid}/cancel")
        assert cancel.status_code == 403
    async with dapi.client() as client:
        cancel = await client.post(f"/v1/batches/{uuid}/cancel")
        assert cancel.status_code == 409 and "already completed" in cancel.json()["detail"]


async def test_an_app_with_a_bus_publishes_the_request_at_once(api: Api) -> None:
    """With ``app.state.bus`` the request goes out with the answer (no relay poll to wait for)
    and its outbox row is marked published; the event names the texts by content id."""
    from cjgrade.bus.transport import InProcessTransport
    from cjgrade.store import list_unpublished

    bus = InProcessTransport()
    api.app.state.bus = bus
    try:
        async with api.client("runner") as client:
            answer = await client.post("/v1/batches", json=submit_body())
        assert answer.status_code == 202, answer.text
        uuid = answer.json()["batch_uuid"]
        [(topic, envelope)] = bus.published
        assert topic == "cjgrade.assessment.requested.v1" and envelope.key == uuid
        event = envelope.event()
        assert event.batch_uuid == uuid and len(event.essays) == 8
        assert event.texts["instructions"] == content_id(INSTR)
        async with api.store.transaction() as session:
            assert await list_unpublished(session) == []
    finally:
        await bus.close()


async def test_the_judge_is_described_from_the_manifest(dapi: Api) -> None:
    """The submit answer's warning and the served reports describe a judge that is not a
    language model by its manifest description: a simulation for sim/*, scripted verdicts for
    scripted, surface features for heuristic/surface only."""
    from cjgrade.judges.manifest import local_judge_description
    from cjgrade.reports.html import escape
    from cjgrade.reports.markdown import text

    async with dapi.client("runner") as client:
        for judge in ("sim/bt", "sim/scores", "scripted/default"):
            answer = await client.post("/v1/batches", json=submit_body(judge=judge))
            assert answer.status_code == 202, answer.text
            warnings = answer.json()["warnings"]
            assert f"{judge} is not a language model: {local_judge_description(judge)}" in warnings
            assert not any("surface features" in w for w in warnings)
        uuid = (await client.post("/v1/batches", json=submit_body())).json()["batch_uuid"]
    await run_in_process(dapi, uuid)
    description = local_judge_description("heuristic/surface")
    assert description and "surface features" in description
    async with dapi.client("read") as client:
        md = (await client.get(f"/v1/batches/{uuid}/report.md")).text
        html = (await client.get(f"/v1/batches/{uuid}/report.html")).text
    assert f"(**not a language model**: {text(description)})" in md
    assert f"is not a language model: {escape(description)}.</p>" in html
