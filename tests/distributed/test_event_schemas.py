"""The JSON Schemas committed in docs/events match the event models and validate events."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cjgrade.bus.events import (
    EVENT_MODELS,
    BatchFailedV1,
    ComparisonCompletedV1,
    make_envelope,
)
from cjgrade.bus.schemas_export import event_schemas, main, stale_schemas

DOCS_EVENTS = Path(__file__).resolve().parents[2] / "docs" / "events"


def test_committed_schemas_match_the_models():
    """docs/events is regenerated whenever an event model changes."""
    assert stale_schemas(DOCS_EVENTS) == [], (
        "run: python -m cjgrade.bus.schemas_export docs/events"
    )
    assert set(event_schemas()) == {f"{t}.schema.json" for t in EVENT_MODELS} | {
        "envelope.schema.json"}


def test_check_mode_reports_a_stale_folder(tmp_path):
    """--check fails on a folder with an edited schema and passes once it is rewritten."""
    assert main([str(tmp_path)]) == 0
    path = tmp_path / "cjgrade.batch.failed.v1.schema.json"
    path.write_text(path.read_text().replace("reason", "cause"))
    assert main([str(tmp_path), "--check"]) == 1
    assert main([str(tmp_path)]) == 0 and main([str(tmp_path), "--check"]) == 0


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((DOCS_EVENTS / name).read_text()))


def test_schemas_accept_real_events_and_refuse_bad_ones():
    """A published envelope and its data validate; an unknown field or a bad winner do not."""
    event = ComparisonCompletedV1(batch_uuid="b", comparison_id=3, status="succeeded",
                                  winner="B", p_a=0.2, provider="sim", model="bt")
    data = event.model_dump(mode="json")
    data_schema = _validator("cjgrade.comparison.completed.v1.schema.json")
    data_schema.validate(data)
    envelope = json.loads(make_envelope(event).model_dump_json())
    _validator("envelope.schema.json").validate(envelope)
    with pytest.raises(jsonschema.ValidationError):
        data_schema.validate({**data, "surprise": 1})
    with pytest.raises(jsonschema.ValidationError):
        data_schema.validate({**data, "winner": "Essay A"})
    failed = _validator("cjgrade.batch.failed.v1.schema.json")
    failed.validate(BatchFailedV1(batch_uuid="b", reason="x").model_dump(mode="json"))
    with pytest.raises(jsonschema.ValidationError):
        failed.validate({"batch_uuid": "b"})
