"""The error hierarchy.

Every error a user can cause or fix derives from :class:`CJGradeError`. The CLI maps each class
to an exit code and prints the message on one line; the API maps them to problem+json. Messages
say what went wrong *and* what to do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the judges package imports this module
    from cjgrade.judges.base import Usage
    from cjgrade.judges.cost import BilledSpend

__all__ = [
    "BusError",
    "BusUnavailable",
    "CJGradeError",
    "CircuitOpen",
    "ConfigError",
    "ConflictError",
    "ConvergenceError",
    "InputError",
    "JudgeAuthError",
    "JudgeError",
    "JudgeOutputInvalid",
    "JudgeRateLimited",
    "JudgeUnavailable",
    "StorageError",
]


class CJGradeError(Exception):
    """Base class of every cjgrade error."""

    exit_code: int = 1


class ConfigError(CJGradeError):
    """A setting, flag, environment variable or config file is missing or invalid."""

    exit_code = 2


class InputError(CJGradeError):
    """Input data (a file, a folder, a request body) is malformed or insufficient."""

    exit_code = 3


class ConflictError(InputError):
    """The request conflicts with existing state (a name taken, a scale locked by anchors or
    batches, a concurrent change); the API answers 409."""


class ConvergenceError(CJGradeError):
    """A numerical procedure failed to converge or the model is not identifiable."""

    exit_code = 4


class JudgeError(CJGradeError):
    """A judge (LLM provider or other) failed to deliver a verdict.

    ``retryable`` tells the runtime around the adapters whether trying again may help. The
    other fields are the failure's data, set by whoever learns them (an adapter reading a
    billed reply, the runtime at the end of its retries); the class defaults mean "none".
    """

    exit_code = 5
    retryable: bool = False
    billed_reply: bool = False
    """The provider answered and billed a reply that gave no verdict (invalid, refused)."""
    usage: Usage | None = None
    """Tokens of that billed reply; None when it was billed but its usage report is unusable
    (``usage_problem`` says why: its cost is then unknown, never 0)."""
    usage_problem: str | None = None
    """Why the billed reply's usage cannot be priced, or None."""
    raw_response: str | None = None
    """The billed reply as received, kept for audit."""
    billed: BilledSpend | None = None
    """Set by the runtime on the error a comparison finally fails with: the requests made and
    what every billed reply cost (read with :func:`cjgrade.judges.cost.billed_spend`)."""


class JudgeUnavailable(JudgeError):
    """A transient failure: HTTP 5xx, timeout, connection error, overloaded provider."""

    retryable = True


class CircuitOpen(JudgeUnavailable):
    """The provider's circuit breaker is open after consecutive transient failures: the call
    was refused before anything was sent, and the runtime does not retry it."""

    retryable = False


class JudgeAuthError(JudgeError):
    """The provider rejected the credentials; retrying will not help."""


class JudgeRateLimited(JudgeError):
    """The provider asked us to slow down (HTTP 429 or equivalent)."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the provider asked us to wait (``Retry-After``), or None."""


class JudgeOutputInvalid(JudgeError):
    """The provider answered, but the answer is not a valid verdict (malformed, truncated,
    refused). Retried a few times, then recorded as a failed comparison, never a default winner."""

    retryable = True


class StorageError(CJGradeError):
    """The database or content store failed or refused an operation."""

    exit_code = 6


class BusError(CJGradeError):
    """The event bus (in-process or Kafka) failed."""

    exit_code = 7


class BusUnavailable(BusError):
    """The broker cannot be reached right now (down, restarting, topic not yet re-created):
    try again later; nothing is wrong with what was sent."""
