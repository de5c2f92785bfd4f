"""Provider failures -> the error hierarchy, shared by every HTTP adapter (synchronous and
batch): HTTP statuses, ``Retry-After``, SDK exceptions. One attempt is classified here; the
runtime decides what to retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from cjgrade.errors import (
    JudgeAuthError,
    JudgeError,
    JudgeRateLimited,
    JudgeUnavailable,
)
from cjgrade.judges.strict_json import show_value

__all__ = ["classify_sdk_exception", "classify_status", "parse_retry_after"]


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify_status(
    status: int,
    detail: str,
    *,
    provider: str,
    env_var: str | None,
    headers: Mapping[str, str] | None = None,
    error_code: str | None = None,
) -> JudgeError:
    """Map one HTTP failure to the error hierarchy (one attempt, the runtime decides retries).

    401/403 -> :class:`JudgeAuthError` naming the key variable; 429 ->
    :class:`JudgeRateLimited` with ``Retry-After`` (unless the quota is exhausted, which waiting
    cannot fix); 408/409/5xx/529 -> :class:`JudgeUnavailable`; any other 4xx -> a non-retryable
    :class:`JudgeError`.
    """
    where = f"{provider} API returned HTTP {status}: {detail}"
    if status in (401, 403):
        hint = f"check {env_var}" if env_var else "check the API key of the server"
        return JudgeAuthError(f"{where} ({hint})")
    if status == 429:
        if error_code == "insufficient_quota":
            return JudgeError(f"{where} (the account's quota is exhausted; add credit)")
        return JudgeRateLimited(where, retry_after=parse_retry_after(headers))
    if status in (408, 409) or status >= 500:
        return JudgeUnavailable(where)
    return JudgeError(where)


def classify_sdk_exception(exc: Exception, sdk: Any, *, provider: str, env_var: str | None,
                           timeout_s: float | None = None) -> JudgeError:
    """An ``anthropic`` or ``openai`` SDK exception -> the error hierarchy (both SDKs share the
    ``APITimeoutError`` / ``APIConnectionError`` / ``APIStatusError`` classes and body shape)."""
    if isinstance(exc, sdk.APITimeoutError):
        within = f" within {timeout_s:g} s" if timeout_s else ""
        return JudgeUnavailable(f"{provider} API: no answer{within} (per-request timeout)")
    if isinstance(exc, sdk.APIConnectionError):
        return JudgeUnavailable(f"cannot reach the {provider} API: {exc}")
    if isinstance(exc, sdk.APIStatusError):
        try:
            body = exc.body if isinstance(exc.body, Mapping) else {}
            inner = body.get("error")
            error: Mapping[str, Any] = inner if isinstance(inner, Mapping) else body
            message = error.get("message") or exc.message
            detail = message if isinstance(message, str) else show_value(message, 300)
            code = error.get("code") or getattr(exc, "code", None)
            code = code if isinstance(code, str) else None
        except Exception:  # an error body too odd to read still has a status
            detail, code = "unreadable error body", None
        if len(detail) > 500:
            detail = detail[:499] + "…"
        return classify_status(
            exc.status_code,
            detail,
            provider=provider,
            env_var=env_var,
            headers=dict(exc.response.headers),
            error_code=code,
        )
    return JudgeUnavailable(f"{provider} API returned an unusable response: {exc}")
