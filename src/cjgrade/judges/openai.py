"""``openai/<model>``: chat completions through the official ``openai`` SDK (``AsyncOpenAI``),
and any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenRouter) via ``base_url``.

One attempt per call; the runtime around the adapters retries, limits, caches and prices.

- Structured outputs: ``response_format`` = strict ``json_schema`` of the verdict.
- Reasoning models (``ModelInfo.supports_reasoning``): no temperature, ``max_completion_tokens``
  (the verdict budget plus a reasoning allowance per effort), ``reasoning_effort``.
- Other models: ``temperature`` when supported, ``max_tokens`` on compatible servers (which do
  not all know ``max_completion_tokens``) and ``max_completion_tokens`` on api.openai.com;
  ``logprobs`` with the top 5 alternatives when the model supports them, so ``p_a`` comes from
  the winner token's probabilities instead of the stated confidence.
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
    import openai
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError("the OpenAI SDK is not installed: pip install 'cjgrade[openai]'") from exc

from cjgrade.judges.base import ModelInfo, Usage, Verdict
from cjgrade.judges.prompt import RenderedPrompt
from cjgrade.judges.sdk_judge import SdkJudge
from cjgrade.judges.verdict import (
    VERDICT_TOOL_NAME,
    ParsedVerdict,
    TokenLogprob,
    classify_sdk_exception,
    openai_response_schema,
    p_a_from_logprobs,
    parse_verdict_json,
    reply_meta,
    token_count,
    verdict_from_reply,
)

__all__ = [
    "ENV_VAR",
    "LOCAL_SERVER_KEY",
    "REASONING_ALLOWANCE",
    "OpenAIJudge",
    "build_chat_params",
    "classify_sdk_error",
    "create_client",
    "create_judge",
    "parse_completion",
]

PROVIDER = "openai"
ENV_VAR = "OPENAI_API_KEY"
LOCAL_SERVER_KEY = "no-key-for-local-server"
"""Sent as the bearer token to an explicit ``base_url`` when no key is set: local servers
(vLLM, llama.cpp, Ollama) ignore it; a hosted one answers 401, reported as an auth error."""

REASONING_ALLOWANCE: dict[str, int] = {"none": 0, "low": 2048, "medium": 8000, "high": 16000}
"""Tokens added to ``max_completion_tokens`` for hidden reasoning, per effort (the same budgets
as Anthropic's extended thinking), so reasoning cannot eat the verdict's own budget."""

TOP_LOGPROBS = 5


def create_client(
    *, api_key: str | None, base_url: str | None, timeout: float,
    provider: str = PROVIDER, env_var: str | None = ENV_VAR,
) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` with SDK retries disabled.

    Without a key: an error naming ``env_var`` (the manifest's key variable of ``provider``)
    when there is no ``base_url``; for an explicit ``base_url`` (a local server) a placeholder
    key is sent instead.
    """
    key = api_key or (os.environ.get(env_var) if env_var else None)
    if not key:
        if base_url is None:
            raise JudgeAuthError(
                f"no {provider} API key: set {env_var} (or pass api_key) to use {provider}/ "
                "judges; for a local OpenAI-compatible server pass its --base-url"
            )
        key = LOCAL_SERVER_KEY
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)


def create_judge(
    info: ModelInfo,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float = 120.0,
    provider: str = PROVIDER,
    env_var: str | None = ENV_VAR,
) -> OpenAIJudge:
    """The registry's factory for ``openai/<model>`` (``base_url`` for compatible servers).

    ``provider`` and ``env_var`` are the manifest provider served (``openrouter`` uses this
    adapter too) and its key variable: error messages name them.
    """
    client = create_client(api_key=api_key, base_url=base_url, timeout=timeout,
                           provider=provider, env_var=env_var)
    return OpenAIJudge(info, client, compatible_server=base_url is not None,
                       provider_name=provider, key_env_var=env_var)


class OpenAIJudge(SdkJudge):
    """One OpenAI (or OpenAI-compatible) model as a :class:`cjgrade.judges.base.Judge`."""

    provider = PROVIDER
    env_var = ENV_VAR
    sdk: ClassVar[Any] = openai

    def __init__(
        self, info: ModelInfo, client: openai.AsyncOpenAI, *, compatible_server: bool = False,
        provider_name: str | None = None, key_env_var: str | None = None,
    ) -> None:
        # The same model name on two servers is two judges: they never share cache entries.
        super().__init__(info, client,
                         cache_namespace=str(client.base_url) if compatible_server else "",
                         provider_name=provider_name, key_env_var=key_env_var)
        self.compatible_server = compatible_server

    def build_params(self, rendered: RenderedPrompt) -> dict[str, Any]:
        return build_chat_params(rendered, self.info, compatible_server=self.compatible_server)

    async def send(self, params: dict[str, Any]) -> Any:
        return await self._client.chat.completions.with_raw_response.create(**params)

    def usage_from_mapping(self, usage: Mapping[str, Any]) -> Usage:
        return usage_from(usage)

    def parse(self, reply: Any, rendered: RenderedPrompt, latency_s: float,
              raw_text: str) -> Verdict:
        return parse_completion(reply, self.info, request_sha256=rendered.request_sha256,
                                flags=rendered.flags, latency_s=latency_s,
                                raw_response=raw_text)


def build_chat_params(
    rendered: RenderedPrompt, info: ModelInfo, *, compatible_server: bool = False
) -> dict[str, Any]:
    """The chat-completions request body (also the ``body`` of a Batch API line)."""
    settings = rendered.settings
    effort = settings.reasoning_effort
    params: dict[str, Any] = {
        "model": info.model,
        "messages": [
            {"role": "system", "content": rendered.system},
            {"role": "user", "content": rendered.user_text},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": VERDICT_TOOL_NAME,
                "strict": True,
                "schema": openai_response_schema(),
            },
        },
    }
    if settings.output_verbosity is not None:
        params["verbosity"] = settings.output_verbosity
    if info.supports_reasoning:
        allowance = REASONING_ALLOWANCE[effort] if effort else REASONING_ALLOWANCE["medium"]
        params["max_completion_tokens"] = _cap(settings.max_tokens + allowance, info)
        if effort is not None:
            params["reasoning_effort"] = effort
        return params
    if effort not in (None, "none"):
        raise ConfigError(
            f"{PROVIDER}/{info.model} is not a reasoning model: "
            "use reasoning effort 'none' or a model with reasoning"
        )
    limit_key = "max_tokens" if compatible_server else "max_completion_tokens"
    params[limit_key] = _cap(settings.max_tokens, info)
    if settings.temperature is not None and info.supports_temperature:
        params["temperature"] = settings.temperature
    if info.supports_logprobs:
        params["logprobs"] = True
        params["top_logprobs"] = TOP_LOGPROBS
    return params


def _cap(tokens: int, info: ModelInfo) -> int:
    cap = info.max_output_tokens
    return min(tokens, cap) if cap is not None else tokens


def parse_completion(
    completion: Any,
    info: ModelInfo,
    *,
    request_sha256: str,
    flags: tuple[str, ...],
    latency_s: float,
    raw_response: str | None = None,
) -> Verdict:
    """A chat completion -> :class:`Verdict`, or :class:`JudgeOutputInvalid` with the reason.

    An invalid reply was still billed: the error carries ``usage`` and ``raw_response`` (the
    body as received when given, else the completion serialised).
    """
    meta = reply_meta(
        PROVIDER, info.model, request_sha256, flags, latency_s,
        usage=lambda: usage_from(completion.usage),
        raw=lambda: raw_response if raw_response is not None
        else completion.model_dump_json(warnings=False),
    )
    return verdict_from_reply(meta, lambda: _read_choice(completion))


def _read_choice(completion: Any) -> tuple[ParsedVerdict, float | None]:
    if not completion.choices:
        raise JudgeOutputInvalid("the completion has no choices")
    choice = completion.choices[0]
    message = choice.message
    refusal = getattr(message, "refusal", None)
    if refusal:
        raise JudgeOutputInvalid(f"refused: {refusal[:200]}")
    if choice.finish_reason == "length":
        raise JudgeOutputInvalid("truncated: finish_reason=length before the verdict was complete")
    if choice.finish_reason == "content_filter":
        raise JudgeOutputInvalid("refused: finish_reason=content_filter")
    parsed = parse_verdict_json(message.content)
    return parsed, _p_a_from_choice(choice, message.content)


def _p_a_from_choice(choice: Any, content: str) -> float | None:
    logprobs = getattr(choice, "logprobs", None)
    tokens = getattr(logprobs, "content", None) if logprobs is not None else None
    if not tokens:
        return None
    converted = [
        TokenLogprob(
            token=t.token,
            logprob=t.logprob,
            top={alt.token: alt.logprob for alt in (t.top_logprobs or [])},
        )
        for t in tokens
    ]
    return p_a_from_logprobs(converted, content)


def usage_from(usage: Any) -> Usage:
    """The SDK usage (or its JSON) -> :class:`Usage`; ``prompt_tokens`` includes cached ones,
    split here.

    Raises
    ------
    ValueError
        Naming the field, for a count that is not a non-negative integer or more cached
        tokens than prompt tokens (such a report cannot be priced).
    """
    if usage is None:
        raise ValueError("the reply has no usage report")
    details = _field(usage, "prompt_tokens_details")
    cached = token_count(_field(details, "cached_tokens"), "prompt_tokens_details.cached_tokens")
    prompt = token_count(_field(usage, "prompt_tokens"), "prompt_tokens")
    if cached > prompt:
        raise ValueError(f"cached_tokens={cached} is more than prompt_tokens={prompt}")
    return Usage(
        input_tokens=prompt - cached,
        output_tokens=token_count(_field(usage, "completion_tokens"), "completion_tokens"),
        cache_read_tokens=cached,
        cache_write_tokens=0,
    )


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def classify_sdk_error(exc: openai.APIError, *, env_var: str | None = ENV_VAR) -> JudgeError:
    """One SDK exception -> the error hierarchy; ``env_var`` is the manifest's key variable."""
    return classify_sdk_exception(exc, openai, provider=PROVIDER, env_var=env_var)
