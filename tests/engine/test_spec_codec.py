"""One serialisation of a batch spec: stored settings and the request event give back the
spec they were made from; a request in the earlier shape (texts inside options) still reads."""

from __future__ import annotations

import dataclasses

import pytest

from cjgrade.engine.spec_codec import (
    request_event,
    spec_from_request,
    spec_from_settings,
    spec_settings,
    text_ids,
)
from cjgrade.errors import ConfigError
from cjgrade.store.content import content_id
from tests.engine.conftest import make_spec


def _spec():  # type: ignore[no-untyped-def]
    spec = make_spec(n_students=3, budget=30)
    return dataclasses.replace(spec, rubric="Judge the argument.", system_prompt="Be fair.",
                               base_url="http://127.0.0.1:9/v1", grades_requested=False)


def _texts(spec) -> dict[str, str]:  # type: ignore[no-untyped-def]
    texts = {content_id(e.text): e.text for e in spec.essays}
    for name, cid in text_ids(spec).items():
        if cid:
            texts[cid] = getattr(spec, name)
    return texts


def test_stored_settings_give_back_the_spec() -> None:
    spec = _spec()
    back = spec_from_settings(spec_settings(spec), spec.essays, _texts(spec),
                              grade_scale=spec.grade_scale, label=spec.label,
                              assignment_id=spec.assignment_id)
    # a spec made without a folder stores no inventory: its texts are named by content id
    assert back.inputs["root"] is None and back.inputs["rubric"]["sha256"] == \
        content_id("Judge the argument.")
    assert dataclasses.replace(back, inputs=spec.inputs) == spec


def test_the_request_gives_back_the_spec() -> None:
    spec = _spec()
    event = request_event(spec, "b-1")
    assert set(event.options) == set(spec.options.to_dict())  # options hold options only
    assert event.texts["rubric"] == content_id("Judge the argument.")
    back = spec_from_request(event, _texts(spec))
    assert back.options == spec.options and back.base_url == spec.base_url
    assert back.grades_requested is False and back.rubric == spec.rubric
    assert [(e.id, e.text, e.grade) for e in back.essays] == \
        [(e.id, e.text, e.grade) for e in spec.essays]


def test_a_request_in_the_earlier_shape_still_reads() -> None:
    spec = _spec()
    event = request_event(spec, "b-1")
    legacy = event.model_copy(update={
        "options": {**event.options, "texts": event.texts, "grades_requested": False,
                    "base_url": spec.base_url},
        "texts": {}, "grades_requested": True, "base_url": None})
    back = spec_from_request(legacy, _texts(spec))
    assert (back.rubric, back.grades_requested, back.base_url) == \
        (spec.rubric, False, spec.base_url)


def test_an_unknown_text_name_is_refused() -> None:
    spec = _spec()
    event = request_event(spec, "b-1").model_copy(update={"texts": {"essay_notes": "x"}})
    with pytest.raises(ConfigError, match="unknown texts"):
        spec_from_request(event, _texts(spec))
