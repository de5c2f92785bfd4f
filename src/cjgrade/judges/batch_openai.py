"""OpenAI Batch API: the chat-completions bodies of :mod:`cjgrade.judges.openai` written to a
JSONL file, uploaded (``purpose=batch``), run as one batch, then read back from the output and
error files."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, Final, Literal

import openai
from openai.types.chat import ChatCompletion

from cjgrade.errors import JudgeError, JudgeOutputInvalid, JudgeUnavailable
from cjgrade.judges.base import JudgeRequest, Usage, Verdict
from cjgrade.judges.batch import (
    BatchHandle,
    BatchItem,
    BatchState,
    BatchStatus,
    ProviderBatchJudge,
    render_batch,
)
from cjgrade.judges.openai import (
    ENV_VAR,
    PROVIDER,
    build_chat_params,
    classify_sdk_error,
    create_client,
    parse_completion,
    usage_from,
)
from cjgrade.judges.strict_json import StrictJsonError, find_last_object, load_strict_json
from cjgrade.judges.verdict import attach_reply, classify_status, keep_raw

__all__ = ["ENDPOINT", "OpenAIBatchJudge", "create_batch_judge"]

ENDPOINT: Final[Literal["/v1/chat/completions"]] = "/v1/chat/completions"
COMPLETION_WINDOW: Final[Literal["24h"]] = "24h"
_CUSTOM_ID = re.compile(r'"custom_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')

_STATES: dict[str, BatchState] = {
    "validating": "in_progress",
    "in_progress": "in_progress",
    "finalizing": "in_progress",
    "cancelling": "in_progress",
    "completed": "ended",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "canceled",
}


class OpenAIBatchJudge(ProviderBatchJudge):
    """One OpenAI model through the Batch API."""

    provider = PROVIDER
    env_var = ENV_VAR
    create_client = staticmethod(create_client)
    _client: openai.AsyncOpenAI

    async def submit_batch(self, requests: Mapping[str, JudgeRequest]) -> BatchHandle:
        """Render and validate everything, upload one JSONL file, create one batch."""
        rendered = render_batch(requests)
        lines = [
            json.dumps(
                {
                    "custom_id": cid,
                    "method": "POST",
                    "url": ENDPOINT,
                    "body": build_chat_params(r, self.info),
                },
                ensure_ascii=False,
            )
            for cid, r in rendered.items()
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            uploaded = await self._client.files.create(
                file=("cjgrade-batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
            batch = await self._client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata={"source": "cjgrade"},
            )
        except openai.APIError as exc:
            raise classify_sdk_error(exc, env_var=self.key_env_var) from exc
        return self.make_handle(batch.id, rendered, input_file_id=uploaded.id)

    async def _retrieve(self, handle: BatchHandle) -> Any:
        try:
            return await self._client.batches.retrieve(handle.batch_id)
        except openai.APIError as exc:
            raise classify_sdk_error(exc, env_var=self.key_env_var) from exc

    async def poll(self, handle: BatchHandle) -> BatchStatus:
        batch = await self._retrieve(handle)
        counts = batch.request_counts
        return BatchStatus(
            state=_STATES.get(batch.status, "in_progress"),
            total=len(handle.items),
            succeeded=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            provider_status=batch.status,
        )

    async def fetch_results(self, handle: BatchHandle) -> dict[str, Verdict | JudgeError]:
        """Every custom id -> its verdict or its error, from the output and error files.

        Raises
        ------
        JudgeError
            When the whole batch failed validation (nothing ran).
        JudgeUnavailable
            When the batch is still running.
        """
        batch = await self._retrieve(handle)
        state = _STATES.get(batch.status, "in_progress")
        if state == "in_progress":
            raise JudgeUnavailable(f"batch {handle.batch_id} is still {batch.status}")
        if state == "failed":
            errors = getattr(batch.errors, "data", None) or []
            detail = "; ".join(f"{e.code}: {e.message}" for e in errors) or "no detail"
            raise JudgeError(f"batch {handle.batch_id} failed before running: {detail}")
        items = {item.custom_id: item for item in handle.items}
        latency = max(0.0, time.time() - handle.submitted_at)
        results: dict[str, Verdict | JudgeError] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for line in (await self._download(file_id)).splitlines():
                if line.strip():
                    self._read_line(line, items, latency, results)
        return self.finish_results(handle, results)

    def _read_line(self, line: str, items: Mapping[str, BatchItem], latency: float,
                   results: dict[str, Verdict | JudgeError]) -> None:
        """One result line, read strictly: a line outside the contract is an invalid reply
        for its custom id (billed as far as its usage can be read), never a crash."""
        try:
            record = load_strict_json(line)
        except StrictJsonError as exc:
            match = _CUSTOM_ID.search(line)
            item = items.get(match.group(1)) if match else None
            if item is not None:
                usage_text = find_last_object(line, "usage")
                usage: Usage | None = None
                try:
                    usage = usage_from(load_strict_json(usage_text)) if usage_text else None
                except (StrictJsonError, ValueError):
                    usage = None
                results[item.custom_id] = attach_reply(
                    JudgeOutputInvalid(f"batch result for {item.custom_id}: {exc}"), usage,
                    keep_raw(line), usage_problem=None if usage else "unreadable usage")
            return
        item = items.get(record.get("custom_id")) if isinstance(record, dict) else None
        if item is not None:
            results[item.custom_id] = self._outcome(record, item, latency)

    async def _download(self, file_id: str) -> str:
        try:
            content = await self._client.files.content(file_id)
        except openai.APIError as exc:
            raise classify_sdk_error(exc, env_var=self.key_env_var) from exc
        return content.text

    def _outcome(
        self, record: Mapping[str, Any], item: BatchItem, latency: float
    ) -> Verdict | JudgeError:
        response = record.get("response") or {}
        status = int(response.get("status_code") or 0)
        body = response.get("body") or {}
        if status == 200:
            try:
                completion = ChatCompletion.model_validate(body)
                return parse_completion(
                    completion,
                    self.info,
                    request_sha256=item.request_sha256,
                    flags=item.flags,
                    latency_s=latency,
                )
            except JudgeOutputInvalid as exc:
                return exc
            except ValueError as exc:
                return JudgeOutputInvalid(f"batch result is not a chat completion: {exc}")
        error = (body.get("error") if isinstance(body, Mapping) else None) or record.get("error")
        error = error if isinstance(error, Mapping) else {}
        message = str(error.get("message") or "no detail")
        code = error.get("code")
        if status:
            return classify_status(
                status,
                message,
                provider=PROVIDER,
                env_var=self.key_env_var,
                error_code=str(code) if code else None,
            )
        if code == "batch_expired":
            return JudgeUnavailable(f"batch request {item.custom_id} expired; submit it again")
        return JudgeError(f"batch request {item.custom_id} failed: {code}: {message}")


create_batch_judge = OpenAIBatchJudge.create
"""Batch mode for ``openai/<model>`` (the manifest must mark the model batch-capable):
``create_batch_judge(info, *, api_key=None, base_url=None, timeout=120.0, ledger=None)``."""
