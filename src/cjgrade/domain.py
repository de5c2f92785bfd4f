"""Domain values shared by every layer: essays and judged pairs. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Essay", "JudgedPair"]


@dataclass(frozen=True)
class Essay:
    """An essay in a batch. ``grade`` is set for anchors (expert grade) and None for students."""

    id: str
    text: str
    is_anchor: bool = False
    grade: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class JudgedPair:
    """One completed comparison in id space, as the statistics core's edge adapters consume it.

    ``p_a`` is the probability that the essay shown in slot A is the better one (1.0/0.0 for a
    hard decision, 0.5 for a tie, anything between for a soft outcome).
    """

    essay_a: str
    essay_b: str
    p_a: float
    judge: str = ""
    position_known: bool = True
