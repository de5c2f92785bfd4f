"""The error hierarchy.

Every error a user can cause or fix derives from :class:`CJGradeError`. The CLI maps each class
to an exit code and prints the message on one line; the API maps them to problem+json. Messages
say what went wrong *and* what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BusError",
    "CJGradeError",
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

    ``retryable`` tells the runtime around the adapters whether trying again may help.
    """

    exit_code = 5
    retryable: bool = False


class JudgeUnavailable(JudgeError):
    """A transient failure: HTTP 5xx, timeout, connection error, overloaded provider."""

    retryable = True


class JudgeAuthError(JudgeError):
    """The provider rejected the credentials; retrying will not help."""


class JudgeRateLimited(JudgeError):
    """The provider asked us to slow down (HTTP 429 or equivalent)."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
