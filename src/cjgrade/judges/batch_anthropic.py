"""Anthropic Message Batches: the same request bodies as :mod:`cjgrade.judges.anthropic`,
submitted together, polled, and read back from the JSONL results stream."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anthropic

from cjgrade.errors import JudgeError, JudgeOutputInvalid, JudgeUnavailable
from cjgrade.judges.anthropic import (
    ENV_VAR,
    PROVIDER,
    build_message_params,
    classify_sdk_error,
    create_client,
    parse_message,
)
from cjgrade.judges.base import JudgeRequest, Verdict
from cjgrade.judges.batch import (
    BatchHandle,
    BatchItem,
    BatchState,
    BatchStatus,
    ProviderBatchJudge,
    render_batch,
)
from cjgrade.judges.verdict import classify_status

__all__ = ["AnthropicBatchJudge", "create_batch_judge"]

# Error types in an errored batch result -> the HTTP status the synchronous API would have used.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicBatchJudge(ProviderBatchJudge):
    """One Claude model through the Message Batches API."""

    provider = PROVIDER
    env_var = ENV_VAR
    create_client = staticmethod(create_client)
    _client: anthropic.AsyncAnthropic

    async def submit_batch(self, requests: Mapping[str, JudgeRequest]) -> BatchHandle:
        """Render and validate everything, then create one batch; nothing is sent on bad input."""
        rendered = render_batch(requests)
        items = [
            {"custom_id": cid, "params": build_message_params(r, self.info)}
            for cid, r in rendered.items()
        ]
        try:
            batch = await self._client.messages.batches.create(requests=items)  # type: ignore[arg-type]
        except anthropic.APIError as exc:
            raise classify_sdk_error(exc, env_var=self.key_env_var) from exc
        return self.make_handle(batch.id, rendered)

    async def poll(self, handle: BatchHandle) -> BatchStatus:
        try:
            batch = await self._client.messages.batches.retrieve(handle.batch_id)
        except anthropic.APIError as exc:
            raise classify_sdk_error(exc, env_var=self.key_env_var) from exc
        counts = batch.request_counts
        state: BatchState = "ended" if batch.processing_status == "ended" else "in_progress"
        return BatchStatus(
            state=state,
            total=len(handle.items),
            succeeded=counts.succeeded,
            failed=counts.errored + counts.canceled + counts.expired,
            provider_status=batch.processing_status,
        )

    async def fetch_results(self, handle: BatchHandle) -> dict[str, Verdict | JudgeError]:
        """Every custom id -> its verdict or its error (results arrive in any order)."""
        items = {item.custom_id: item for item in handle.items}
        results: dict[str, Verdict | JudgeError] = {}
        latency = max(0.0, time.time() - handle.submitted_at)
        try:
            stream = await self._client.messages.batches.results(handle.batch_id)
            async for entry in stream:
                item = items.get(entry.custom_id)
                if item is not None:
                    results[item.custom_id] = self._outcome(entry.result, item, latency)
        except anthropic.APIError as exc:
            raise classify_sdk_error(exc, env_var=self.key_env_var) from exc
        except anthropic.AnthropicError as exc:  # e.g. results requested before the batch ended
            raise JudgeUnavailable(f"batch {handle.batch_id} has no results yet: {exc}") from exc
        except (ValueError, RecursionError) as exc:  # a results line the SDK cannot decode
            raise JudgeUnavailable(
                f"batch {handle.batch_id}: a results line could not be read "
                f"({type(exc).__name__}: {str(exc)[:200]}); fetch the results again"
            ) from exc
        return self.finish_results(handle, results)

    def _outcome(self, result: Any, item: BatchItem, latency: float) -> Verdict | JudgeError:
        if result.type == "succeeded":
            try:
                return parse_message(
                    result.message,
                    self.info,
                    request_sha256=item.request_sha256,
                    flags=item.flags,
                    latency_s=latency,
                )
            except JudgeOutputInvalid as exc:
                return exc
        if result.type == "errored":
            error = result.error.error
            status = _ERROR_STATUS.get(error.type, 500)
            return classify_status(status, error.message, provider=PROVIDER,
                                   env_var=self.key_env_var)
        return JudgeUnavailable(
            f"batch request {item.custom_id} {result.type} before it ran; submit it again"
        )


create_batch_judge = AnthropicBatchJudge.create
"""Batch mode for ``anthropic/<model>`` (the manifest must mark the model batch-capable):
``create_batch_judge(info, *, api_key=None, base_url=None, timeout=120.0, ledger=None)``."""
