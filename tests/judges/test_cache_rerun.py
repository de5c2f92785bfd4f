"""A re-run answered from the response cache says so: the console, the artefact and both
reports count the cached verdicts and say they cost nothing this time, instead of a bare
$0.0000."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.judges.fakes import openai_api
from tests.judges.fakes.cli import isolate, run_cli, write_folder
from tests.judges.fakes.truth import read_essays

pytest.importorskip("openai")

JUDGE = "openai/gpt-4o-2024-11-20"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


def test_a_rerun_from_the_cache_says_why_it_cost_nothing(environment: Path) -> None:
    """The same folder run twice against the same store: the second run sends nothing, and
    its artefact, console and reports count its verdicts as response-cache hits that cost
    $0."""
    folder = write_folder(environment / "input")
    with openai_api.FakeOpenAI() as server:
        def answer(body: dict[str, object]) -> openai_api.Reply:
            a, b = read_essays(str(body["messages"][1]["content"]))  # type: ignore[index]
            return openai_api.verdict_reply("A" if len(a) >= len(b) else "B", 3)

        server.responder = answer
        argv = ["run", str(folder), "--judge", JUDGE, "--base-url", f"{server.url}/v1",
                "--budget", "6", "--seed", "3", "--no-grades"]
        first_code, _ = run_cli([*argv, "--out", str(environment / "first")])
        sent = len(server.chat_requests())
        code, output = run_cli([*argv, "--out", str(environment / "second")])
    assert (first_code, code) == (0, 0)
    assert len(server.chat_requests()) == sent  # nothing asked twice
    doc = json.loads((environment / "second" / "assessment_run.json").read_text("utf-8"))
    costs = doc["costs"]
    assert costs["total_usd"] == 0.0
    assert costs["n_cache_hits"] == costs["n_succeeded"] == 6
    assert costs["by_model"][0]["cache_hits"] == 6
    assert all(c["attempts"] == 0 and "cached" in c["flags"] for c in doc["comparisons"])
    assert "6 of the 6 verdicts came from the response cache" in output
    assert "cost nothing this time" in output
    first = json.loads((environment / "first" / "assessment_run.json").read_text("utf-8"))
    assert first["costs"]["n_cache_hits"] == 0 and first["costs"]["total_usd"] > 0
    for name in ("report.md", "report.html"):
        report = (environment / "second" / name).read_text("utf-8")
        assert "6 of the 6 verdicts came from the response cache" in report
        assert "they cost nothing this time" in report
        assert "response cache" not in (environment / "first" / name).read_text("utf-8")
    md = (environment / "second" / "report.md").read_text("utf-8")
    assert "| openai | gpt-4o-2024-11-20 | 6 | 6 |" in md  # comparisons, from cache
