"""A local server speaking the parts of the OpenAI API the adapter uses: chat completions,
files (multipart upload, content download) and batches.

It checks requests the way the real API does where the adapter could get it wrong (temperature
or ``max_tokens`` sent to a reasoning model, logprobs on a reasoning model, a non-strict schema
with unsupported keywords) and answers from a script of replies.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.judges.fakes.server import FakeHTTPServer, Recorded, Reply

VALID_KEY = "sk-openai-test"
REASONING_MODELS = ("gpt-5", "o3", "o4")
_ids = itertools.count(1)

BatchOutcome = Callable[[str, dict[str, Any]], "tuple[int, dict[str, Any]] | None"]


def error_reply(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}
    return Reply(status, body, headers=headers or {})


def completion_body(
    content: str | None,
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    model: str = "gpt-4o-2024-11-20",
    logprobs: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1763737200,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": {"content": logprobs, "refusal": None} if logprobs else None,
            }
        ],
        "usage": usage
        or {
            "prompt_tokens": 1500,
            "completion_tokens": 60,
            "total_tokens": 1560,
            "prompt_tokens_details": {"cached_tokens": 1024},
        },
    }


def verdict_json(
    winner: str = "A", confidence: int = 4, justification: str = "A is clearer."
) -> str:
    payload = {"justification": justification, "winner": winner, "confidence": confidence}
    return json.dumps(payload)


def verdict_reply(winner: str = "A", confidence: int = 4, **kwargs: Any) -> Reply:
    return Reply(200, completion_body(verdict_json(winner, confidence), **kwargs))


def logprobs_for(content: str, winner_alternatives: dict[str, float]) -> list[dict[str, Any]]:
    """Tokenise ``content`` crudely (one token per JSON piece) and put ``winner_alternatives``
    (token -> logprob) as the top alternatives of the winner-letter token."""
    pieces = re.findall(r'"winner": "|[AB](?=")|[^"]+|"', content)
    assert "".join(pieces) == content
    tokens = []
    for i, piece in enumerate(pieces):
        is_winner = piece in ("A", "B") and i > 0 and pieces[i - 1] == '"winner": "'
        top = (
            [{"token": t, "logprob": lp, "bytes": None} for t, lp in winner_alternatives.items()]
            if is_winner
            else [{"token": piece, "logprob": -0.01, "bytes": None}]
        )
        logprob = winner_alternatives.get(piece, -0.01) if is_winner else -0.01
        tokens.append({"token": piece, "logprob": logprob, "bytes": None, "top_logprobs": top})
    return tokens


def _succeed_a(custom_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    return 200, completion_body(verdict_json("A", 4), model=body["model"])


class FakeOpenAI(FakeHTTPServer):
    """``replies`` is consumed in order by ``POST /v1/chat/completions`` unless ``responder``
    is set, which then answers every valid chat request from its body (a model look-alike,
    e.g. ``tests/judges/fakes/truth.py``); batch lines are answered by
    ``batch_outcome(custom_id, body) -> (status, body)`` or None (never answered, e.g.
    expired)."""

    def __init__(self, *, require_key: bool = True) -> None:
        super().__init__(self._route)
        self.require_key = require_key
        self.replies: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.polls_before_end = 1
        self.poll_failures: deque[Reply] = deque()
        """Answers given to the next batch retrieves instead of the batch (e.g. a 500)."""
        self.final_status = "completed"
        self.batch_outcome: BatchOutcome = _succeed_a

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests if r.path == "/v1/chat/completions"]

    def _route(self, req: Recorded) -> Reply:
        if self.require_key and req.headers.get("authorization") != f"Bearer {VALID_KEY}":
            return error_reply(401, "Incorrect API key provided", "invalid_api_key")
        if req.method == "POST" and req.path == "/v1/chat/completions":
            body = req.json()
            problem = check_chat_params(body)
            if problem:
                return error_reply(400, problem)
            if self.responder is not None:
                return self.responder(body)
            if not self.replies:
                return error_reply(500, "fake has no scripted reply left")
            return self.replies.popleft()
        if req.method == "POST" and req.path == "/v1/files":
            return self._upload(req)
        match = re.fullmatch(r"/v1/files/([\w-]+)/content", req.path)
        if req.method == "GET" and match:
            file = self.files[match.group(1)]
            return Reply(200, raw=file["content"], content_type="application/octet-stream")
        if req.method == "POST" and req.path == "/v1/batches":
            return self._create_batch(req.json())
        match = re.fullmatch(r"/v1/batches/([\w-]+)", req.path)
        if req.method == "GET" and match:
            return self._retrieve(self.batches[match.group(1)])
        return error_reply(404, f"no route {req.method} {req.path}")

    def _upload(self, req: Recorded) -> Reply:
        head = f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + req.body)
        fields = {
            part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()
        }
        file_id = f"file-{next(_ids)}"
        self.files[file_id] = {"content": fields["file"], "purpose": fields["purpose"].decode()}
        return Reply(200, self._file_object(file_id))

    def _file_object(self, file_id: str) -> dict[str, Any]:
        file = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(file["content"]),
                "created_at": 1763737200, "filename": "batch.jsonl",
                "purpose": file["purpose"], "status": "processed"}

    def _create_batch(self, body: dict[str, Any]) -> Reply:
        file = self.files.get(body["input_file_id"])
        if file is None or file["purpose"] != "batch":
            return error_reply(400, "input file missing or not uploaded with purpose=batch")
        lines = [json.loads(line) for line in file["content"].decode().splitlines() if line]
        for line in lines:
            if line["url"] != body["endpoint"] or line["method"] != "POST":
                return error_reply(400, "every line must POST to the batch endpoint")
            problem = check_chat_params(line["body"])
            if problem:
                return error_reply(400, f"line {line['custom_id']}: {problem}")
        batch_id = f"batch_{next(_ids)}"
        self.batches[batch_id] = {"id": batch_id, "lines": lines, "polls": 0, "request": body}
        return Reply(200, self._batch_object(self.batches[batch_id], "validating"))

    def _retrieve(self, batch: dict[str, Any]) -> Reply:
        if self.poll_failures:
            return self.poll_failures.popleft()
        batch["polls"] += 1
        if batch["polls"] <= self.polls_before_end:
            return Reply(200, self._batch_object(batch, "in_progress"))
        if "output_file_id" not in batch:
            self._finish(batch)
        return Reply(200, self._batch_object(batch, self.final_status))

    def _finish(self, batch: dict[str, Any]) -> None:
        out, err = [], []
        for line in batch["lines"]:
            outcome = self.batch_outcome(line["custom_id"], line["body"])
            if outcome is None:
                continue
            status, body = outcome
            record = {"id": f"batch_req_{next(_ids)}", "custom_id": line["custom_id"],
                      "response": {"status_code": status, "request_id": "req_1", "body": body},
                      "error": None}
            (out if status == 200 else err).append(json.dumps(record))
        for key, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                file_id = f"file-{next(_ids)}"
                self.files[file_id] = {"content": ("\n".join(rows) + "\n").encode(),
                                       "purpose": "batch_output"}
                batch[key] = file_id
            else:
                batch[key] = None
        batch["counts"] = {"total": len(batch["lines"]), "completed": len(out),
                           "failed": len(err)}

    def _batch_object(self, batch: dict[str, Any], status: str) -> dict[str, Any]:
        return {
            "id": batch["id"],
            "object": "batch",
            "endpoint": batch["request"]["endpoint"],
            "errors": None,
            "input_file_id": batch["request"]["input_file_id"],
            "completion_window": batch["request"]["completion_window"],
            "status": status,
            "output_file_id": batch.get("output_file_id"),
            "error_file_id": batch.get("error_file_id"),
            "created_at": 1763737200,
            "request_counts": batch.get("counts")
            or {"total": len(batch["lines"]), "completed": 0, "failed": 0},
            "metadata": batch["request"].get("metadata"),
        }


def check_chat_params(body: dict[str, Any]) -> str | None:
    """The real API's checks that a wrong adapter would trip; None when the request is valid."""
    model = body.get("model", "")
    if not model or "messages" not in body:
        return "model and messages are required"
    if model.startswith(REASONING_MODELS):
        if "temperature" in body and body["temperature"] != 1:
            return "Unsupported parameter: 'temperature' is not supported with this model."
        if "max_tokens" in body:
            return "Unsupported parameter: 'max_tokens'; use 'max_completion_tokens' instead."
        if body.get("logprobs"):
            return "logprobs are not supported with reasoning models"
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema" and fmt["json_schema"].get("strict"):
        text = json.dumps(fmt["json_schema"]["schema"])
        for keyword in ("minLength", "maxLength"):
            if f'"{keyword}"' in text:
                return f"Invalid schema for response_format: '{keyword}' is not permitted."
    return None
