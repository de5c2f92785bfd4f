"""What a batch is made of, and the checks it must pass before any judge is called.

A :class:`BatchSpec` is ad hoc (instructions, prompt, rubric, grade scale and anchors given
inline, e.g. from an input folder) or bound to a stored assignment (texts, scale and anchors
from the store; see :func:`cjgrade.engine.ledger.spec_for_assignment`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cjgrade.display import has_unsafe_characters, printable
from cjgrade.domain import Essay
from cjgrade.engine.options import DEFAULT_COMPARISONS_PER_ESSAY, BatchOptions
from cjgrade.errors import InputError
from cjgrade.scales import GradeScale
from cjgrade.texts import check_text, is_blank

__all__ = ["MAX_ESSAY_ID_CHARS", "BatchSpec", "validate_spec"]

MAX_ESSAY_ID_CHARS = 200
"""The store's limit for an essay id."""


def _valid_essay_id(essay_id: object) -> bool:
    """What the store accepts (1-200 characters, no space at either end), and nothing that
    would garble a terminal or a report (control or invisible characters)."""
    return (isinstance(essay_id, str) and 0 < len(essay_id) <= MAX_ESSAY_ID_CHARS
            and essay_id == essay_id.strip() and not has_unsafe_characters(essay_id))


@dataclass(frozen=True)
class BatchSpec:
    """Everything needed to create a batch. Essay ids are never shown to a judge."""

    essays: tuple[Essay, ...]
    instructions: str
    judge: str
    grade_scale: str | None = "swedish_8_anchor"
    student_prompt: str = ""
    rubric: str = ""
    system_prompt: str = ""
    label: str | None = None
    assignment_id: str | None = None
    """A stored assignment the batch is bound to (foreign key), or None for an ad hoc batch."""
    assignment_ref: str | None = None
    """A free-form assignment name for the artefact when the batch is ad hoc."""
    base_url: str | None = None
    grades_requested: bool = True
    options: BatchOptions = field(default_factory=BatchOptions)
    inputs: dict[str, Any] = field(default_factory=dict)
    """Inventory of the input files (paths, SHA-256) for the artefact."""
    user_scales: tuple[GradeScale, ...] = ()
    """User grade scales (from a TOML file) the batch may name; the one it uses is stored
    with the batch, so a resumed batch needs no scales file."""

    @cached_property
    def texts(self) -> Mapping[str, str]:
        """Essay text by id (built once: a round of a large batch asks it for every pair)."""
        return {e.id: e.text for e in self.essays}

    @property
    def students(self) -> tuple[Essay, ...]:
        return tuple(e for e in self.essays if not e.is_anchor)

    @property
    def anchors(self) -> tuple[Essay, ...]:
        return tuple(e for e in self.essays if e.is_anchor)

    @property
    def anchor_only(self) -> bool:
        """True when every essay is an anchor (an anchor alignment test: the anchors are
        judged against each other only, and there is no student to grade)."""
        return bool(self.essays) and all(e.is_anchor for e in self.essays)


def validate_spec(spec: BatchSpec) -> None:
    """Refuse a batch that cannot produce a useful result, before anything is written.

    Raises
    ------
    InputError
        With a message saying what to change: fewer than two students (or, in an anchor-only
        batch, fewer than two anchors; see :attr:`BatchSpec.anchor_only`), grades asked for
        without anchors (or with fewer than two distinct anchor grades), a budget that cannot
        give every student one comparison, duplicate or malformed essay ids, texts the store
        would refuse (nothing visible, NUL, too long), no instructions.
    """
    students, anchors = spec.students, spec.anchors
    anchor_only = spec.anchor_only
    if anchor_only and len(anchors) < 2:
        raise InputError(
            f"an anchor-only batch has {len(anchors)} anchor essay(s); judging anchors against "
            "each other needs at least 2: add graded essays to the anchor folder"
        )
    if not anchor_only and len(students) < 2:
        raise InputError(
            f"the batch has {len(students)} student essay(s); comparative judgement needs at "
            "least 2: add student essays to students/"
        )
    ids = [e.id for e in spec.essays]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"duplicate essay ids {duplicates[:5]}; give every essay its own name")
    bad_ids = [e.id for e in spec.essays if not _valid_essay_id(e.id)]
    if bad_ids:
        raise InputError(
            f"essay ids {printable(bad_ids[:5])} must be 1-{MAX_ESSAY_ID_CHARS} characters, "
            "without control characters or a space at either end; rename the files"
        )
    empty = [e.id for e in spec.essays if is_blank(e.text)]
    if empty:
        raise InputError(
            f"essays {printable(empty[:5])} have no visible text; remove them or add their text"
        )
    for essay in spec.essays:  # NUL, over the store's size: what the store would refuse
        check_text(essay.text, f"essay {printable(essay.label or essay.id)}")
    if not spec.instructions.strip():
        raise InputError("the assessment instructions are empty; write instructions.md")
    if spec.grades_requested:
        if spec.grade_scale is None:
            raise InputError(
                "grades were asked for but no grade scale is set; set grade_scale in "
                "config.toml, or run without grades (--no-grades)"
            )
        if not anchors:
            raise InputError(
                "grades were asked for but the batch has no anchor essays: add graded essays to "
                "anchors/ (grade in anchors.csv or as a file-name suffix such as _C+), or run "
                "without grades (grades = false in config.toml, or --no-grades)"
            )
        distinct = {a.grade for a in anchors}
        if len(distinct) < 2:
            raise InputError(
                f"the anchors cover {len(distinct)} grade ({', '.join(map(str, distinct))}); "
                "projecting grades needs anchors of at least 2 different grades: add an anchor of "
                "another grade, or run without grades (--no-grades)"
            )
    from cjgrade.stats.pairing import STRATEGIES

    if spec.options.strategy not in STRATEGIES:
        raise InputError(
            f"unknown pairing strategy {spec.options.strategy!r}; use one of "
            f"{', '.join(STRATEGIES)}"
        )
    others = ", ".join(s for s in STRATEGIES if s != "anchor")
    if spec.options.strategy == "anchor" and not anchors:
        raise InputError(
            "the anchor strategy needs anchor essays: add graded essays to anchors/, or choose "
            f"another --strategy ({others})"
        )
    if spec.options.strategy == "anchor" and anchor_only:
        raise InputError(
            "the anchor strategy pairs students with anchors and needs student essays besides "
            f"the anchors; choose another strategy for an anchor-only batch ({others})"
        )
    n_essays = len(spec.essays)
    budget = spec.options.resolved_budget(n_essays)
    if budget < len(students):
        suggested = DEFAULT_COMPARISONS_PER_ESSAY * n_essays
        raise InputError(
            f"a budget of {budget} comparison(s) cannot give each of the {len(students)} "
            f"students one comparison; set --budget to at least {len(students)} "
            f"(about {suggested} gives a usable scale)"
        )
    if spec.options.round_size is not None and spec.options.round_size > math.comb(n_essays, 2):
        raise InputError(
            f"round_size {spec.options.round_size} exceeds the {math.comb(n_essays, 2)} distinct "
            "pairs of this batch; lower it"
        )
