"""Domain values shared by every layer: the essay. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Essay"]


@dataclass(frozen=True)
class Essay:
    """An essay in a batch. ``grade`` is set for anchors (expert grade) and None for students."""

    id: str
    text: str
    is_anchor: bool = False
    grade: str | None = None
    label: str | None = None
