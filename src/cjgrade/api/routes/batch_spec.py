"""From a ``POST /v1/batches`` body to a checked batch spec, before anything is written.

Every refusal is an :class:`~cjgrade.errors.InputError` (422) or a ``NotFound`` (404: an
unknown assignment or content id) whose message names the field and what to change: options
are checked against their one declaration (:class:`cjgrade.engine.options.BatchOptions`), the
judge against the model manifest, the grade scale and anchor grades against the scales, and
the whole spec by :func:`cjgrade.runner.planning.plan_batch` (what ``cjgrade plan`` checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cjgrade.api.schemas import BatchSubmit, EssayIn
from cjgrade.domain import Essay
from cjgrade.engine.ledger import spec_for_assignment
from cjgrade.engine.options import BatchOptions, merge_options
from cjgrade.engine.spec import BatchSpec
from cjgrade.errors import ConfigError, InputError
from cjgrade.runner.planning import BatchPlan, plan_batch
from cjgrade.scales import GradeScale, get_scale, validate_grade
from cjgrade.store import Store, get_texts

__all__ = ["checked_spec"]

ASSIGNMENT_FIELDS = ("instructions", "student_prompt", "grade_scale")


def _options(values: dict[str, Any]) -> BatchOptions:
    try:
        return merge_options(BatchOptions(), values, source="options")
    except ConfigError as exc:  # an unknown or out-of-range option is the caller's input
        raise InputError(str(exc)) from None


async def _texts(store: Store, essays: Sequence[EssayIn]) -> dict[str, str]:
    """Essay id -> text; content ids are read from the store (404 for an unknown one)."""
    for e in essays:
        if (e.text is None) == (e.content_id is None):
            raise InputError(f"essays: essay {e.essay_id!r} needs exactly one of text or "
                             "content_id (a text uploaded to POST /v1/content)")
    ids = sorted({e.content_id for e in essays if e.content_id is not None})
    stored: dict[str, str] = {}
    if ids:
        async with store.transaction() as session:
            stored = await get_texts(session, ids)
    return {e.essay_id: e.text if e.text is not None else stored[str(e.content_id)]
            for e in essays}


def _scale(scale_id: str, user_scales: Sequence[GradeScale]) -> GradeScale:
    try:
        return get_scale(scale_id, user_scales)
    except ConfigError as exc:
        raise InputError(f"grade_scale: {exc}") from None


def _essays(body: BatchSubmit, texts: dict[str, str],
            scale: GradeScale | None) -> tuple[Essay, ...]:
    out = []
    for e in body.essays:
        grade = e.grade
        if e.is_anchor and grade is None:
            raise InputError(f"essays: anchor {e.essay_id!r} needs its grade")
        if grade is not None and not e.is_anchor:
            raise InputError(f"essays: {e.essay_id!r} has a grade but is not an anchor; set "
                             "is_anchor, or drop the grade")
        if grade is not None:
            if scale is None:
                raise InputError("grade_scale: anchors have grades, so the batch needs a "
                                 "grade_scale (GET /admin/v1/scales lists them)")
            grade = validate_grade(scale, grade)
        out.append(Essay(id=e.essay_id, text=texts[e.essay_id], is_anchor=e.is_anchor,
                         grade=grade, label=e.file_name))
    return tuple(out)


async def _assignment_spec(store: Store, body: BatchSubmit, texts: dict[str, str],
                           options: BatchOptions) -> BatchSpec:
    given = [name for name in ASSIGNMENT_FIELDS if getattr(body, name) is not None]
    if given:
        raise InputError(
            f"{given[0]}: comes from assignment {body.assignment_id!r}; drop it (change the "
            "assignment with `cjgrade admin instructions create`)"
        )
    anchors = [e.essay_id for e in body.essays if e.is_anchor or e.grade is not None]
    if anchors:
        raise InputError(
            f"essays: {anchors[0]!r} is an anchor, but a batch on a stored assignment takes "
            "student essays only (its anchors are the assignment's registered ones: "
            "`cjgrade admin anchors register`)"
        )
    students = [Essay(id=e.essay_id, text=texts[e.essay_id], label=e.file_name)
                for e in body.essays]
    assert body.assignment_id is not None
    spec = await spec_for_assignment(
        store, body.assignment_id, students, judge=body.judge, options=options, label=body.label,
        rubric_override=body.rubric, grades_requested=body.grades,
    )
    taken = {e.id for e in spec.anchors} & {e.id for e in students}
    if taken:
        raise InputError(f"essays: the id {sorted(taken)[0]!r} is taken by one of the "
                         "assignment's anchors; rename the essay")
    return spec


def _adhoc_spec(body: BatchSubmit, texts: dict[str, str], options: BatchOptions,
                user_scales: Sequence[GradeScale]) -> BatchSpec:
    if body.instructions is None:
        raise InputError("instructions: required for a batch without an assignment_id (the "
                         "assessment instructions the judge reads)")
    scale = _scale(body.grade_scale, user_scales) if body.grade_scale is not None else None
    if body.grades and scale is None:
        raise InputError("grade_scale: grades are asked for (grades = true) but no grade_scale "
                         "is given; give one (GET /admin/v1/scales), or set grades to false")
    used = tuple(s for s in user_scales if scale is not None and s.scale_id == scale.scale_id)
    return BatchSpec(
        essays=_essays(body, texts, scale), instructions=body.instructions,
        judge=body.judge, grade_scale=scale.scale_id if scale else None,
        student_prompt=body.student_prompt or "", rubric=body.rubric or "",
        system_prompt=body.system_prompt or "", label=body.label, base_url=body.base_url,
        grades_requested=body.grades, options=options, user_scales=used,
    )


async def checked_spec(store: Store, body: BatchSubmit,
                       user_scales: Sequence[GradeScale]) -> tuple[BatchSpec, BatchPlan]:
    """The spec of ``body`` and its plan (warnings, cost estimate); raises when it cannot run."""
    ids = [e.essay_id for e in body.essays]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"essays: the id {duplicates[0]!r} appears twice; give every essay "
                         "its own id")
    options = _options(dict(body.options))
    texts = await _texts(store, body.essays)
    if body.assignment_id is not None:
        spec = await _assignment_spec(store, body, texts, options)
        if body.base_url is not None:
            from dataclasses import replace

            spec = replace(spec, base_url=body.base_url)
    else:
        spec = _adhoc_spec(body, texts, options, user_scales)
    try:
        plan = plan_batch(spec)
    except ConfigError as exc:  # an unknown judge: the request names it
        raise InputError(f"judge: {exc}") from None
    return spec, plan
