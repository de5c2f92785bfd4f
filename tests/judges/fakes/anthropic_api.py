"""A local server speaking the parts of the Anthropic Messages API the adapter uses.

It checks requests the way the real API does where the adapter could get it wrong (forced tool
choice with thinking, temperature with thinking, thinking budget vs ``max_tokens``, at most four
cache breakpoints, the key header) and answers from a script of replies. Message Batches are
supported: create, retrieve (in progress for ``polls_before_end`` polls), results as JSONL.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.judges.fakes.server import FakeHTTPServer, Recorded, Reply

VALID_KEY = "sk-ant-test"
_ids = itertools.count(1)


def error_reply(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    """An Anthropic-shaped error body."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Reply(status, body, headers=headers or {})


def message_body(
    content: list[dict[str, Any]],
    *,
    stop_reason: str = "tool_use",
    model: str = "claude-haiku-4-5-20251001",
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A Messages API reply body."""
    return {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage
        or {
            "input_tokens": 120,
            "output_tokens": 45,
            "cache_read_input_tokens": 900,
            "cache_creation_input_tokens": 0,
        },
    }


def tool_use_body(payload: Any, **kwargs: Any) -> dict[str, Any]:
    """A reply whose content is one ``record_verdict`` tool call with ``payload`` as input."""
    block = {"type": "tool_use", "id": f"toolu_{next(_ids):06d}", "name": "record_verdict",
             "input": payload}
    return message_body([block], **kwargs)


def verdict_reply(winner: str = "A", confidence: int = 4, justification: str = "A is clearer.",
                  **kwargs: Any) -> Reply:
    return Reply(200, tool_use_body(
        {"justification": justification, "winner": winner, "confidence": confidence}, **kwargs))


class FakeAnthropic(FakeHTTPServer):
    """``replies`` is consumed in order by ``POST /v1/messages`` unless ``responder`` is set,
    which then answers every valid message request from its params (a model look-alike, e.g.
    ``tests/judges/fakes/truth.py``); batch outcomes come from
    ``batch_outcome(custom_id, params) -> result dict`` (default: a succeeded verdict A)."""

    def __init__(self) -> None:
        super().__init__(self._route)
        self.replies: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self.batches: dict[str, dict[str, Any]] = {}
        self.polls_before_end = 1
        self.poll_failures: deque[Reply] = deque()
        """Answers given to the next batch retrieves instead of the batch (e.g. a 500)."""
        self.batch_outcome: Callable[[str, dict[str, Any]], dict[str, Any]] = _succeed_a

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def message_requests(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests if r.path == "/v1/messages"]

    # -- routing ---------------------------------------------------------------------------

    def _route(self, req: Recorded) -> Reply:
        # Older SDKs send x-api-key, SDK 2.x sends the key as a bearer token.
        sent = req.headers.get("x-api-key") or req.headers.get("authorization", "")
        if sent.removeprefix("Bearer ") != VALID_KEY:
            return error_reply(401, "authentication_error", "invalid x-api-key")
        if req.method == "POST" and req.path == "/v1/messages":
            params = req.json()
            problem = check_message_params(params)
            if problem:
                return error_reply(400, "invalid_request_error", problem)
            if self.responder is not None:
                return self.responder(params)
            if not self.replies:
                return error_reply(500, "api_error", "fake has no scripted reply left")
            return self.replies.popleft()
        if req.method == "POST" and req.path == "/v1/messages/batches":
            return self._create_batch(req.json())
        match = re.fullmatch(r"/v1/messages/batches/([\w-]+)(/results)?", req.path)
        if req.method == "GET" and match:
            batch = self.batches.get(match.group(1))
            if batch is None:
                return error_reply(404, "not_found_error", "no such batch")
            return self._results(batch) if match.group(2) else self._retrieve(batch)
        return error_reply(404, "not_found_error", f"no route {req.method} {req.path}")

    def _create_batch(self, body: dict[str, Any]) -> Reply:
        for item in body["requests"]:
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", item["custom_id"]):
                return error_reply(400, "invalid_request_error", "bad custom_id")
            problem = check_message_params(item["params"])
            if problem:
                return error_reply(400, "invalid_request_error", problem)
        batch_id = f"msgbatch_{next(_ids):06d}"
        self.batches[batch_id] = {"id": batch_id, "requests": body["requests"], "polls": 0}
        return Reply(200, self._batch_object(self.batches[batch_id], ended=False))

    def _retrieve(self, batch: dict[str, Any]) -> Reply:
        if self.poll_failures:
            return self.poll_failures.popleft()
        batch["polls"] += 1
        ended = batch["polls"] > self.polls_before_end
        return Reply(200, self._batch_object(batch, ended=ended))

    def _batch_object(self, batch: dict[str, Any], *, ended: bool) -> dict[str, Any]:
        n = len(batch["requests"])
        counts = {"processing": 0 if ended else n, "succeeded": 0, "errored": 0,
                  "canceled": 0, "expired": 0}
        if ended:
            for item in batch["requests"]:
                kind = self.batch_outcome(item["custom_id"], item["params"])["type"]
                counts[kind] += 1
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": "2026-11-21T15:00:00Z",
            "expires_at": "2026-11-22T15:00:00Z",
            "ended_at": "2026-11-21T16:00:00Z" if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch['id']}/results"
            if ended else None,
        }

    def _results(self, batch: dict[str, Any]) -> Reply:
        lines = [
            json.dumps({"custom_id": item["custom_id"],
                        "result": self.batch_outcome(item["custom_id"], item["params"])})
            for item in reversed(batch["requests"])  # real results come in no particular order
        ]
        return Reply(200, raw=("\n".join(lines) + "\n").encode(),
                     content_type="application/binary")


def _succeed_a(custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"type": "succeeded", "message": verdict_reply("A", 4).body}


def check_message_params(params: dict[str, Any]) -> str | None:
    """The real API's checks that a wrong adapter would trip; None when the request is valid."""
    for key in ("model", "max_tokens", "messages"):
        if key not in params:
            return f"{key}: Field required"
    thinking = params.get("thinking")
    if thinking and thinking.get("type") == "enabled":
        budget = thinking["budget_tokens"]
        if budget < 1024:
            return "thinking.budget_tokens: must be >= 1024"
        if budget >= params["max_tokens"]:
            return "max_tokens must be greater than thinking.budget_tokens"
        if (params.get("tool_choice") or {}).get("type") in ("any", "tool"):
            return "Thinking may not be enabled when tool_choice forces tool use."
        if params.get("temperature", 1) != 1:
            return "temperature may only be set to 1 when thinking is enabled"
    breakpoints = json.dumps(params).count('"cache_control"')
    if breakpoints > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."
    return None
