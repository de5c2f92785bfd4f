"""The judge settings the runner plumbs through the engine: stored with the batch (a resumed
batch sends the same), part of the request hash, refused where a provider has no such
setting; and the judge name checked against the manifest for the provider it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjgrade.engine.options import BatchOptions, merge_options
from cjgrade.errors import ConfigError, InputError
from cjgrade.judges.base import JudgeRequest, JudgeSettings
from cjgrade.judges.prompt import render_request
from cjgrade.runner.eng5.judge_settings import (
    LANGUAGE_NOTES,
    batch_option_overrides,
    judge_name,
    judge_record,
    load_prompts,
)
from cjgrade.runner.eng5.settings import Eng5Settings


def _request(**settings: object) -> JudgeRequest:
    return JudgeRequest(system_prompt="", student_prompt="", instructions="Judge.", rubric="",
                        essay_a="Essay one.", essay_b="Essay two.",
                        settings=JudgeSettings(**settings))  # type: ignore[arg-type]


def test_judge_settings_survive_the_stored_options() -> None:
    settings = Eng5Settings.from_flags(llm_temperature=0.0, llm_max_tokens=300,
                                       reasoning_effort="low", output_verbosity="high",
                                       llm_batching_mode="provider_batch_api")
    options = merge_options(BatchOptions(), batch_option_overrides(settings), source="flags")
    again = BatchOptions.from_dict(options.to_dict())  # what a resumed batch reads back
    assert again.judge_settings() == JudgeSettings(temperature=0.0, max_tokens=300,
                                                   reasoning_effort="low",
                                                   output_verbosity="high")
    assert again.batch_api is True
    record = judge_record(settings, "openai/gpt-5-mini-2025-08-07", again)
    assert (record["temperature"], record["batching_mode"]) == (0.0, "provider_batch_api")


def test_verbosity_is_part_of_the_hash_only_when_set() -> None:
    plain = render_request(_request()).request_sha256
    assert render_request(_request(output_verbosity=None)).request_sha256 == plain
    low = render_request(_request(output_verbosity="low")).request_sha256
    high = render_request(_request(output_verbosity="high")).request_sha256
    assert len({plain, low, high}) == 3


def test_judge_names_are_checked_for_the_provider_named() -> None:
    def name(**flags: object) -> str | None:
        return judge_name(Eng5Settings.from_flags(**flags))

    assert name(llm_provider="openai", llm_model="gpt-5-mini") == "openai/gpt-5-mini-2025-08-07"
    assert name(llm_model="claude-haiku-4-5-20251001") == "anthropic/claude-haiku-4-5-20251001"
    with pytest.raises(ConfigError, match="unknown model anthropic/gpt-5-mini"):
        name(llm_provider="anthropic", llm_model="gpt-5-mini")
    with pytest.raises(ConfigError, match="not in the manifest; pass --llm-provider"):
        name(llm_model="no-such-model")
    with pytest.raises(ConfigError, match="unknown judge provider 'nope'"):
        name(llm_provider="nope", llm_model="x")
    assert judge_name(Eng5Settings(), required=False) is None


def test_prompts_carry_the_language_line(tmp_path: Path) -> None:
    system = tmp_path / "system.md"
    system.write_text("Be strict.\n", encoding="utf-8")
    prompts = load_prompts(Eng5Settings.from_flags(system_prompt=system, language="sv"))
    assert prompts.system_prompt == f"Be strict.\n\n{LANGUAGE_NOTES['sv']}"
    assert prompts.record()["system_prompt"]["source"] == str(system)
    empty = tmp_path / "empty.md"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(InputError, match="--rubric"):
        load_prompts(Eng5Settings.from_flags(rubric=empty))


def test_settings_travel_to_remote_workers_intact() -> None:
    """The cluster path carries every setting in ``comparison.requested`` (none dropped)."""
    from cjgrade.bus.events import ComparisonRequestedV1
    from cjgrade.distributed.messages import judge_request, request_data

    request = _request(temperature=0.0, max_tokens=77, reasoning_effort="low",
                       output_verbosity="medium")
    data = request_data(request)
    event = ComparisonRequestedV1(batch_uuid="b", comparison_id=1, round=0, slot=0,
                                  judge="openai/gpt-5-mini", request=data)
    again = ComparisonRequestedV1.model_validate_json(event.model_dump_json())
    assert judge_request(again.request).settings == request.settings
