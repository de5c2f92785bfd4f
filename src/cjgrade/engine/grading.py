"""Grade projection and anchor alignment for a finished batch, through ``cjgrade.stats``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cjgrade.engine.fitting import RoundEstimate
from cjgrade.engine.ledger import StoredComparison
from cjgrade.engine.results import GradeOutcome
from cjgrade.engine.spec import BatchSpec

__all__ = ["grade_batch"]


def grade_batch(
    spec: BatchSpec,
    estimate: RoundEstimate,
    comparisons: Sequence[StoredComparison],
    *,
    failed: bool,
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, GradeOutcome]]:
    """``(grades section, alignment section, projection per student id)``."""
    if failed:
        return {"available": False, "reason": "the batch failed", "grade_scale": None}, None, {}
    if not spec.grades_requested:
        return {"available": False, "reason": "grades were not requested",
                "grade_scale": spec.grade_scale}, None, {}
    return {"available": False, "reason": "grade projection not wired yet",
            "grade_scale": spec.grade_scale}, None, {}
