"""``anthropic/<model>``: Claude through the official ``anthropic`` SDK (``AsyncAnthropic``).

One attempt per call; failures are classified into the error hierarchy and the runtime around
the adapters retries, limits, caches and prices (so the SDK's own retries are off).

- The verdict comes through forced tool use: one tool whose ``input_schema`` is the verdict
  schema, ``tool_choice`` naming it.
- Prompt caching: ``cache_control`` on the system block and on the last static block of the
  user message, so tools + system + assignment/instructions/rubric/response instructions are
  one cached prefix shared by every comparison of an assignment.
- Reasoning effort low/medium/high becomes an extended-thinking budget. The API rejects a
  forced ``tool_choice`` (and a custom temperature) together with thinking, so with thinking
  on the tool is offered with ``tool_choice: auto`` and a reply without the tool call is
  invalid output, not a default verdict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from cjgrade.errors import (
    ConfigError,
    JudgeAuthError,
    JudgeError,
    JudgeOutputInvalid,
)

try:
    import anthropic
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError(
        "the Anthropic SDK is not installed: pip install 'cjgrade[anthropic]'"
    ) from exc

from cjgrade.judges.base import ModelInfo, Usage, Verdict
from cjgrade.judges.prompt import RenderedPrompt
from cjgrade.judges.sdk_judge import SdkJudge
from cjgrade.judges.verdict import (
    VERDICT_SCHEMA,
    VERDICT_TOOL_NAME,
    ParsedVerdict,
    classify_sdk_exception,
    parse_verdict_payload,
    reply_meta,
    token_count,
    verdict_from_reply,
)

__all__ = [
    "ENV_VAR",
    "THINKING_BUDGETS",
    "AnthropicJudge",
    "build_message_params",
    "classify_sdk_error",
    "create_client",
    "create_judge",
    "parse_message",
]

PROVIDER = "anthropic"
ENV_VAR = "ANTHROPIC_API_KEY"

THINKING_BUDGETS: dict[str, int] = {"low": 2048, "medium": 8000, "high": 16000}
"""Extended-thinking budget tokens per reasoning effort (the API minimum is 1024). The verdict's
own ``max_tokens`` is added on top, so thinking cannot eat the answer's budget."""

_TOOL_DESCRIPTION = (
    "Record your comparative judgement of essay A versus essay B. Call this exactly once."
)


def create_client(
    *, api_key: str | None, base_url: str | None, timeout: float,
    provider: str = PROVIDER, env_var: str | None = ENV_VAR,
) -> anthropic.AsyncAnthropic:
    """An ``AsyncAnthropic`` with SDK retries disabled; a missing key fails before any call,
    naming ``env_var`` (the manifest's key variable of ``provider``)."""
    key = api_key or (os.environ.get(env_var) if env_var else None)
    if not key:
        raise JudgeAuthError(
            f"no {provider} API key: set {env_var} (or pass api_key) to use {provider}/ judges"
        )
    return anthropic.AsyncAnthropic(
        api_key=key, base_url=base_url, timeout=timeout, max_retries=0
    )


def create_judge(
    info: ModelInfo,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float = 120.0,
    provider: str = PROVIDER,
    env_var: str | None = ENV_VAR,
) -> AnthropicJudge:
    """The registry's factory for ``anthropic/<model>``; ``provider`` and ``env_var`` (the
    manifest's) are named in error messages."""
    client = create_client(api_key=api_key, base_url=base_url, timeout=timeout,
                           provider=provider, env_var=env_var)
    return AnthropicJudge(info, client, provider_name=provider, key_env_var=env_var)


class AnthropicJudge(SdkJudge):
    """One Claude model as a :class:`cjgrade.judges.base.Judge`."""

    provider = PROVIDER
    env_var = ENV_VAR
    sdk: ClassVar[Any] = anthropic

    def __init__(self, info: ModelInfo, client: anthropic.AsyncAnthropic, *,
                 provider_name: str | None = None, key_env_var: str | None = None) -> None:
        own = client.base_url.host == "api.anthropic.com"
        super().__init__(info, client, cache_namespace="" if own else str(client.base_url),
                         provider_name=provider_name, key_env_var=key_env_var)

    def build_params(self, rendered: RenderedPrompt) -> dict[str, Any]:
        return build_message_params(rendered, self.info)

    async def send(self, params: dict[str, Any]) -> Any:
        # SDK 2.x no longer types sampling parameters; the API still takes them on models that
        # support them, so temperature travels as an extra body field.
        extra_body = {"temperature": params.pop("temperature")} if "temperature" in params else None
        return await self._client.messages.with_raw_response.create(**params,
                                                                    extra_body=extra_body)

    def usage_from_mapping(self, usage: Mapping[str, Any]) -> Usage:
        return usage_from(usage)

    def parse(self, reply: Any, rendered: RenderedPrompt, latency_s: float,
              raw_text: str) -> Verdict:
        return parse_message(reply, self.info, request_sha256=rendered.request_sha256,
                             flags=rendered.flags, latency_s=latency_s, raw_response=raw_text)


def build_message_params(rendered: RenderedPrompt, info: ModelInfo) -> dict[str, Any]:
    """The Messages API request body (also the ``params`` of a Message Batches request)."""
    settings = rendered.settings
    effort = settings.reasoning_effort
    budget = THINKING_BUDGETS.get(effort) if effort else None
    if budget is not None and not info.supports_reasoning:
        raise ConfigError(
            f"{PROVIDER}/{info.model} does not support extended thinking: "
            f"use reasoning effort 'none' or a model with reasoning"
        )
    if settings.output_verbosity is not None:
        raise ConfigError(
            f"{PROVIDER}/{info.model}: the Messages API has no output verbosity setting; leave "
            "--output-verbosity unset for Anthropic models"
        )
    static = rendered.static_blocks
    content: list[dict[str, Any]] = []
    for block in rendered.blocks:
        item: dict[str, Any] = {"type": "text", "text": block.text}
        if static and block is static[-1]:
            item["cache_control"] = {"type": "ephemeral"}
        content.append(item)
    params: dict[str, Any] = {
        "model": info.model,
        "system": [
            {"type": "text", "text": rendered.system, "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": content}],
        "tools": [
            {
                "name": VERDICT_TOOL_NAME,
                "description": _TOOL_DESCRIPTION,
                "input_schema": VERDICT_SCHEMA,
            }
        ],
        "max_tokens": _max_tokens(settings.max_tokens, budget, info),
    }
    if budget is not None:
        params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        params["tool_choice"] = {"type": "auto"}
    else:
        params["tool_choice"] = {"type": "tool", "name": VERDICT_TOOL_NAME}
        if settings.temperature is not None and info.supports_temperature:
            params["temperature"] = settings.temperature
    return params


def _max_tokens(answer: int, budget: int | None, info: ModelInfo) -> int:
    total = answer + (budget or 0)
    cap = info.max_output_tokens
    if cap is not None and total > cap:
        if budget is not None and cap <= budget:
            raise ConfigError(
                f"{PROVIDER}/{info.model} allows {cap} output tokens, "
                f"less than the thinking budget {budget}: lower the reasoning effort"
            )
        total = cap
    return total


def parse_message(
    message: anthropic.types.Message,
    info: ModelInfo,
    *,
    request_sha256: str,
    flags: tuple[str, ...],
    latency_s: float,
    raw_response: str | None = None,
) -> Verdict:
    """A Messages API reply -> :class:`Verdict`, or :class:`JudgeOutputInvalid` with the reason.

    An invalid reply was still billed: the error carries ``usage`` and ``raw_response`` (the
    body as received when given, else the message serialised).
    """
    meta = reply_meta(
        PROVIDER, info.model, request_sha256, flags, latency_s,
        usage=lambda: usage_from(message.usage),
        raw=lambda: raw_response if raw_response is not None
        else message.model_dump_json(warnings=False),
    )
    return verdict_from_reply(meta, lambda: (_read_tool_call(message), None))


def _read_tool_call(message: anthropic.types.Message) -> ParsedVerdict:
    stop = message.stop_reason
    if stop in ("max_tokens", "model_context_window_exceeded"):
        raise JudgeOutputInvalid(f"truncated: stop_reason={stop} before the verdict was complete")
    if stop == "refusal":
        raise JudgeOutputInvalid("refused: the model declined to judge (stop_reason=refusal)")
    calls = [
        b for b in (message.content or ())
        if getattr(b, "type", None) == "tool_use" and getattr(b, "name", None) == VERDICT_TOOL_NAME
    ]
    if not calls:
        raise JudgeOutputInvalid(
            f"no {VERDICT_TOOL_NAME} tool call in the reply (stop_reason={stop})"
        )
    if len(calls) > 1:
        raise JudgeOutputInvalid(f"{len(calls)} {VERDICT_TOOL_NAME} tool calls, expected one")
    return parse_verdict_payload(calls[0].input)


def usage_from(usage: Any) -> Usage:
    """The SDK usage (or its JSON) -> :class:`Usage` (``input_tokens`` excludes cache reads
    and writes).

    Raises
    ------
    ValueError
        Naming the field, for a count that is not a non-negative integer.
    """
    def count(name: str) -> int:
        value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
        return token_count(value, name)

    if usage is None:
        raise ValueError("the reply has no usage report")
    return Usage(
        input_tokens=count("input_tokens"),
        output_tokens=count("output_tokens"),
        cache_read_tokens=count("cache_read_input_tokens"),
        cache_write_tokens=count("cache_creation_input_tokens"),
    )


def classify_sdk_error(exc: anthropic.APIError, *, env_var: str | None = ENV_VAR) -> JudgeError:
    """One SDK exception -> the error hierarchy; ``env_var`` is the manifest's key variable."""
    return classify_sdk_exception(exc, anthropic, provider=PROVIDER, env_var=env_var)
