"""Both anchor modes through ``eng5-np-run`` (the CLI, the configured judge builder, the
official SDKs, the real adapters) against the wire-level fake servers answered by the truth
look-alike (``tests/judges/fakes/truth.py``): soft outcomes from log-probabilities (OpenAI),
stated confidences (Anthropic), a position offset, and the judge settings on the wire.

Named ``test_align*`` by the area's convention; it covers boundary-test as well."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cjgrade.cli.eng5 import run_cli
from cjgrade.runner.eng5 import exit_codes
from tests.judges.fakes import anthropic_api, openai_api
from tests.judges.fakes.cli import isolate
from tests.judges.fakes.truth import BeliefJudge
from tests.judges.fakes.truth_scenario import JUDGES, unthrottled_manifest
from tests.runner.eng5.anchor_sets import ENG5_SET, anchor_text, write_eng5_folder


@pytest.fixture(autouse=True)
def _fast_manifest() -> Iterator[None]:
    with unthrottled_manifest():
        yield


def _abilities(n: int, spread: float = 0.6) -> dict[str, float]:
    """The true ability of anchor k (quality 10 (k + 1)) is spread * k around 0."""
    return {anchor_text(10 * (k + 1)): spread * (k - (n - 1) / 2) for k in range(n)}


def _argv(mode: str, root: Path, out: Path, db: Path, flavour: str, url: str,
          *extra: str) -> list[str]:
    provider, _, model = JUDGES[flavour].partition("/")
    return ["--mode", mode, "--input-dir", str(root), "--output-dir", str(out),
            "--database-url", f"sqlite+aiosqlite:///{db}", "--llm-provider", provider,
            "--llm-model", model, "--llm-base-url", url, *extra]


def _artefact(out: Path, mode: str) -> dict:  # type: ignore[type-arg]
    [run_dir] = [p for p in out.iterdir() if p.is_dir()]
    return json.loads((run_dir / f"assessment_run.{mode}.json").read_text(encoding="utf-8"))


def test_anchor_align_over_openai_with_logprobs(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """12 anchors over HTTP: 66 requests, each carrying the --system-prompt text, the rubric,
    temperature 0.0 and the max tokens given; soft p_a from the winner token's log-probs;
    a well-separated truth gives the original's tau near 1 and a tau-b near its maximum."""
    isolate(tmp_path, monkeypatch)
    root = write_eng5_folder(tmp_path / "in")
    (tmp_path / "system.md").write_text("Judge ENG5 essays by the rubric.\n", "utf-8")
    (tmp_path / "rubric.md").write_text("Argument first, then language.\n", "utf-8")
    judge = BeliefJudge(_abilities(12, spread=1.2), belief_noise=0.3, position_offset=0.3,
                        seed=5)
    server = openai_api.FakeOpenAI()
    server.responder = judge.openai_responder()
    with server:
        code = run_cli(_argv("anchor-align-test", root, tmp_path / "out", tmp_path / "db.sqlite3",
                             "openai", f"{server.url}/v1", "--system-prompt",
                             str(tmp_path / "system.md"), "--rubric", str(tmp_path / "rubric.md"),
                             "--llm-temperature", "0.0", "--llm-max-tokens", "700"))
        bodies = server.chat_requests()
    printed = capsys.readouterr()
    assert code == exit_codes.OK, printed.err
    assert len(bodies) == 66 and judge.unknown_essays == 0
    for body in bodies:
        text = json.dumps(body["messages"])
        assert "Judge ENG5 essays by the rubric." in text
        assert "Argument first, then language." in text
        assert body["temperature"] == 0.0
        assert 700 in (body.get("max_tokens"), body.get("max_completion_tokens"))
        assert body.get("logprobs") is True
    doc = _artefact(tmp_path / "out", "anchor-align-test")
    p_values = [c["p_a"] for c in doc["comparisons"]]
    assert all(0.0 < p < 1.0 for p in p_values) and len(set(p_values)) > 10  # soft outcomes
    section = doc["runner"]["anchor_alignment"]
    assert section["n_pairs_compared"] == 66
    assert section["kendall_tau_original"] >= 0.9
    assert section["kendall_tau_b"] >= 0.85
    assert doc["runner"]["judge"]["temperature"] == 0.0
    assert "Kendall tau-b" in printed.out


def test_anchor_align_rerun_answers_from_the_response_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same test twice on one store: the second run sends no request, every verdict is a
    response-cache hit, and the report says so."""
    isolate(tmp_path, monkeypatch)
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:4])
    judge = BeliefJudge(_abilities(4), belief_noise=0.5, seed=3)
    server = openai_api.FakeOpenAI()
    server.responder = judge.openai_responder()
    with server:
        codes = [run_cli(_argv("anchor-align-test", root, tmp_path / f"out{k}",
                               tmp_path / "db.sqlite3", "openai", f"{server.url}/v1"))
                 for k in range(2)]
        n_requests = len(server.chat_requests())
    assert codes == [exit_codes.OK, exit_codes.OK] and n_requests == 6
    first = _artefact(tmp_path / "out0", "anchor-align-test")
    second = _artefact(tmp_path / "out1", "anchor-align-test")
    assert first["runner"]["anchor_alignment"]["n_cache_hits"] == 0
    assert second["runner"]["anchor_alignment"]["n_cache_hits"] == 6
    assert [c["p_a"] for c in first["comparisons"]] == [c["p_a"] for c in second["comparisons"]]
    [run_dir] = [p for p in (tmp_path / "out1").iterdir() if p.is_dir()]
    report = (run_dir / "anchor_alignment.md").read_text(encoding="utf-8")
    assert "| Verdicts from the response cache (asked in an earlier run, not again) | 6 |" in report


def test_anchor_align_refuses_before_any_request(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One anchor: exit 3 (validation), no request on the wire, no output folder."""
    isolate(tmp_path, monkeypatch)
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:1])
    server = openai_api.FakeOpenAI()
    with server:
        code = run_cli(_argv("anchor-align-test", root, tmp_path / "out",
                             tmp_path / "db.sqlite3", "openai", f"{server.url}/v1"))
    assert code == exit_codes.VALIDATION
    assert server.requests == [] and not (tmp_path / "out").exists()


def test_boundary_over_anthropic_sees_position_bias(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A look-alike with a strong first-position offset (+3 logits) on two close anchors:
    every one of the 2N = 16 calls reaches the server (no cache), the first-shown essay wins
    nearly always, the binomial test flags it, and the stated confidences are averaged."""
    isolate(tmp_path, monkeypatch)
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic_api.VALID_KEY)
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:4])
    judge = BeliefJudge(_abilities(4, spread=0.2), belief_noise=0.2, position_offset=3.0,
                        seed=7)
    server = anthropic_api.FakeAnthropic()
    server.responder = judge.anthropic_responder()
    with server:
        code = run_cli(_argv("boundary-test", root, tmp_path / "out", tmp_path / "db.sqlite3",
                             "anthropic", server.url, "--boundary-pairs", "004_E+:003_E-",
                             "--boundary-iterations", "8", "--llm-temperature", "0.0"))
        bodies = [r.json() for r in server.requests if r.path == "/v1/messages"]
    assert code == exit_codes.OK
    assert len(bodies) == 16 and len(judge.answered) == 16
    assert all(body["temperature"] == 0.0 for body in bodies)
    assert len({json.dumps(body, sort_keys=True) for body in bodies}) == 2  # identical repeats
    doc = _artefact(tmp_path / "out", "boundary-test")
    m = doc["runner"]["boundary_test"]["pairs"][0]["metrics"]
    assert m["n"] == 16 and m["first_position_rate"] >= 0.875
    assert m["first_position_p_value"] < 0.01
    assert m["n_confidence"] == 16 and 1.0 <= m["mean_confidence"] <= 5.0
    assert m["soft"] is True  # stated confidences become probabilities
    assert all(c["attempts"] >= 1 and "cached" not in c["flags"] for c in doc["comparisons"])


def test_boundary_over_openai_soft_win_rate(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A well-separated pair without position offset over OpenAI with log-probabilities: the
    soft win rate of the higher grade is high, its Wilson interval lies above 50 %, the hard
    decisions all name the higher essay, and the calls' reasoning effort setting of a
    non-reasoning model is refused before any request."""
    isolate(tmp_path, monkeypatch)
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:4])
    judge = BeliefJudge(_abilities(4, spread=2.0), belief_noise=0.3, seed=11)
    server = openai_api.FakeOpenAI()
    server.responder = judge.openai_responder()
    with server:
        code = run_cli(_argv("boundary-test", root, tmp_path / "out", tmp_path / "db.sqlite3",
                             "openai", f"{server.url}/v1", "--boundary-pairs",
                             "004_E+:001_F+", "--boundary-iterations", "5"))
        assert len(server.chat_requests()) == 10
        refused = run_cli(_argv("boundary-test", root, tmp_path / "out2",
                                tmp_path / "db.sqlite3", "openai", f"{server.url}/v1",
                                "--boundary-pairs", "004_E+:001_F+", "--reasoning-effort",
                                "high"))
        assert len(server.chat_requests()) == 10
    assert code == exit_codes.OK and refused == exit_codes.USAGE
    assert not (tmp_path / "out2").exists()
    doc = _artefact(tmp_path / "out", "boundary-test")
    [line] = doc["costs"]["by_model"]
    assert line["comparisons"] == 10 and line["input_tokens"] > 0
    assert doc["costs"]["total_usd"] is not None and doc["costs"]["total_usd"] > 0
    m = doc["runner"]["boundary_test"]["pairs"][0]["metrics"]
    assert m["soft"] is True and m["hard_win_rate"] == 1.0
    assert 0.9 < m["win_rate"] < 1.0
    assert m["win_rate_interval"][0] > 0.5
