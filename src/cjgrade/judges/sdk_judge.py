"""What the Anthropic and OpenAI adapters share: one call = render, send, classify, parse.

A subclass names its provider and SDK module and supplies three steps: the request body
(:meth:`SdkJudge.build_params`), the SDK call (:meth:`SdkJudge.send`) and the reply parser
(:meth:`SdkJudge.parse`). Everything else (the rendered-request hash, timing, mapping SDK
exceptions onto the error hierarchy, closing the client) is here once.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from cjgrade.errors import JudgeUnavailable
from cjgrade.judges.base import JudgeRequest, ModelInfo, Verdict
from cjgrade.judges.prompt import RenderedPrompt, render_request
from cjgrade.judges.verdict import classify_sdk_exception

__all__ = ["SdkJudge"]


class SdkJudge:
    """Base of the SDK-backed adapters: one attempt per :meth:`judge` call."""

    provider: ClassVar[str]
    env_var: ClassVar[str]
    sdk: ClassVar[Any]
    """The SDK module (``anthropic`` or ``openai``): its ``APIError`` family is classified."""

    def __init__(self, info: ModelInfo, client: Any, *, cache_namespace: str = "") -> None:
        self.info = info
        self._client = client
        self.cache_namespace = cache_namespace
        """Non-empty for another endpoint than the provider's own (a proxy, a compatible
        server, a fake): verdicts from different endpoints never share cache entries."""

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.info.model}"

    def request_sha256(self, request: JudgeRequest) -> str:
        """SHA-256 of the exact request this adapter would send (used for cache keys)."""
        return render_request(request).request_sha256

    async def judge(self, request: JudgeRequest) -> Verdict:
        """One call: render, send, parse. Raises a :class:`JudgeError` subclass on failure."""
        rendered = render_request(request)
        params = self.build_params(rendered)
        started = time.perf_counter()
        try:
            reply = await self.send(params)
        except self.sdk.APIError as exc:
            raise classify_sdk_exception(exc, self.sdk, provider=self.provider,
                                         env_var=self.env_var) from exc
        except ValueError as exc:  # an unreadable body (e.g. invalid JSON) from the server
            raise JudgeUnavailable(
                f"{self.provider} API returned an unreadable response: {exc}"
            ) from exc
        return self.parse(reply, rendered, time.perf_counter() - started)

    async def aclose(self) -> None:
        await self._client.close()

    def build_params(self, rendered: RenderedPrompt) -> dict[str, Any]:
        raise NotImplementedError

    async def send(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def parse(self, reply: Any, rendered: RenderedPrompt, latency_s: float) -> Verdict:
        raise NotImplementedError
