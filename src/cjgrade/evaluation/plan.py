"""An evaluation as a list of batches, checked completely before the first judge call.

:func:`plan_evaluation` reads nothing but its arguments: every set's design for every seed, every
batch spec, every judge (built once, so a missing key or an unknown model fails here) and every
budget are checked, and only then :func:`run_plan` runs the batches one after another.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cjgrade.engine.progress import ProgressListener
from cjgrade.errors import ConfigError, InputError
from cjgrade.evaluation.datasets import ScoredEssay
from cjgrade.evaluation.design import SetDesign, by_set, design_set
from cjgrade.evaluation.metrics import SetFigures, set_figures
from cjgrade.evaluation.run import JudgeSetup, batch_spec, check_judge, run_design

__all__ = ["EvalJob", "EvalPlan", "parse_budgets", "plan_evaluation", "run_plan"]


@dataclass(frozen=True)
class EvalJob:
    """One batch: a design, a judge and a budget per essay (None: the engine's stopping)."""

    design: SetDesign
    setup: JudgeSetup
    budget_per_essay: float | None


@dataclass(frozen=True)
class EvalPlan:
    jobs: tuple[EvalJob, ...]
    sets: tuple[str, ...]
    seeds: tuple[int, ...]
    judges: tuple[JudgeSetup, ...]
    budgets: tuple[float | None, ...]
    students: int
    anchors_per_level: int


def parse_budgets(text: str | None) -> tuple[float, ...]:
    """``"5,10,20,40"`` -> ``(5.0, 10.0, 20.0, 40.0)``; ConfigError for anything else."""
    if text is None:
        return ()
    values = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise ConfigError(f"--budgets must be numbers separated by commas (5,10,20,40), "
                              f"not {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"--budgets: {part.strip()} is not a positive number of "
                              "comparisons per essay")
        values.append(value)
    if not values:
        raise ConfigError("--budgets is empty; give e.g. 5,10,20,40")
    return tuple(values)


def plan_evaluation(
    essays: Sequence[ScoredEssay], judges: Sequence[JudgeSetup], *,
    sets: Sequence[str] | None, students: int, anchors_per_level: int, seeds: int,
    first_seed: int = 0, budgets: Sequence[float | None] = (None,), concurrency: int = 8,
) -> EvalPlan:
    """Every batch of the evaluation, checked (module docstring).

    Raises
    ------
    ConfigError / InputError
        Before anything is judged: bad counts, unknown sets, a set too small for the design,
        an unusable judge, a budget too small for a batch.
    """
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    if concurrency < 1:
        raise ConfigError("--max-concurrency must be at least 1")
    if not judges:
        raise ConfigError("nothing to evaluate: give --judge or --baselines")
    groups = by_set(essays, sets)
    designs = [design_set(s, group, anchors_per_level=anchors_per_level, students=students,
                          seed=first_seed + k)
               for s, group in groups.items() for k in range(seeds)]
    for setup in judges:
        check_judge(setup, designs[0])
    jobs = []
    for design in designs:
        for setup in judges:
            for budget in budgets:
                try:
                    batch_spec(design, setup, budget_per_essay=budget, concurrency=concurrency)
                except InputError as exc:
                    if budget is None:
                        raise
                    n = len(design.anchors) + len(design.students)
                    raise InputError(
                        f"essay set {design.essay_set}: a budget of {budget:g} comparisons per "
                        f"essay ({n} essays) is too small: give each of the "
                        f"{len(design.students)} students one comparison at least ({exc})"
                    ) from None
                jobs.append(EvalJob(design, setup, budget))
    return EvalPlan(tuple(jobs), tuple(groups), tuple(first_seed + k for k in range(seeds)),
                    tuple(judges), tuple(budgets), students, anchors_per_level)


async def run_plan(
    plan: EvalPlan, *, concurrency: int = 8,
    progress: Callable[[EvalJob], ProgressListener | None] | None = None,
    on_done: Callable[[EvalJob, SetFigures], None] | None = None,
) -> tuple[list[SetFigures], str | None]:
    """Run every batch in order; ``progress(job)`` gives the listener of a job's batch.

    Returns the figures and None, or, when a batch fails (the judge kept failing), the figures
    so far and why the evaluation stopped there: nothing more is spent on a failing judge.
    """
    figures = []
    for job in plan.jobs:
        listener = progress(job) if progress is not None else None
        run = await run_design(job.design, job.setup, budget_per_essay=job.budget_per_essay,
                               concurrency=concurrency, progress=listener)
        result = set_figures(run)
        figures.append(result)
        if on_done is not None:
            on_done(job, result)
        if run.result.status == "failed":
            reason = run.result.failure_reason or run.result.stop_reason
            return figures, (f"the batch of set {job.design.essay_set} (seed "
                             f"{job.design.seed}) with {job.setup.label} failed: {reason}")
    return figures, None
