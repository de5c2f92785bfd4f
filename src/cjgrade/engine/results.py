"""What a finished batch produced: plain frozen values the reports serialise.

Every number here is what the code really computed: real standard errors, real comparison
counts (from the stored comparisons), costs from the verdicts (``None`` when a price is
unknown, never 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cjgrade.judges.injection import InjectionMatch
from cjgrade.store.records import ComparisonRecord

__all__ = [
    "BatchResult",
    "CostLine",
    "EssayOutcome",
    "GradeOutcome",
    "JudgeFitLine",
    "RoundSummary",
]


@dataclass(frozen=True)
class GradeOutcome:
    """A grade distribution for one essay."""

    grade: str
    """Most likely grade."""
    probabilities: dict[str, float]
    expected: float | None = None
    """Expected grade index (0 = lowest grade of the scale)."""
    confidence: float | None = None
    confidence_label: str | None = None
    reliable: bool = True
    """False when the result is degenerate (see ``BatchResult.quality``): do not use it."""


@dataclass(frozen=True)
class EssayOutcome:
    essay_id: str
    is_anchor: bool
    theta: float
    se: float
    rank: int
    n_comparisons: int
    """Successful comparisons this essay took part in (the count the fit used)."""
    wins: float
    n_failed: int = 0
    a_slot: int = 0
    b_slot: int = 0
    anchor_grade: str | None = None
    file_name: str | None = None
    infit: float | None = None
    outfit: float | None = None
    grade: GradeOutcome | None = None
    injection_flags: tuple[InjectionMatch, ...] = ()
    """Text in the essay aimed at the judge (``cjgrade.judges.injection``): one code and the
    sentence per kind found; empty when none. Flagged only: the essay was judged as written."""


@dataclass(frozen=True)
class JudgeFitLine:
    judge: str
    n_comparisons: int
    infit: float | None = None
    outfit: float | None = None


@dataclass(frozen=True)
class CostLine:
    provider: str
    model: str
    comparisons: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float | None
    """None when at least one call of this model had an unknown price."""
    cache_hits: int = 0
    """Verdicts served from the response cache: paid for once, by an earlier run or an
    earlier comparison, and free this time (cost 0, no tokens, ``attempts`` 0)."""
    usage_unusable: int = 0
    """Verdicts whose usage report could not be priced (negative, non-integer or implausible
    token counts; flag ``usage_unusable:<reason>``): their cost is unknown, so ``cost_usd``
    is None."""


@dataclass(frozen=True)
class RoundSummary:
    round: int
    n_comparisons: int
    """Successful comparisons in the fit after this round (cumulative)."""
    ssr: float | None
    reliability: float | None
    max_theta_change: float | None
    stop: bool
    stop_reason: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """Everything finalisation computed for one batch."""

    batch_uuid: str
    label: str | None
    status: str
    """``completed`` or ``failed``."""
    stop_reason: str
    grade_scale: str | None
    assignment_id: str | None
    judge: str
    options: dict[str, Any]
    essays: tuple[EssayOutcome, ...]
    comparisons: tuple[ComparisonRecord, ...]
    """Every stored comparison, successful or not (pending ones only in a partial artefact)."""
    rounds: tuple[RoundSummary, ...]
    judges: tuple[JudgeFitLine, ...] = ()
    costs: tuple[CostLine, ...] = ()
    reliability: dict[str, Any] = field(default_factory=dict)
    position_bias: dict[str, Any] = field(default_factory=dict)
    grades: dict[str, Any] = field(default_factory=dict)
    """``available``, ``reason`` when not, the grade model and leave-one-anchor-out check."""
    alignment: dict[str, Any] | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    """``status`` (``ok``/``warning``/``degenerate``), ``grades_reliable``, ``reasons``: whether
    the result may be presented as grades (``cjgrade.stats.quality``)."""
    calibration: dict[str, Any] | None = None
    """The judge's stated certainty against the fitted scale (``cjgrade.stats.calibration``)."""
    failure_reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None

    @property
    def students(self) -> tuple[EssayOutcome, ...]:
        return tuple(e for e in self.essays if not e.is_anchor)

    @property
    def anchors(self) -> tuple[EssayOutcome, ...]:
        return tuple(e for e in self.essays if e.is_anchor)

    @property
    def n_succeeded(self) -> int:
        return sum(1 for c in self.comparisons if c.status == "succeeded")

    @property
    def n_failed(self) -> int:
        return sum(1 for c in self.comparisons if c.status == "failed")

    @property
    def total_cost_usd(self) -> float | None:
        if any(line.cost_usd is None for line in self.costs):
            return None
        return sum(line.cost_usd or 0.0 for line in self.costs)
