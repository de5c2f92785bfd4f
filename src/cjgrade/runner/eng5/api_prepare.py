"""A run against a stored assignment, resolved through the admin API (R3, R4).

Used by every mode that takes ``--assignment-id`` when the API is configured (a token from
``--token`` / ``CJGRADE_TOKEN`` / the config file, or an explicit ``--api-url`` /
``CJGRADE_API_URL``), and always on a cluster (``--kafka-bootstrap``):

1. the local checks first (judge and its settings, prompt files), then ``before_api`` (the
   cluster path checks its settings and the broker there);
2. the assignment preflight (scale, context origin, student prompt; a ``--rubric`` refused for
   ``canonical_national``; ``--expected-grade-scale`` asserted) and the anchor preflight
   (registered anchors of at least two grades on the assignment's scale), each printed;
3. the students of the input folder, the capacity (R1), and the batch spec read through the
   API (:func:`cjgrade.runner.eng5.cluster.spec_from_api`: the assignment's texts and its
   anchors' stored texts), validated with the engine's own checks.

Nothing is written or uploaded here. An embedded execute then runs that spec in this process on
the local store (the batch is stored ad hoc, its ``assignment_ref`` the assignment id); a
cluster execute submits it (:mod:`cjgrade.runner.eng5.remote`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from cjgrade.api.client import ApiClient
from cjgrade.domain import Essay
from cjgrade.runner.eng5.preflight import AssignmentContext

__all__ = ["ApiPrepared", "api_configured", "prepare_through_api"]


@dataclass(frozen=True)
class ApiPrepared:
    """A run validated completely through the API (nothing written yet)."""

    prepared: Any
    """The :class:`cjgrade.runner.eng5.prepare.Prepared` run (spec, judge, prompts, inputs)."""
    context: AssignmentContext
    api_url: str
    token: str | None


def api_configured(settings: Any) -> bool:
    """True when the run should resolve its assignment through the admin API: a token is
    configured (``--token``, ``CJGRADE_TOKEN``, the config file), or an API URL other than the
    built-in default (``--api-url``, ``CJGRADE_API_URL``, the config file)."""
    from cjgrade.config import DEFAULT_API_URL, load_settings

    if settings.api_token or settings.api_url:
        return True
    base = load_settings()
    return bool(base.token) or base.api_url != DEFAULT_API_URL


async def prepare_through_api(
    settings: Any,
    *,
    before_api: Callable[[], Awaitable[None]] | None = None,
    echo: Callable[[str], None] = print,
) -> ApiPrepared:
    """Validate a student-only run against ``settings.assignment_id`` through the API.

    Raises
    ------
    InputError
        Unknown assignment, no anchors (or one grade) on its scale, a scale other than
        ``--expected-grade-scale``, no student prompt, a ``--rubric`` for a
        ``canonical_national`` assignment, bad student files, capacity below 1.
    ConfigError
        401/403 (with the token command), an unreachable API, a judge setting refused.
    """
    from cjgrade.engine.options import BatchOptions, merge_options
    from cjgrade.runner.eng5.cluster import preflights, spec_from_api
    from cjgrade.runner.eng5.inputs import read_inputs
    from cjgrade.runner.eng5.judge_settings import (
        batch_option_overrides,
        check_judge,
        judge_name,
        load_prompts,
    )
    from cjgrade.runner.eng5.preflight import api_target
    from cjgrade.runner.eng5.prepare import (
        AssignmentInfo,
        Prepared,
        check_capacity,
        student_inputs_manifest,
    )
    from cjgrade.runner.eng5.register import scale_from_api
    from cjgrade.scales import BUILTIN_SCALES

    judge = judge_name(settings)
    assert judge is not None
    check_judge(settings, judge)
    prompts = load_prompts(settings)
    options = merge_options(BatchOptions(), batch_option_overrides(settings),
                            source="command line")
    if before_api is not None:
        await before_api()
    api_url, token = api_target(settings)
    async with ApiClient(api_url, token) as client:
        context, summary = await preflights(
            client, settings.assignment_id, expected_grade_scale=settings.expected_grade_scale,
            rubric_override=prompts.rubric is not None,
            anchor_dir_hint=str(settings.anchor_dir or settings.input_dir / "anchor_essays"),
            echo=echo)
        scale = scale_from_api(await client.list_scales(), context.grade_scale)
        user_scales = () if scale.scale_id in {b.scale_id for b in BUILTIN_SCALES} else (scale,)
        inputs = read_inputs(settings.input_dir, scale_id=scale.scale_id,
                             user_scales=user_scales, need_anchors=False,
                             need_instructions=False)
        students = tuple(Essay(id=e.essay_id, text=e.text, label=e.file_name)
                         for e in inputs.folder.students)
        capacity = check_capacity(summary.anchor_count, len(students),
                                  what="registered anchors x students")
        spec = await spec_from_api(
            client, context, summary, students, judge=judge, options=options,
            label=settings.batch_id, system_prompt=prompts.system_prompt,
            rubric_override=prompts.rubric, base_url=settings.llm_base_url)
    by_grade: dict[str, int] = {}
    for anchor in summary.anchors:
        by_grade[anchor.grade] = by_grade.get(anchor.grade, 0) + 1
    info = AssignmentInfo(
        assignment_id=context.assignment_id, grade_scale=context.grade_scale,
        context_origin=context.context_origin, student_prompt=context.has_student_prompt,
        judge_rubric=context.judge_rubric_storage_id is not None,
        anchor_count=summary.anchor_count, anchors_by_grade=dict(sorted(by_grade.items())),
        source=f"the API at {api_url}")
    spec = replace(spec, inputs=student_inputs_manifest(inputs.folder), user_scales=user_scales)
    prepared = Prepared(settings, inputs, judge, prompts, spec, info, capacity)
    return ApiPrepared(prepared, context, api_url, token)
