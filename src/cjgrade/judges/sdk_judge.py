"""What the Anthropic and OpenAI adapters share: one call = render, send, classify, read.

A subclass names its provider and SDK module and supplies four steps: the request body
(:meth:`SdkJudge.build_params`), the SDK call returning the *raw* HTTP response
(:meth:`SdkJudge.send`, through the SDK's ``with_raw_response``), the usage reader for a reply
that is not valid as a whole (:meth:`SdkJudge.usage_from_mapping`) and the reply parser
(:meth:`SdkJudge.parse`). Everything else (the rendered-request hash, timing, mapping SDK
exceptions onto the error hierarchy, reading the reply body strictly, closing the client) is
here once.

Every reply body is read by :func:`~cjgrade.judges.strict_json.load_strict_json` before the SDK
turns it into objects: a duplicate key, ``NaN``, a number out of range or JSON nested 100,000
deep is invalid output (:class:`~cjgrade.errors.JudgeOutputInvalid`, billed, retried), never a
crash and never last-wins.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from cjgrade.errors import JudgeError, JudgeOutputInvalid, JudgeUnavailable
from cjgrade.judges.base import JudgeRequest, ModelInfo, Usage, Verdict
from cjgrade.judges.failures import classify_sdk_exception
from cjgrade.judges.prompt import RenderedPrompt, render_request
from cjgrade.judges.strict_json import StrictJsonError, find_last_object, load_strict_json
from cjgrade.judges.verdict import attach_reply, keep_raw

__all__ = ["SdkJudge"]

_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


class SdkJudge:
    """Base of the SDK-backed adapters: one attempt per :meth:`judge` call."""

    provider: ClassVar[str]
    """The adapter's provider name (``anthropic``, ``openai``): the one verdicts record."""
    env_var: ClassVar[str]
    """The key variable named in messages when the manifest gives none (direct use)."""
    sdk: ClassVar[Any]
    """The SDK module (``anthropic`` or ``openai``): its ``APIError`` family is classified."""

    def __init__(self, info: ModelInfo, client: Any, *, cache_namespace: str = "",
                 provider_name: str | None = None, key_env_var: str | None = None) -> None:
        self.info = info
        self.provider_name = provider_name or self.provider
        """The manifest provider this judge serves (e.g. ``openrouter`` through the openai
        adapter), named in every error message."""
        self.key_env_var = key_env_var or self.env_var
        """The key variable the manifest declares for that provider, named in auth errors."""
        self._client = client
        self.cache_namespace = cache_namespace
        """Non-empty for another endpoint than the provider's own (a proxy, a compatible
        server, a fake): verdicts from different endpoints never share cache entries."""
        timeout = getattr(client, "timeout", None)
        self.timeout_s: float | None = (
            float(timeout) if isinstance(timeout, int | float) else getattr(timeout, "read", None)
        )
        """The client's per-request timeout, named in the error when it fires."""

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.info.model}"

    def request_sha256(self, request: JudgeRequest) -> str:
        """SHA-256 of the exact request this adapter would send (used for cache keys)."""
        return render_request(request).request_sha256

    async def judge(self, request: JudgeRequest) -> Verdict:
        """One call: render, send, read. Raises a :class:`JudgeError` subclass on failure."""
        rendered = render_request(request)
        params = self.build_params(rendered)
        started = time.perf_counter()
        try:
            raw = await self.send(params)
            body = await _maybe_await(raw.read() if hasattr(raw, "read") else raw.content)
        except self.sdk.APIError as exc:
            raise classify_sdk_exception(exc, self.sdk, provider=self.provider_name,
                                         env_var=self.key_env_var,
                                         timeout_s=self.timeout_s) from exc
        except ValueError as exc:  # an unreadable body from the server
            raise JudgeUnavailable(
                f"{self.provider_name} API returned an unreadable response: {exc}"
            ) from exc
        latency = time.perf_counter() - started
        return await self.read_reply(raw, body, rendered, latency)

    async def read_reply(self, raw: Any, body: bytes, rendered: RenderedPrompt,
                         latency_s: float) -> Verdict:
        """The verdict in a 2xx reply body, read strictly; anything else is an error that
        carries what the reply was billed (as far as its usage report can be read)."""
        text = body.decode("utf-8", errors="replace")
        try:
            data = load_strict_json(body)
            if not isinstance(data, dict):
                raise StrictJsonError(f"a JSON {_JSON_TYPES.get(type(data), 'value')}, "
                                      "not an object")
        except StrictJsonError as exc:
            usage, problem = self._salvage_usage(text)
            error: JudgeError
            if exc.syntax:  # not a reply at all (cut off by a proxy, a glitch): try again
                error = JudgeUnavailable(f"{self.provider_name} API returned an unreadable "
                                         f"response: {exc}")
                if usage is None:
                    raise error from None
            else:
                error = JudgeOutputInvalid(f"{self.provider_name} reply: {exc}")
            raise attach_reply(error, usage, keep_raw(text), usage_problem=problem) from None
        try:
            reply = await _maybe_await(raw.parse())
        except Exception as exc:  # the SDK could not build its objects from the reply
            usage, problem = self._salvage_usage(text)
            error = JudgeOutputInvalid(f"{self.provider_name} reply has an unexpected shape: "
                                       f"{type(exc).__name__}: {str(exc)[:200]}")
            raise attach_reply(error, usage, keep_raw(text), usage_problem=problem) from None
        return self.parse(reply, rendered, latency_s, text)

    def _salvage_usage(self, text: str) -> tuple[Usage | None, str | None]:
        """The usage report of a reply that is invalid as a whole, or None and why not."""
        found = find_last_object(text, "usage")
        if found is None:
            return None, "no usage report could be read from the reply"
        try:
            data = load_strict_json(found)
            if not isinstance(data, Mapping):
                return None, "the usage report is not an object"
            return self.usage_from_mapping(data), None
        except (StrictJsonError, ValueError, TypeError) as exc:
            return None, f"usage report: {str(exc)[:200]}"

    async def aclose(self) -> None:
        await self._client.close()

    def build_params(self, rendered: RenderedPrompt) -> dict[str, Any]:
        raise NotImplementedError

    async def send(self, params: dict[str, Any]) -> Any:
        """Make the call; return the SDK's raw response (``with_raw_response``)."""
        raise NotImplementedError

    def usage_from_mapping(self, usage: Mapping[str, Any]) -> Usage:
        """The usage report as decoded JSON -> :class:`Usage` (raises ValueError if unusable)."""
        raise NotImplementedError

    def parse(self, reply: Any, rendered: RenderedPrompt, latency_s: float,
              raw_text: str) -> Verdict:
        raise NotImplementedError


async def _maybe_await(value: Any) -> Any:
    """The SDKs differ: openai's raw response reads and parses at once, anthropic's awaits."""
    return await value if inspect.isawaitable(value) else value
