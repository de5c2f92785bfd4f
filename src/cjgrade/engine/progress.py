"""Progress reporting from the engine to whoever watches (a Rich bar, a log, a test)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["NullProgress", "Progress", "ProgressListener"]


@dataclass(frozen=True)
class Progress:
    """A snapshot after a stored outcome or a refit."""

    batch_uuid: str
    round: int
    requested: int
    """Comparisons requested so far (the budget counts these)."""
    done: int
    """Comparisons with a stored outcome (succeeded or failed)."""
    failed: int
    budget: int
    cost_usd: float | None
    """Cost so far; None when a price is unknown."""
    ssr: float | None = None
    reliability: float | None = None


class ProgressListener(Protocol):
    def on_progress(self, progress: Progress) -> None: ...


class NullProgress:
    """Ignores progress."""

    def on_progress(self, progress: Progress) -> None:
        return None
