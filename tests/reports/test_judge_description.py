"""One description per judge that is not a language model, from the model manifest, read by
``cjgrade plan`` and by both reports alike: surface features for ``heuristic/surface`` only, a
simulation for ``sim/bt`` and ``sim/scores``, scripted verdicts for ``scripted``."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cjgrade.errors import ConfigError
from cjgrade.judges.manifest import (
    is_local_judge,
    load_manifest,
    local_judge_description,
    parse_manifest,
)
from cjgrade.reports import render_html, render_markdown
from cjgrade.reports.html import escape
from cjgrade.reports.markdown import text
from cjgrade.reports.notices import judge_note

LOCAL = ("heuristic/surface", "sim/bt", "sim/scores", "scripted/default")


def with_judge(doc: dict[str, Any], judge: str, is_llm: bool) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["metadata"]["judge"] = judge
    out["metadata"]["judge_is_llm"] = is_llm
    return out


def test_every_local_judge_has_its_own_description() -> None:
    manifest = load_manifest()
    local = [f"{m.provider}/{m.model}" for m in manifest if manifest.provider(m.provider).local]
    assert sorted(local) == sorted(LOCAL)
    descriptions = {name: local_judge_description(name) for name in local}
    assert all(descriptions.values()) and len(set(descriptions.values())) == len(local)
    assert "surface features" in str(descriptions["heuristic/surface"])
    for name in ("sim/bt", "sim/scores", "scripted/default"):
        assert "surface" not in str(descriptions[name])
    assert "abilities given to it" in str(descriptions["sim/bt"])
    assert "human scores given to it" in str(descriptions["sim/scores"])
    assert "scripted" in str(descriptions["scripted/default"])
    assert local_judge_description("scripted") == descriptions["scripted/default"]
    for name in ("openai/gpt-5-mini", "anthropic/claude-haiku-4-5", "nobody/model"):
        assert local_judge_description(name) is None and not is_local_judge(name)


def test_a_local_model_without_description_is_refused() -> None:
    data = tomllib.loads(resources.files("cjgrade.judges").joinpath("models.toml")
                         .read_text("utf-8"))
    for model in data["models"]:
        if model["provider"] == "sim" and model["model"] == "scores":
            del model["description"]
    with pytest.raises(ConfigError, match=r"sim/scores.*description"):
        parse_manifest(data, "test manifest")


@pytest.mark.parametrize("judge", LOCAL)
def test_reports_and_plan_give_the_manifest_description(
        judge: str, artefact: dict[str, Any]) -> None:
    from cjgrade.runner.folder_spec import spec_from_folder
    from cjgrade.runner.grades import resolve_grade
    from cjgrade.runner.inputs import read_input_folder
    from cjgrade.runner.planning import plan_batch

    description = local_judge_description(judge)
    assert description
    doc = with_judge(artefact, judge, False)
    assert judge_note(doc["metadata"]) == description
    md, html = render_markdown(doc), render_html(doc)
    assert f"(**not a language model**: {text(description)})" in md
    assert f"is not a language model: {escape(description)}.</p>" in html
    folder = read_input_folder(Path(str(resources.files("cjgrade.data").joinpath("sample"))),
                               resolve_grade=resolve_grade)
    plan = plan_batch(spec_from_folder(folder, judge=judge))
    assert f"{judge} is not a language model: {description}" in plan.warnings
    assert plan.judge_is_llm is False
    if judge != "heuristic/surface":
        assert "surface features" not in md + html + " ".join(plan.warnings)


def test_a_language_model_gets_no_note(artefact: dict[str, Any]) -> None:
    doc = with_judge(artefact, "openai/gpt-5-mini", True)
    assert judge_note(doc["metadata"]) is None
    md, html = render_markdown(doc), render_html(doc)
    assert "not a language model" not in md and "not a language model" not in html


def test_the_artefact_flag_follows_the_manifest(artefact: dict[str, Any],
                                                sample_artefact: dict[str, Any]) -> None:
    """build_artefact sets judge_is_llm from the manifest's local providers."""
    assert artefact["metadata"]["judge"].startswith("scripted")
    assert artefact["metadata"]["judge_is_llm"] is False
    assert sample_artefact["metadata"]["judge_is_llm"] is False
    unknown = with_judge(artefact, "retired/judge", False)  # a provider this version lacks
    assert judge_note(unknown["metadata"]) == "this version of cjgrade has no description of it"
