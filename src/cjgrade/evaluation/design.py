"""The design of one evaluation batch: its grade scale, anchors and students.

- **Scale.** The human score levels of an essay set become a grade scale of the batch: one
  grade per distinct score seen in the set (lowest first, the code is the score itself), with
  the set's share of each score as the population prior. The scale lives only in the batch
  (``BatchSpec.user_scales``) and the evaluation's throw-away database: nothing is added to the
  user's scales file or store.
- **Anchors.** ``anchors_per_level`` essays of each score level, drawn at random within the
  level (a different draw for every seed). A level with fewer essays than that has no anchor
  and is reported (``unanchored_levels``); the grade model then places it from the population
  prior alone. At least two levels must be anchored (grade projection needs two grades).
- **Students.** ``students`` essays drawn at random from the rest of the set, so their scores
  follow the set's own distribution.

All checks run for every set and seed before any judge is called.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cjgrade.errors import InputError
from cjgrade.evaluation.datasets import ScoredEssay, set_sort_key
from cjgrade.scales import GradeScale

__all__ = ["SetDesign", "by_set", "design_set", "set_scale"]


@dataclass(frozen=True)
class SetDesign:
    """One batch of the evaluation."""

    essay_set: str
    seed: int
    scale: GradeScale
    anchors: tuple[ScoredEssay, ...]
    students: tuple[ScoredEssay, ...]
    unanchored_levels: tuple[int, ...]
    """Score levels of the set with fewer essays than ``anchors_per_level``: no anchor."""
    set_essays: tuple[ScoredEssay, ...] = ()
    """Every essay of the set (the population simulated baselines standardise over)."""

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(int(g) for g in self.scale.grades)


def by_set(essays: Sequence[ScoredEssay],
           sets: Sequence[str] | None) -> dict[str, list[ScoredEssay]]:
    """Essays grouped by set, in set order; ``sets`` (None: all) must all exist."""
    groups: dict[str, list[ScoredEssay]] = defaultdict(list)
    for essay in essays:
        groups[essay.essay_set].append(essay)
    known = sorted(groups, key=set_sort_key)
    wanted = known if not sets else [str(s) for s in sets]
    absent = [s for s in wanted if s not in groups]
    if absent:
        raise InputError(f"essay sets {absent} are not in the dataset (it has {known})")
    return {s: groups[s] for s in wanted}


def set_scale(essay_set: str, essays: Sequence[ScoredEssay]) -> GradeScale:
    """The grade scale of a set: its score levels, priors = the set's share of each level."""
    counts = Counter(e.score for e in essays)
    levels = sorted(counts)
    if len(levels) < 2:
        raise InputError(f"essay set {essay_set}: every essay has score {levels[0]}; agreement "
                         "with human scores needs at least two score levels")
    total = sum(counts.values())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", essay_set)[:60]
    return GradeScale(
        scale_id=f"eval_levels_{slug}",
        display_name=f"Human score levels of essay set {essay_set} (evaluation only)",
        grades=tuple(str(level) for level in levels),
        priors=tuple(counts[level] / total for level in levels),
        description="Built by cjgrade eval from the dataset's scores; never stored for users.",
    )


def design_set(essay_set: str, essays: Sequence[ScoredEssay], *, anchors_per_level: int,
               students: int, seed: int) -> SetDesign:
    """Pick the anchors and students of one set for one seed (module docstring).

    Raises
    ------
    InputError
        Fewer than two levels with ``anchors_per_level`` essays, or fewer essays left than
        ``students`` asks for; the message says which option to lower.
    """
    if anchors_per_level < 1:
        raise InputError("--anchors-per-level must be at least 1")
    if students < 2:
        raise InputError("--students must be at least 2")
    scale = set_scale(essay_set, essays)
    levels: dict[int, list[int]] = defaultdict(list)
    for i, essay in enumerate(essays):
        levels[essay.score].append(i)
    anchored = [lv for lv in sorted(levels) if len(levels[lv]) >= anchors_per_level]
    if len(anchored) < 2:
        raise InputError(
            f"essay set {essay_set}: only {len(anchored)} of its {len(levels)} score levels have "
            f"{anchors_per_level} essays for anchors; grade projection needs anchors at 2 levels "
            "at least: lower --anchors-per-level"
        )
    rng = np.random.default_rng([seed, *map(ord, essay_set)])
    anchor_rows: list[int] = []
    for level in anchored:
        rows = levels[level]
        anchor_rows.extend(rows[int(k)] for k in rng.choice(len(rows), anchors_per_level,
                                                            replace=False))
    taken = set(anchor_rows)
    pool = [i for i in range(len(essays)) if i not in taken]
    if students > len(pool):
        raise InputError(
            f"essay set {essay_set}: {len(pool)} essays are left after the {len(taken)} anchors; "
            f"--students {students} asks for more: lower --students or --anchors-per-level"
        )
    student_rows = sorted(int(pool[k]) for k in rng.choice(len(pool), students, replace=False))
    return SetDesign(
        essay_set=essay_set, seed=seed, scale=scale,
        anchors=tuple(essays[i] for i in anchor_rows),
        students=tuple(essays[i] for i in student_rows),
        unanchored_levels=tuple(lv for lv in sorted(levels) if lv not in anchored),
        set_essays=tuple(essays),
    )
