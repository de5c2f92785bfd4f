"""What a finished batch produced: plain frozen values the reports serialise.

Every number here is what the code really computed: real standard errors, real comparison
counts (from the stored comparisons), costs from the verdicts (``None`` when a price is
unknown, never 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cjgrade.judges.injection import InjectionMatch
from cjgrade.stats.calibration import JudgeCalibration
from cjgrade.stats.quality import QualityReason, QualityThresholds
from cjgrade.store.records import ComparisonRecord

__all__ = [
    "AlignedAnchor",
    "AlignmentSection",
    "AnchorPredictions",
    "BatchResult",
    "CostLine",
    "EssayOutcome",
    "GradeModelSummary",
    "GradeOutcome",
    "GradesSection",
    "JudgeFitLine",
    "LeaveOneAnchorOut",
    "PositionBias",
    "QualitySection",
    "ReliabilitySection",
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
    reliability_method: str | None = None
    """How ``reliability`` was computed: ``posterior_sampled``, or ``laplace_empirical_bayes``
    (a round no stopping rule read, or a batch above the sampler's size); None for rounds
    stored before it was recorded."""


@dataclass(frozen=True)
class ReliabilitySection:
    """The scale's reliability: the conventional SSR and separation (maximum likelihood with
    sirt's eps = 0.3 score adjustment) beside the posterior reliability of the reported
    (prior-based) estimates the engine stops on."""

    ssr: float | None
    separation: float | None
    ssr_method: str
    """How the SSR was computed, or why it was not."""
    posterior_reliability: float | None
    posterior_reliability_method: str
    laplace_reliability: float | None
    prior_variance: float | None
    soft_noise_variance: float | None
    """Estimated noise variance of the soft outcomes' logits (None without soft outcomes)."""
    n_soft_comparisons: int
    n_comparisons_fitted: int


@dataclass(frozen=True)
class PositionBias:
    estimate: float | None
    """The fitted advantage of the essay shown first (logit scale)."""
    se: float | None
    a_slot_win_rate: float | None
    """Mean ``p_a`` of the successful comparisons."""


@dataclass(frozen=True)
class GradeModelSummary:
    kind: str
    cut_points: tuple[float, ...]
    slope: float
    n_anchors: int


@dataclass(frozen=True)
class AnchorPredictions:
    """The fitted grade model's most likely grade for each anchor it was fitted on (in
    sample)."""

    n: int
    exact: float | None
    within_one: float | None
    predicted: Mapping[str, str]
    """Anchor id -> predicted grade code."""


@dataclass(frozen=True)
class LeaveOneAnchorOut:
    n: int
    """Anchors evaluated."""
    exact: float | None
    within_one: float | None
    mean_p_true: float | None
    predicted: Mapping[str, str | None]
    """Anchor id -> grade predicted without it (None when it could not be evaluated)."""


@dataclass(frozen=True)
class GradesSection:
    """Whether grades were projected and, when they were, the grade model and its checks."""

    available: bool
    reason: str | None
    """Why grades are not available (None when they are)."""
    grade_scale: str | None
    grades: tuple[str, ...] = ()
    """The grade codes of the model's categories, lowest first (below-lowest included)."""
    model: GradeModelSummary | None = None
    anchor_predictions: AnchorPredictions | None = None
    leave_one_anchor_out: LeaveOneAnchorOut | None = None
    reliable: bool = False
    """Same as ``QualitySection.grades_reliable``."""


@dataclass(frozen=True)
class AlignedAnchor:
    essay_id: str
    grade: str
    theta: float
    fitted_rank: int
    expected_rank: int
    wins: int
    losses: int
    win_rate: float | None


@dataclass(frozen=True)
class AlignmentSection:
    """Anchor alignment (``cjgrade.stats.alignment``) with the anchors named by essay id."""

    n_anchors: int
    n_comparisons: int
    kendall_tau_b: float | None
    kendall_p_value: float | None
    direct_inversions: int
    """Distinct anchor pairs won by the lower-graded anchor."""
    inversion_decisions: int
    inversion_pairs: tuple[tuple[str, str], ...]
    """(lower-graded winner, higher-graded loser) essay ids."""
    zero_win_anchors: tuple[str, ...]
    problem_zero_win_anchors: tuple[str, ...]
    uncompared_anchors: tuple[str, ...]
    meets_targets: bool
    anchors: tuple[AlignedAnchor, ...]


@dataclass(frozen=True)
class QualitySection:
    """Whether the result may be presented as grades (``cjgrade.stats.quality``)."""

    status: str
    """``ok``, ``warning`` or ``degenerate``."""
    grades_reliable: bool
    """True only when grades are available and the status is not degenerate."""
    reasons: tuple[QualityReason, ...]
    checks: Mapping[str, str]
    figures: Mapping[str, float | int | str | None]
    thresholds: QualityThresholds


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
    grades: GradesSection
    judges: tuple[JudgeFitLine, ...] = ()
    costs: tuple[CostLine, ...] = ()
    reliability: ReliabilitySection | None = None
    """None when no scale was fitted (a boundary test)."""
    position_bias: PositionBias | None = None
    alignment: AlignmentSection | None = None
    """None with fewer than two anchors or without a grade scale."""
    quality: QualitySection | None = None
    """None when no scale was fitted: there is no grade quality to judge."""
    calibration: JudgeCalibration | None = None
    """The judge's stated certainty against the fitted scale (``cjgrade.stats.calibration``);
    None without a successful comparison."""
    failure_reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None

    @property
    def ssr(self) -> float | None:
        return self.reliability.ssr if self.reliability is not None else None

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
