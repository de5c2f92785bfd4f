"""``cjgrade plan``: inventory, validation, capacity and a cost estimate. Touches nothing: no
database, no judge call, no network.

The cost estimate prices every planned comparison from the manifest: input tokens from the
length of the prompt the judges layer renders (system prompt, assignment, instructions,
rubric, response instructions and both essays; about four characters per token) and
:data:`OUTPUT_TOKENS_ESTIMATE` output tokens (a verdict with a short justification; reasoning
models can use many more, so the estimate is a lower bound for them).

Sanity checks (``run`` makes the same plan before it starts, so it refuses and warns alike):
a comparison that cannot fit the model's context window is refused with the figures; a
budget above :data:`REPEAT_FACTOR` x the distinct pairs, an estimated cost above
:data:`COST_WARNING_USD`, an essay :data:`LENGTH_OUTLIER_FACTOR` times the median length and a
comparison filling most of the window are warned about.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from cjgrade.display import printable
from cjgrade.domain import Essay
from cjgrade.engine.options import DEFAULT_COMPARISONS_PER_ESSAY
from cjgrade.engine.spec import BatchSpec, validate_spec
from cjgrade.errors import InputError
from cjgrade.judges.base import JudgeRequest, ModelInfo, Usage
from cjgrade.judges.cost import compute_cost
from cjgrade.judges.manifest import load_manifest, local_judge_description
from cjgrade.judges.prompt import render_request

__all__ = ["OUTPUT_TOKENS_ESTIMATE", "REPEAT_FACTOR", "BatchPlan", "check_context_window", "money",
           "plan_batch"]

OUTPUT_TOKENS_ESTIMATE = 200
CHARS_PER_TOKEN = 4.0
"""English text averages about four characters per token in current tokenizers."""
REPEAT_FACTOR = 2
"""A budget above this many comparisons per distinct pair is warned about: once in each order
(A/B) is the most repetition of one pair that adds information."""
COST_WARNING_USD = 100.0
"""An estimated cost above this is warned about (the estimate is always shown)."""
CONTEXT_WARNING_SHARE = 0.8
"""Warn when the longest comparison fills this share of the model's context window."""
LENGTH_OUTLIER_FACTOR = 10
"""Warn about an essay this many times longer than the median essay."""


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
    distinct_pairs: int = 0
    context_window: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _input_tokens(spec: BatchSpec) -> int:
    """Mean estimated input tokens of the rendered prompt over consecutive essay pairs."""
    essays = list(spec.essays)
    pairs = list(pairwise(essays)) or [(essays[0], essays[0])]
    totals = []
    for a, b in pairs:
        rendered = render_request(_request(spec, a.text, b.text))
        totals.append(int((len(rendered.system) + len(rendered.user_text)) / CHARS_PER_TOKEN))
    return max(1, round(sum(totals) / len(totals)))


def _request(spec: BatchSpec, essay_a: str, essay_b: str) -> JudgeRequest:
    return JudgeRequest(
        system_prompt=spec.system_prompt, student_prompt=spec.student_prompt,
        instructions=spec.instructions, rubric=spec.rubric, essay_a=essay_a, essay_b=essay_b,
    )


def _essay_name(spec: BatchSpec, essay: Essay) -> str:
    """``students/s1.txt`` for a folder's essay, else its label or id (printable)."""
    if essay.label:
        return printable(f"{'anchors' if essay.is_anchor else 'students'}/{essay.label}")
    return printable(essay.id)


def _essay_tokens(essay: Essay) -> int:
    return math.ceil(len(essay.text) / CHARS_PER_TOKEN)


def check_context_window(spec: BatchSpec, info: ModelInfo) -> list[str]:
    """Refuse a batch whose longest comparison cannot fit the model's context window; warn
    when it fills most of it (answers get worse and dearer near the limit).

    The longest comparison is the prompt around the essays plus the two longest essays, in
    estimated tokens (:data:`CHARS_PER_TOKEN`), plus :data:`OUTPUT_TOKENS_ESTIMATE` for the
    answer. Models without a known window are not checked.

    Raises
    ------
    InputError
        Naming the longest essays with their sizes, the window and the fixes.
    """
    window = info.context_window
    if not window or len(spec.essays) < 2:
        return []
    rendered = render_request(_request(spec, "x", "x"))
    overhead = math.ceil((len(rendered.system) + len(rendered.user_text) - 2) / CHARS_PER_TOKEN)
    longest = sorted(spec.essays, key=_essay_tokens, reverse=True)[:2]
    need = overhead + sum(_essay_tokens(e) for e in longest) + OUTPUT_TOKENS_ESTIMATE
    sizes = " and ".join(f"{_essay_name(spec, e)} (~{_essay_tokens(e):,} tokens)"
                         for e in longest)
    name = printable(spec.judge)
    if need > window:
        raise InputError(
            f"the longest comparison needs ~{need:,} tokens ({sizes}, plus ~{overhead:,} for "
            f"the instructions and ~{OUTPUT_TOKENS_ESTIMATE} for the answer), but {name}'s "
            f"context window is {window:,} tokens: shorten or remove the longest essays, "
            "check they are the files you meant, or choose a model with a larger window"
        )
    if need > CONTEXT_WARNING_SHARE * window:
        return [f"the longest comparison needs ~{need:,} of {name}'s {window:,}-token context "
                f"window ({sizes}); check the longest essays are the files you meant"]
    return []


def _length_warnings(spec: BatchSpec) -> list[str]:
    """Essays many times longer than the median one are probably the wrong file."""
    lengths = sorted(len(e.text) for e in spec.essays)
    median = lengths[len(lengths) // 2]
    return [
        f"{_essay_name(spec, e)} is {len(e.text) / median:.0f} times as long as the median "
        f"essay ({len(e.text):,} against {median:,} characters); check it is the essay you meant"
        for e in spec.essays
        if median and len(e.text) > LENGTH_OUTLIER_FACTOR * median
    ]


def _budget_warnings(spec: BatchSpec, budget: int, cost: float | None) -> list[str]:
    n = len(spec.essays)
    pairs = math.comb(n, 2)
    warnings = []
    if budget > REPEAT_FACTOR * pairs:
        warnings.append(
            f"budget {budget:,} is more than {REPEAT_FACTOR} x the {pairs:,} distinct pairs of "
            f"{n} essays: every pair would be judged more than once in each order, which adds "
            f"cost and no information; lower --budget to at most {REPEAT_FACTOR * pairs:,}"
        )
    elif budget < DEFAULT_COMPARISONS_PER_ESSAY * n // 2:
        warnings.append(
            f"budget {budget} gives {2 * budget / n:.1f} comparisons per essay; about "
            f"{2 * DEFAULT_COMPARISONS_PER_ESSAY} per essay are usually needed for SSR 0.8-0.9"
        )
    if cost is not None and cost > COST_WARNING_USD:
        warnings.append(
            f"the budget of {budget:,} comparisons may cost about {money(cost)} with "
            f"{printable(spec.judge)}; check --budget and the model before running"
        )
    return warnings


def money(value: float | None) -> str:
    """``$1,234.57``; ``$0.0012`` below a dollar; ``unknown`` when a price is unknown."""
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def plan_batch(
    spec: BatchSpec, *, allow_unknown_model: bool = False, warnings: Sequence[str] = (),
) -> BatchPlan:
    """Validate a batch and describe what running it would take. ``cjgrade plan`` prints it
    and ``cjgrade run`` makes it (and prints its warnings and cost) before it starts, so the
    two refuse and warn alike.

    Parameters
    ----------
    spec : the batch.
    allow_unknown_model : price a model missing from the manifest as unknown.
    warnings : warnings found earlier (the input folder's), listed first.

    Raises
    ------
    InputError
        When the batch would be refused by ``cjgrade run`` (same checks), or its longest
        comparison cannot fit the model's context window.
    ConfigError
        For an unknown judge (unless ``allow_unknown_model``).
    """
    validate_spec(spec)
    info = load_manifest().resolve(spec.judge, allow_unknown_model=allow_unknown_model)
    n = len(spec.essays)
    opts = spec.options
    budget = opts.resolved_budget(n)
    round_size = opts.resolved_round_size(n)
    found = [*warnings, *check_context_window(spec, info), *_length_warnings(spec)]
    tokens_in = _input_tokens(spec)
    per = compute_cost(Usage(input_tokens=tokens_in, output_tokens=OUTPUT_TOKENS_ESTIMATE), info,
                       batch=opts.batch_api)
    total = None if per is None else per * budget
    not_llm = local_judge_description(spec.judge)
    local = not_llm is not None
    if not_llm is not None:
        found.append(f"{printable(spec.judge)} is not a language model: {not_llm}")
    elif per is None:
        found.append(f"the price of {printable(spec.judge)} is unknown, so the cost cannot be "
                     "estimated")
    found += _budget_warnings(spec, budget, total)
    grades = Counter(str(a.grade) for a in spec.anchors)
    if spec.grades_requested and any(v == 1 for v in grades.values()) and len(grades) < 4:
        found.append("few anchors: grade probabilities will be wide")
    return BatchPlan(
        label=spec.label, judge=spec.judge, judge_display=info.display_name or spec.judge,
        judge_is_llm=not local, grade_scale=spec.grade_scale,
        grades_requested=spec.grades_requested, n_students=len(spec.students),
        n_anchors=len(spec.anchors), anchors_by_grade=dict(sorted(grades.items())),
        file_types=dict(Counter(Path(e.label or e.id).suffix.lower() or "?"
                                for e in spec.essays)),
        budget=budget, comparisons_per_essay=2 * budget / n, round_size=round_size,
        max_rounds=math.ceil(budget / round_size), strategy=opts.strategy,
        stopping={"target_reliability": opts.target_reliability, "target_se": opts.target_se,
                  "stability_threshold": opts.stability_threshold,
                  "min_success_rate": opts.min_success_rate},
        input_tokens_per_comparison=tokens_in,
        output_tokens_per_comparison=OUTPUT_TOKENS_ESTIMATE,
        cost_per_comparison_usd=per,
        cost_total_usd=total,
        distinct_pairs=math.comb(n, 2),
        context_window=info.context_window,
        warnings=found,
    )
