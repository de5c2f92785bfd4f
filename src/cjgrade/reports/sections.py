"""The JSON shape of a batch result's analysis sections in the artefact.

The engine hands over typed values (:mod:`cjgrade.engine.results`); this module alone decides
their keys in ``assessment_run.json`` (``reliability``, ``position_bias``, ``grades``,
``alignment``, ``quality``, ``calibration``), as ``reports/schema/assessment_run.schema.json``
describes them. A section the batch did not compute (no scale fitted) gets the shape the schema
gives an absent figure: nulls, or no key at all for ``quality``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cjgrade.engine.grading import CONFIDENCE_LABELS
from cjgrade.engine.results import (
    AlignmentSection,
    BatchResult,
    GradesSection,
    PositionBias,
    QualitySection,
    ReliabilitySection,
)
from cjgrade.stats.calibration import CalibrationCell, JudgeCalibration

__all__ = ["CALIBRATION_METHOD", "analysis_sections", "quality_json"]

CALIBRATION_METHOD = (
    "agreement of each verdict with the final fitted scale (in-sample): observed = share with "
    "theta(chosen) > theta(other); predicted = mean "
    "Phi((theta_c - theta_o) / sqrt(se_c^2 + se_o^2))"
)


def reliability_json(section: ReliabilitySection | None) -> dict[str, Any]:
    if section is None:
        return {"ssr": None, "separation": None}
    return asdict(section)


def position_bias_json(section: PositionBias | None) -> dict[str, Any]:
    if section is None:
        return {"estimate": None, "se": None, "a_slot_win_rate": None}
    return asdict(section)


def grades_json(section: GradesSection) -> dict[str, Any]:
    doc: dict[str, Any] = {"available": section.available, "reason": section.reason,
                           "grade_scale": section.grade_scale, "reliable": section.reliable}
    if section.model is not None:
        doc.update(
            grades=list(section.grades),
            model=asdict(section.model),
            anchor_predictions=(None if section.anchor_predictions is None
                                else asdict(section.anchor_predictions)),
            leave_one_anchor_out=(None if section.leave_one_anchor_out is None
                                  else asdict(section.leave_one_anchor_out)),
            confidence_labels=CONFIDENCE_LABELS,
        )
        doc["model"]["cut_points"] = list(section.model.cut_points)
    return doc


def alignment_json(section: AlignmentSection | None) -> dict[str, Any] | None:
    if section is None:
        return None
    doc = asdict(section)
    doc["inversion_pairs"] = [list(pair) for pair in section.inversion_pairs]
    for key in ("zero_win_anchors", "problem_zero_win_anchors", "uncompared_anchors",
                "anchors"):
        doc[key] = list(doc[key])
    return doc


def quality_json(section: QualitySection) -> dict[str, Any]:
    return {
        "status": section.status,
        "grades_reliable": section.grades_reliable,
        "reasons": [asdict(r) for r in section.reasons],
        "checks": dict(section.checks),
        "figures": dict(section.figures),
        "thresholds": asdict(section.thresholds),
    }


def _cell(c: CalibrationCell) -> dict[str, Any]:
    return {
        "label": c.label, "lower": c.lower, "upper": c.upper, "level": c.level, "n": c.n,
        "mean_stated_p_chosen": c.mean_stated, "observed_agreement": c.observed_agreement,
        "predicted_agreement": c.predicted_agreement, "anchor_pairs": c.anchor_pairs,
        "anchor_agreement": c.anchor_agreement,
    }


def calibration_json(cal: JudgeCalibration | None) -> dict[str, Any] | None:
    if cal is None:
        return None
    return {
        "method": CALIBRATION_METHOD,
        "n_comparisons": cal.overall.n,
        "n_undecided": cal.n_undecided,
        "hard_outcomes": cal.hard_outcomes,
        "calibration_error": cal.calibration_error,
        "overall": _cell(cal.overall),
        "bins": [_cell(c) for c in cal.bins],
        "confidence_levels": [_cell(c) for c in cal.levels],
    }


def analysis_sections(result: BatchResult) -> dict[str, Any]:
    """The artefact's analysis sections of ``result``, keyed as in the artefact (``quality``
    only when the batch has one)."""
    doc: dict[str, Any] = {
        "reliability": reliability_json(result.reliability),
        "position_bias": position_bias_json(result.position_bias),
        "grades": grades_json(result.grades),
        "alignment": alignment_json(result.alignment),
        "calibration": calibration_json(result.calibration),
    }
    if result.quality is not None:
        doc["quality"] = quality_json(result.quality)
    return doc
