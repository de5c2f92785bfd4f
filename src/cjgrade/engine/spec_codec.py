"""A :class:`BatchSpec` in and out of storage and the bus: its one serialisation.

A spec's texts never travel inline: essays and the named texts (instructions, student prompt,
rubric, system prompt) are referenced by content id (the SHA-256 of the text, as the content
store names it). Two shapes carry a spec:

- the batch's stored ``settings`` (:func:`spec_settings` / :func:`spec_from_settings`), with
  the essays in their own table;
- the ``assessment.requested`` event (:func:`request_event` / :func:`spec_from_request`), the
  one request built by the engine, the bus client, the batches API and the ENG5 runner alike.

Both use the same option declaration (:class:`~cjgrade.engine.options.BatchOptions`). No I/O
here: the caller stores the texts and reads them back by id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from cjgrade.bus.events import AssessmentRequestedV1, EssayRef
from cjgrade.domain import Essay
from cjgrade.engine.inventory import content_inventory
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.errors import ConfigError
from cjgrade.scales import GradeScale
from cjgrade.store.content import content_id

__all__ = [
    "TEXT_NAMES",
    "request_event",
    "request_text_ids",
    "spec_from_request",
    "spec_from_settings",
    "spec_settings",
    "text_ids",
]

TEXT_NAMES = ("instructions", "student_prompt", "rubric", "system_prompt")
"""The named texts of a spec, as they are keyed in storage and in requests."""

_LEGACY_REQUEST_KEYS = ("texts", "grades_requested", "base_url")
"""Keys an earlier version put inside a request's ``options``; read from there when present."""


def text_ids(spec: BatchSpec) -> dict[str, str | None]:
    """The content id of each named text of ``spec`` (None when it is empty)."""
    return {name: content_id(value) if (value := getattr(spec, name)).strip() else None
            for name in TEXT_NAMES}


def spec_settings(spec: BatchSpec) -> dict[str, Any]:
    """What a batch stores about its spec besides its essays (JSON-ready)."""
    return {
        "judge": spec.judge,
        "base_url": spec.base_url,
        "grades_requested": spec.grades_requested,
        "assignment_ref": spec.assignment_ref,
        "options": spec.options.to_dict(),
        "texts": text_ids(spec),
        "inputs": spec.inputs,
        "user_scales": [asdict(u) for u in spec.user_scales if u.scale_id == spec.grade_scale],
    }


def _user_scale(data: Mapping[str, Any]) -> GradeScale:
    return GradeScale(
        scale_id=str(data["scale_id"]), display_name=str(data["display_name"]),
        grades=tuple(data["grades"]), priors=tuple(data["priors"]),
        description=str(data.get("description") or ""),
        below_lowest_grade=data.get("below_lowest_grade"),
    )


def _named(refs: Mapping[str, str | None], texts: Mapping[str, str]) -> Callable[[str], str]:
    def text(name: str) -> str:
        cid = refs.get(name)
        return texts[cid] if cid else ""

    return text


def spec_from_settings(
    settings: Mapping[str, Any], essays: Sequence[Essay], texts: Mapping[str, str], *,
    grade_scale: str | None, label: str | None, assignment_id: str | None,
) -> BatchSpec:
    """The spec of a stored batch: its ``settings``, its essays and the texts they reference
    (content id -> text)."""
    text = _named(settings.get("texts") or {}, texts)
    return BatchSpec(
        essays=tuple(essays),
        instructions=text("instructions"),
        student_prompt=text("student_prompt"),
        rubric=text("rubric"),
        system_prompt=text("system_prompt"),
        judge=settings["judge"],
        grade_scale=grade_scale,
        label=label,
        assignment_id=assignment_id,
        assignment_ref=settings.get("assignment_ref"),
        base_url=settings.get("base_url"),
        grades_requested=settings.get("grades_requested", True),
        options=BatchOptions.from_dict(dict(settings.get("options", {}))),
        # A batch submitted as content (API, bus) stored no file inventory: name its texts in
        # the content store instead, so its artefact passes the schema.
        inputs=dict(settings.get("inputs") or {}) or content_inventory(
            tuple(essays), instructions=text("instructions"),
            student_prompt=text("student_prompt"), rubric=text("rubric")),
        user_scales=tuple(_user_scale(d) for d in settings.get("user_scales", ())),
    )


def request_event(spec: BatchSpec, batch_uuid: str) -> AssessmentRequestedV1:
    """The ``assessment.requested`` event of ``spec`` (texts referenced by content id)."""
    return AssessmentRequestedV1(
        batch_uuid=batch_uuid, label=spec.label,
        assignment_id=spec.assignment_id or spec.assignment_ref,
        grade_scale=spec.grade_scale or "", judge=spec.judge,
        essays=[EssayRef(essay_id=e.id, content_sha256=content_id(e.text),
                         is_anchor=e.is_anchor, grade=e.grade) for e in spec.essays],
        options=spec.options.to_dict(),
        texts={k: v for k, v in text_ids(spec).items() if v},
        grades_requested=spec.grades_requested,
        base_url=spec.base_url,
    )


def request_text_ids(event: AssessmentRequestedV1) -> dict[str, str]:
    """The named texts' content ids of a request (ConfigError for an unknown name)."""
    refs = dict(event.texts) or dict(event.options.get("texts") or {})
    unknown = set(refs) - set(TEXT_NAMES)
    if unknown:
        raise ConfigError(f"unknown texts {sorted(unknown)} in the request; known: {TEXT_NAMES}")
    return {k: v for k, v in refs.items() if v}


def spec_from_request(event: AssessmentRequestedV1, texts: Mapping[str, str]) -> BatchSpec:
    """The spec of a request, given every text it references (content id -> text)."""
    options = dict(event.options)
    legacy = {key: options.pop(key) for key in _LEGACY_REQUEST_KEYS if key in options}
    essays = tuple(
        Essay(id=e.essay_id, text=texts[e.content_sha256], is_anchor=e.is_anchor, grade=e.grade,
              label=e.essay_id)
        for e in event.essays
    )
    text = _named(request_text_ids(event), texts)
    return BatchSpec(
        essays=essays, instructions=text("instructions"), student_prompt=text("student_prompt"),
        rubric=text("rubric"), system_prompt=text("system_prompt"), judge=event.judge,
        grade_scale=event.grade_scale or None, label=event.label,
        assignment_ref=event.assignment_id,
        base_url=event.base_url or legacy.get("base_url"),
        grades_requested=bool(legacy.get("grades_requested", event.grades_requested)),
        options=BatchOptions.from_dict(options),
    )
