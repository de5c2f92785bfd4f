"""JSON Schema of the mode-specific parts of the runner artefact's ``runner`` section:
``anchor_alignment`` (:mod:`cjgrade.runner.eng5.align`), ``boundary_test``
(:mod:`cjgrade.runner.eng5.boundary`) and ``cluster`` (:mod:`cjgrade.runner.eng5.remote`).

:func:`cjgrade.runner.eng5.artefact.build_runner_schema` puts them into the shipped schema;
every key the modes write is declared here (no extra key is allowed), so a change to what a
mode writes must change this file and regenerate the schema (a test keeps them in step).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ANCHOR_ALIGNMENT", "BOUNDARY_TEST", "CLUSTER"]

_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_COUNT = {"type": "integer", "minimum": 0}
_NUMBER = {"type": ["number", "null"]}
_TEXT = {"type": ["string", "null"]}
_IDS = {"type": "array", "items": {"type": "string"}}
_INTERVAL = {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2,
             "maxItems": 2}


def _strict(properties: dict[str, Any], description: str | None = None,
            kind: str | list[str] = "object") -> dict[str, Any]:
    """An object with exactly ``properties``, all required."""
    out: dict[str, Any] = {"type": kind, "properties": properties,
                           "required": list(properties), "additionalProperties": False}
    if description:
        out["description"] = description
    return out


_REPORT_FILE = _strict({"path": {"type": "string"}, "sha256": _SHA},
                       "the Markdown report in the run folder, with its SHA-256")

ANCHOR_ALIGNMENT: dict[str, Any] = _strict({
    "label": _TEXT,
    "batch_uuid": {"type": "string", "format": "uuid"},
    "status": {"type": "string"},
    "judge": {"type": "string"},
    "n_anchors": _COUNT,
    "n_comparisons": _COUNT,
    "n_failed": _COUNT,
    "n_cache_hits": _COUNT,
    "n_anchor_pairs": _COUNT,
    "n_pairs_compared": _COUNT,
    "kendall_tau_b": _NUMBER,
    "kendall_tau_b_p_value": _NUMBER,
    "kendall_tau_b_max": _NUMBER,
    "kendall_tau_original": _NUMBER,
    "kendall_tau_original_definition": {"type": "string"},
    "direct_inversion_pairs": _COUNT,
    "inversion_decisions": _COUNT,
    "inversion_pairs": {"type": "array", "items": {"type": "array", "items": {"type": "string"},
                                                   "minItems": 2, "maxItems": 2}},
    "inversions": {"type": "array", "items": _strict({
        "comparison_id": {"type": "integer"},
        "higher": {"type": "string"}, "higher_grade": _TEXT,
        "winner": {"type": "string"}, "winner_grade": _TEXT,
        "winner_position": {"enum": ["A", "B"]},
        "p_winner": _NUMBER, "confidence": _NUMBER, "justification": {"type": "string"},
    })},
    "zero_win_anchors": _IDS,
    "problem_zero_win_anchors": _IDS,
    "uncompared_anchors": _IDS,
    "targets": _strict({"min_tau_b": {"type": "number"},
                        "max_inversion_pairs": {"type": "integer"},
                        "max_problem_zero_win": {"type": "integer"}}),
    "meets_targets": {"type": "boolean"},
    "anchors": {"type": "array", "items": _strict({
        "essay_id": {"type": "string"}, "file_name": _TEXT, "grade": _TEXT,
        "wins": _COUNT, "losses": _COUNT, "win_rate": _NUMBER, "theta": _NUMBER, "se": _NUMBER,
        "fitted_rank": {"type": "integer"}, "expected_rank": {"type": "integer"},
        "zero_win": {"type": "boolean"}, "problem_zero_win": {"type": "boolean"},
    })},
    "prompts": {"type": "object", "additionalProperties": _strict(
        {"source": {"type": "string"}, "sha256": _SHA, "text": {"type": "string"}},
        kind=["object", "null"])},
    "report_file": _REPORT_FILE,
}, "--mode anchor-align-test: the alignment report's figures, inversions with their "
   "justifications, the per-anchor table and the prompts (docs/anchor-alignment.md)")

_ANCHOR = _strict({"essay_id": {"type": "string"}, "file_name": {"type": "string"},
                   "grade": {"type": "string"}})

_METRICS = _strict({
    "n": _COUNT, "n_higher_first": _COUNT, "n_lower_first": _COUNT,
    "win_rate": _NUMBER, "win_rate_interval": _INTERVAL,
    "hard_wins": _COUNT, "hard_win_rate": _NUMBER, "hard_win_interval": _INTERVAL,
    "hard_win_p_value": _NUMBER,
    "first_position_wins": _COUNT, "first_position_rate": _NUMBER,
    "first_position_p_value": _NUMBER, "soft_first_position_rate": _NUMBER,
    "win_rate_higher_first": _NUMBER, "win_rate_lower_first": _NUMBER,
    "modal_agreement": _NUMBER, "pairwise_agreement": _NUMBER, "order_consistency": _NUMBER,
    "n_repeats_both_orders": _COUNT, "n_confidence": _COUNT,
    "mean_confidence": _NUMBER, "confidence_interval": _INTERVAL,
    "soft": {"type": "boolean"},
}, "the pair's figures (cjgrade.stats.boundary.BoundaryMetrics), null where a figure needs "
   "decisions that are missing")

BOUNDARY_TEST: dict[str, Any] = _strict({
    "iterations": {"type": "integer", "minimum": 1},
    "calls_per_pair": {"type": "integer", "minimum": 2},
    "response_cache": {"enum": ["off"]},
    "cache_note": {"type": "string"},
    "soft_outcomes": {"type": "string"},
    "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "pairs": {"type": "array", "items": _strict({
        "spec": {"type": "string"}, "higher": _ANCHOR, "lower": _ANCHOR,
        "n_calls": _COUNT, "n_failed": _COUNT,
        "comparison_ids": {"type": "array", "items": {"type": "integer"}},
        "reading": {"type": "string"}, "metrics": _METRICS,
    })},
    "report_file": _REPORT_FILE,
}, "--mode boundary-test: every pair's calls and figures (docs/anchor-alignment.md)")

CLUSTER: dict[str, Any] = _strict({
    "api_url": {"type": "string"},
    "kafka_bootstrap": {"type": "string"},
    "upload_cache": _strict({"path": {"type": "string"}, "reused": _COUNT, "uploaded": _COUNT,
                             "missing_on_server": _COUNT, "notes": _IDS}),
}, "execute on a cluster: where it ran and what the upload cache did (docs/eng5-cluster.md)")
