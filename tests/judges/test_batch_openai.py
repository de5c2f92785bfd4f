"""OpenAI Batch API (files + batches) through the official SDK against the local fake API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cjgrade.errors import JudgeError, JudgeOutputInvalid, JudgeRateLimited, JudgeUnavailable
from cjgrade.judges.base import Verdict, Winner
from cjgrade.judges.batch import run_batch
from cjgrade.judges.batch_openai import OpenAIBatchJudge, create_batch_judge
from cjgrade.judges.clock import ManualClock
from cjgrade.judges.cost import billed_spend, compute_cost
from cjgrade.judges.manifest import load_manifest
from cjgrade.judges.openai import build_chat_params
from cjgrade.judges.prompt import render_request
from cjgrade.judges.runtime import RuntimePolicy
from tests.judges.fakes.openai_api import (
    VALID_KEY,
    FakeOpenAI,
    completion_body,
    error_reply,
    verdict_json,
)
from tests.judges.fakes.pairs import short_request

GPT5 = load_manifest().resolve("openai/gpt-5-mini")


REQUESTS = {
    "ok": short_request("Dogs are loyal."),
    "truncated": short_request("Dogs bark."),
    "limited": short_request("Dogs run."),
    "server_error": short_request("Dogs sleep."),
    "never_ran": short_request("Dogs eat."),
}


def outcome(custom_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    error = {"error": {"message": custom_id, "type": "server_error", "code": None}}
    return {
        "ok": (200, completion_body(verdict_json("A", 5), model=body["model"])),
        "truncated": (200, completion_body('{"justif', finish_reason="length")),
        "limited": (429, error),
        "server_error": (500, error),
    }.get(custom_id)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.batch_outcome = outcome
        yield server


def batch_judge(fake: FakeOpenAI) -> OpenAIBatchJudge:
    return create_batch_judge(GPT5, api_key=VALID_KEY, base_url=f"{fake.url}/v1")


async def test_batch_round_trip_with_partial_failures(fake: FakeOpenAI) -> None:
    """Upload JSONL, create, poll, download output and error files: each request gets its
    verdict or its classified error; one that never ran is a retryable failure. Verdicts are
    priced at the batch rate (half the synchronous price)."""
    results = await run_batch(batch_judge(fake), REQUESTS, clock=ManualClock())
    assert set(results) == set(REQUESTS)
    ok = results["ok"]
    assert isinstance(ok, Verdict) and ok.winner is Winner.A and ok.p_a == pytest.approx(0.95)
    assert "batch_api" in ok.flags
    assert ok.cost_usd == pytest.approx(0.5 * compute_cost(ok.usage, GPT5))  # type: ignore[operator]
    assert ok.cost_usd > 0  # type: ignore[operator]
    assert ok.request_sha256 == render_request(REQUESTS["ok"]).request_sha256
    assert isinstance(results["truncated"], JudgeOutputInvalid)
    assert "truncated" in str(results["truncated"])
    assert isinstance(results["limited"], JudgeRateLimited)
    assert isinstance(results["server_error"], JudgeUnavailable)
    assert isinstance(results["never_ran"], JudgeUnavailable)


async def test_uploaded_file_holds_the_synchronous_request_bodies(fake: FakeOpenAI) -> None:
    """The JSONL upload (purpose=batch) has one POST line per comparison whose body is what
    the synchronous adapter sends; the batch targets chat completions within 24 h."""
    await batch_judge(fake).submit_batch(REQUESTS)
    (upload,) = [f for f in fake.files.values() if f["purpose"] == "batch"]
    lines = [json.loads(line) for line in upload["content"].decode().splitlines()]
    assert [line["custom_id"] for line in lines] == list(REQUESTS)
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions"
               for line in lines)
    expected = build_chat_params(render_request(REQUESTS["ok"]), GPT5)
    assert lines[0]["body"] == json.loads(json.dumps(expected))
    assert "temperature" not in lines[0]["body"]
    (create,) = [r.json() for r in fake.requests if r.path == "/v1/batches"]
    assert create["endpoint"] == "/v1/chat/completions"
    assert create["completion_window"] == "24h"


async def test_expired_batch_keeps_partial_results(fake: FakeOpenAI) -> None:
    """An expired batch still yields the results that finished; the rest are retryable."""
    fake.final_status = "expired"
    results = await run_batch(batch_judge(fake), REQUESTS, clock=ManualClock())
    assert isinstance(results["ok"], Verdict)
    assert isinstance(results["never_ran"], JudgeUnavailable)


async def test_failed_batch_raises(fake: FakeOpenAI) -> None:
    """A batch that failed validation as a whole raises instead of inventing outcomes."""
    fake.final_status = "failed"
    with pytest.raises(JudgeError, match="failed before running"):
        await run_batch(batch_judge(fake), REQUESTS, clock=ManualClock())


async def test_fetch_before_the_end_is_unavailable(fake: FakeOpenAI) -> None:
    """Fetching while the batch is still running is a retryable error, not empty results."""
    fake.polls_before_end = 5
    judge = batch_judge(fake)
    handle = await judge.submit_batch(REQUESTS)
    with pytest.raises(JudgeUnavailable, match="still"):
        await judge.fetch_results(handle)


async def test_broken_result_lines_fail_their_own_request_only(fake: FakeOpenAI) -> None:
    """A result line with NaN in it (not strict JSON) or a verdict with a NaN confidence is an
    invalid reply for its own custom id, billed as far as its usage can be read; the rest of
    the batch stands and nothing crashes."""
    requests = {"ok": short_request("Dogs are loyal."), "nan_line": short_request("Dogs bark."),
                "nan_verdict": short_request("Dogs run.")}

    def broken(custom_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if custom_id == "nan_line":
            return 200, completion_body(verdict_json("A", 4), usage={
                "prompt_tokens": float("nan"), "completion_tokens": 10, "total_tokens": 10})
        if custom_id == "nan_verdict":
            content = '{"justification": "x", "winner": "A", "confidence": NaN}'
            return 200, completion_body(content, model=body["model"])
        return 200, completion_body(verdict_json("B", 2), model=body["model"])

    fake.batch_outcome = broken
    judge = batch_judge(fake)
    results = await run_batch(judge, requests, clock=ManualClock())
    assert isinstance(results["ok"], Verdict)
    line, verdict = results["nan_line"], results["nan_verdict"]
    assert isinstance(line, JudgeOutputInvalid) and "NaN is not a JSON number" in str(line)
    assert isinstance(verdict, JudgeOutputInvalid) and "NaN is not a JSON number" in str(verdict)
    assert billed_spend(line).cost_usd is None  # billed, its usage unreadable
    assert billed_spend(verdict).cost_usd == pytest.approx(
        compute_cost(verdict.usage, GPT5, batch=True))  # type: ignore[attr-defined]
    assert judge.ledger.total_cost() is None


async def test_one_server_error_while_polling_is_retried(fake: FakeOpenAI) -> None:
    """A 500 on one poll of the Batch API is retried with backoff through the clock; the
    batch's results still arrive."""
    fake.poll_failures.append(error_reply(500, "The server had an error"))
    clock = ManualClock()
    results = await run_batch(batch_judge(fake), {"ok": REQUESTS["ok"]}, poll_interval=30.0,
                              clock=clock, policy=RuntimePolicy(backoff_base_s=2.0, jitter=0.0))
    assert isinstance(results["ok"], Verdict)
    assert clock.sleeps == [2.0, 30.0]
