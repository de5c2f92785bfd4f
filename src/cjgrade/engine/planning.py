"""``cjgrade plan``: inventory, validation, capacity and a cost estimate. Touches nothing: no
database, no judge call, no network.

The cost estimate prices every planned comparison from the manifest: input tokens from the
length of the prompt the judges layer renders (system prompt, assignment, instructions,
rubric, response instructions and both essays; about four characters per token) and
:data:`OUTPUT_TOKENS_ESTIMATE` output tokens (a verdict with a short justification; reasoning
models can use many more, so the estimate is a lower bound for them).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from cjgrade.engine.options import DEFAULT_COMPARISONS_PER_ESSAY
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.judges.base import JudgeRequest, Usage
from cjgrade.judges.cost import compute_cost
from cjgrade.judges.manifest import load_manifest
from cjgrade.judges.prompt import render_request

__all__ = ["OUTPUT_TOKENS_ESTIMATE", "BatchPlan", "plan_batch"]

OUTPUT_TOKENS_ESTIMATE = 200
CHARS_PER_TOKEN = 4.0
"""English text averages about four characters per token in current tokenizers."""


@dataclass(frozen=True)
class BatchPlan:
    label: str | None
    judge: str
    judge_display: str
    judge_is_llm: bool
    grade_scale: str | None
    grades_requested: bool
    n_students: int
    n_anchors: int
    anchors_by_grade: dict[str, int]
    file_types: dict[str, int]
    budget: int
    comparisons_per_essay: float
    round_size: int
    max_rounds: int
    strategy: str
    stopping: dict[str, Any]
    input_tokens_per_comparison: int
    output_tokens_per_comparison: int
    cost_per_comparison_usd: float | None
    cost_total_usd: float | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _input_tokens(spec: BatchSpec) -> int:
    """Mean estimated input tokens of the rendered prompt over consecutive essay pairs."""
    essays = list(spec.essays)
    pairs = list(pairwise(essays)) or [(essays[0], essays[0])]
    totals = []
    for a, b in pairs:
        request = JudgeRequest(
            system_prompt=spec.system_prompt, student_prompt=spec.student_prompt,
            instructions=spec.instructions, rubric=spec.rubric, essay_a=a.text,
            essay_b=b.text,
        )
        rendered = render_request(request)
        totals.append(int((len(rendered.system) + len(rendered.user_text)) / CHARS_PER_TOKEN))
    return max(1, round(sum(totals) / len(totals)))


def plan_batch(spec: BatchSpec, *, allow_unknown_model: bool = False) -> BatchPlan:
    """Validate a batch and describe what running it would take.

    Raises
    ------
    InputError
        When the batch would be refused by ``cjgrade run`` (same checks).
    ConfigError
        For an unknown judge (unless ``allow_unknown_model``).
    """
    validate_spec(spec)
    info = load_manifest().resolve(spec.judge, allow_unknown_model=allow_unknown_model)
    n = len(spec.essays)
    opts = spec.options
    budget = opts.resolved_budget(n)
    round_size = opts.resolved_round_size(n)
    tokens_in = _input_tokens(spec)
    per = compute_cost(Usage(input_tokens=tokens_in, output_tokens=OUTPUT_TOKENS_ESTIMATE), info,
                       batch=opts.batch_api)
    local = spec.judge.split("/", 1)[0] in ("heuristic", "sim", "scripted")
    warnings = []
    if local:
        warnings.append(f"{spec.judge} is not a language model: it judges surface features only")
    if budget < DEFAULT_COMPARISONS_PER_ESSAY * n // 2:
        warnings.append(
            f"budget {budget} gives {2 * budget / n:.1f} comparisons per essay; about "
            f"{2 * DEFAULT_COMPARISONS_PER_ESSAY} per essay are usually needed for SSR 0.8-0.9"
        )
    grades = Counter(str(a.grade) for a in spec.anchors)
    if spec.grades_requested and any(v == 1 for v in grades.values()) and len(grades) < 4:
        warnings.append("few anchors: grade probabilities will be wide")
    return BatchPlan(
        label=spec.label, judge=spec.judge, judge_display=info.display_name or spec.judge,
        judge_is_llm=not local, grade_scale=spec.grade_scale,
        grades_requested=spec.grades_requested, n_students=len(spec.students),
        n_anchors=len(spec.anchors), anchors_by_grade=dict(sorted(grades.items())),
        file_types=dict(Counter(Path(e.label or e.id).suffix.lower() or "?"
                                for e in spec.essays)),
        budget=budget, comparisons_per_essay=2 * budget / n, round_size=round_size,
        max_rounds=math.ceil(budget / round_size), strategy=opts.strategy,
        stopping={"target_ssr": opts.target_ssr, "target_se": opts.target_se,
                  "stability_threshold": opts.stability_threshold,
                  "min_success_rate": opts.min_success_rate},
        input_tokens_per_comparison=tokens_in,
        output_tokens_per_comparison=OUTPUT_TOKENS_ESTIMATE,
        cost_per_comparison_usd=per,
        cost_total_usd=None if per is None else per * budget,
        warnings=warnings,
    )
