"""``cjgrade eval`` end to end: real batches through the engine, baselines, errors, the LLM
path through a wire-level fake OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cjgrade.cli.main import build_app, run_app
from tests.evaluation.data import scored_rows, two_sets, write_csv


def _eval(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = run_app(build_app(), ["eval", *args, "--format", "json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 else {})


def _row(doc: dict[str, Any], judge_prefix: str, essay_set: str,
         budget: float | None = None) -> dict[str, Any]:
    [row] = [r for r in doc["rows"] if r["judge"].startswith(judge_prefix)
             and r["essay_set"] == essay_set and r["budget_per_essay"] == budget]
    return row


def test_baselines_on_two_sets_over_two_seeds(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _eval([str(two_sets(tmp_path)), "--students", "12", "--anchors-per-level", "2",
                       "--seeds", "2", "--baselines", "scores,random"], capsys)
    assert code == 0 and doc["stopped"] is None
    assert doc["judges"][0].startswith("sim/scores (noise 1, soft)")
    assert len(doc["runs"]) == 2 * 2 * 2  # sets x judges x seeds
    scores = _row(doc, "sim/scores", "A")["figures"]
    assert scores["qwk"]["n"] == 2 and scores["qwk"]["mean"] > 0.6
    assert scores["spearman"]["mean"] > 0.7
    assert abs(scores["reliability_minus_truth"]["mean"]) < 0.25
    random = _row(doc, "random", "overall")["figures"]
    assert abs(random["truth_reliability"]["mean"]) < 0.3
    # overall = mean over seeds of the per-seed mean over sets
    runs = [r for r in doc["runs"] if r["judge"].startswith("sim/scores")]
    per_seed = [sum(r["qwk"] for r in runs if r["seed"] == s) / 2 for s in (0, 1)]
    overall = _row(doc, "sim/scores", "overall")["figures"]["qwk"]
    assert overall["mean"] == pytest.approx(sum(per_seed) / 2)
    assert overall["sd"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2**0.5)
    run = runs[0]
    assert run["n_students"] == 12 and run["n_anchors"] == 8 and run["status"] == "completed"
    assert run["human_qwk"] is not None and run["cost_usd"] == 0.0


def test_budget_study_writes_table_and_plot(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code, doc = _eval([str(two_sets(tmp_path)), "--set", "B", "--students", "10",
                       "--anchors-per-level", "1", "--budgets", "2,6", "--baselines", "scores",
                       "--out", str(out)], capsys)
    assert code == 0
    n_essays = 10 + 4
    for budget in (2.0, 6.0):
        row = _row(doc, "sim/scores", "B", budget)
        spent = row["figures"]["comparisons_per_essay"]["mean"]
        assert spent == pytest.approx(round(budget * n_essays) / n_essays)  # spent to the end
    svg = (out / "budget.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.count("<polyline") == 4
    markdown = (out / "eval.md").read_text(encoding="utf-8")
    assert "| sim/scores (noise 1, soft) | 2/essay | B |" in markdown
    assert "![Budget study](budget.svg)" in markdown
    assert json.loads((out / "eval.json").read_text(encoding="utf-8"))["rows"] == doc["rows"]


def test_table_and_markdown_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(two_sets(tmp_path))
    args = ["eval", path, "--set", "B", "--students", "6", "--anchors-per-level", "1",
            "--baselines", "heuristic,length"]
    assert run_app(build_app(), [*args, "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| heuristic/surface | stopping rules | B |" in markdown
    assert "| length (longer wins) | stopping rules | B |" in markdown
    assert run_app(build_app(), [*args, "--baselines", "random"]) == 0
    table = capsys.readouterr().out
    assert "random (coin flip) · budget: stopping rules" in table and "QWK quantile*" in table


@pytest.mark.parametrize(("extra", "code", "message"), [
    (["--anchors-per-level", "11"], 3, "only 0 of its 4 score levels have 11 essays"),
    (["--students", "500"], 3, "--students 500 asks for more"),
    (["--baselines", "heuristic,oracle"], 2, "unknown baselines ['oracle']"),
    (["--budgets", "5,x"], 2, "--budgets must be numbers"),
    (["--budgets", "5", "--budget-per-essay", "3"], 2, "not both"),
    (["--format", "yaml"], 2, "--format must be one of"),
    (["--judge", "openai/no-such-model"], 2, "no-such-model"),
    (["--set", "Z"], 3, "not in the dataset"),
    (["--baselines", "none"], 2, "nothing to evaluate"),
    (["--budget-per-essay", "0.2"], 3, "a budget of 0.2 comparisons per essay"),
    (["--judge", "sim/bt"], 2, "sim/bt needs true abilities"),
])
def test_bad_requests_fail_before_any_judging(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              extra: list[str], code: int, message: str) -> None:
    got = run_app(build_app(), ["eval", str(two_sets(tmp_path)), "--students", "6", *extra])
    captured = capsys.readouterr()
    assert got == code and message in captured.err and captured.out == ""


def test_bad_dataset_fails_before_any_judging(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rows = scored_rows({0: 4, 1: 4})
    rows[3]["score"] = "high"
    code = run_app(build_app(), ["eval", str(write_csv(tmp_path / "d.csv", rows))])
    assert code == 3 and "score 'high' is not a number" in capsys.readouterr().err


def _truth_server(tmp_path: Path) -> tuple[Path, Any]:
    from tests.judges.fakes.truth import BeliefJudge

    rows = scored_rows({1: 5, 2: 5, 3: 5}, essay_set="S")
    abilities = {r["text"]: 1.5 * int(r["score"]) for r in rows}
    return write_csv(tmp_path / "d.csv", rows), BeliefJudge(abilities, belief_noise=0.5, seed=4)


def test_eval_through_a_wire_level_openai_compatible_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--judge openai/<served> --base-url URL: every comparison is a real HTTP request to the
    fake server, which answers like an LLM with known truth (log-probabilities, confidences);
    the figures come from the engine's batch; tokens are counted, cost unknown."""
    from tests.judges.fakes.openai_api import FakeOpenAI

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path, beliefs = _truth_server(tmp_path)
    with FakeOpenAI(require_key=False) as server:
        server.responder = beliefs.openai_responder()
        code, doc = _eval([str(path), "--judge", "openai/local-7b", "--base-url",
                           f"{server.url}/v1", "--allow-unknown-model", "--students", "8",
                           "--anchors-per-level", "2", "--baselines", "none"], capsys)
        sent = len(server.chat_requests())
    assert code == 0 and doc["judges"] == ["openai/local-7b"]
    [run] = doc["runs"]
    assert run["status"] == "completed" and run["n_failed"] == 0
    # a pair asked again in the same order is served by the batch's response cache
    assert sent == len(beliefs.answered) and 0.8 * run["n_comparisons"] <= sent
    assert sent <= run["n_comparisons"]
    assert run["input_tokens"] > 0 and run["cost_usd"] is None
    assert run["spearman"] > 0.5 and run["qwk"] is not None
    assert run["human_qwk"] is not None


def test_a_rejected_key_stops_the_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A 401 from the server fails the first batch; the evaluation stops there (nothing more
    is spent on later sets) with the reason and exit code 5."""
    from tests.judges.fakes.openai_api import FakeOpenAI, error_reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    path = two_sets(tmp_path)
    with FakeOpenAI(require_key=False) as server:
        server.responder = lambda body: error_reply(401, "Incorrect API key provided",
                                                    "invalid_api_key")
        code = run_app(build_app(), ["eval", str(path), "--judge", "openai/gpt-5-mini",
                                     "--base-url", f"{server.url}/v1", "--students", "6",
                                     "--anchors-per-level", "1", "--baselines", "none",
                                     "--format", "json"])
        sent = len(server.chat_requests())
    captured = capsys.readouterr()
    assert code == 5 and "evaluation stopped early" in captured.err
    assert "set A" in captured.err
    doc = json.loads(captured.out)
    assert [r["essay_set"] for r in doc["runs"]] == ["A"]  # set B was never started
    assert sent <= 16
