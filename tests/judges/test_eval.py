"""``cjgrade eval``: loading scored essays, pairing, and agreement via CJ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cjgrade.cli.main import build_app, run_app
from cjgrade.errors import InputError, JudgeAuthError, JudgeError, JudgeOutputInvalid
from cjgrade.judges import get_judge
from cjgrade.judges.evaluation import (
    evaluate_judge,
    load_scored_essays,
    schedule_pairs,
)
from cjgrade.judges.sim import text_key
from tests.conftest import shared_data_dir

HEADER = "essay_id\tessay_set\tessay\trater1_domain1\trater2_domain1\tdomain1_score\n"


def synthetic_dataset(tmp_path: Path, n: int = 30) -> Path:
    """One essay set whose texts grow in length and care with the score."""
    rows = []
    for i in range(n):
        score = i % 4
        body = " ".join(["Careful, considered sentences develop the argument further."]
                        * (2 + 4 * score))
        rows.append(f"{i}\t1\t{body} Essay {i}.\t{score}\t{score}\t{score}\n")
    path = tmp_path / "scored.tsv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_schedule_pairs_gives_each_essay_its_comparisons(rng: np.random.Generator) -> None:
    """Each round pairs every essay once (one sits out when n is odd); no self-pairs."""
    pairs = schedule_pairs(11, 6, rng)
    assert len(pairs) == 6 * 5
    counts = np.bincount(np.array(pairs).ravel(), minlength=11)
    assert counts.min() >= 4 and counts.max() <= 6
    assert all(a != b for a, b in pairs)


def test_load_rejects_missing_columns(tmp_path: Path) -> None:
    """A file without the required columns is refused, naming them."""
    path = tmp_path / "bad.csv"
    path.write_text("id,text\n1,hello\n", encoding="utf-8")
    with pytest.raises(InputError, match="domain1_score"):
        load_scored_essays(path)


async def test_sim_judge_with_true_scores_agrees_strongly(tmp_path: Path) -> None:
    """A sim judge whose true abilities are the human scores recovers them: QWK and rho high."""
    essays = load_scored_essays(synthetic_dataset(tmp_path, 40))
    abilities = {text_key(e.text): 1.5 * e.score for e in essays}
    judge = get_judge("sim/bt", options={"abilities": abilities, "seed": 3})
    [result] = await evaluate_judge(judge, essays, sample=40, comparisons_per_essay=10, seed=1)
    assert result.n_comparisons == 200 and result.n_failed == 0
    assert result.qwk > 0.8 and result.spearman > 0.8
    assert result.human_qwk == pytest.approx(1.0)


async def test_random_judge_agrees_at_chance(tmp_path: Path) -> None:
    """A sim judge with abilities unrelated to the scores sits near zero agreement."""
    essays = load_scored_essays(synthetic_dataset(tmp_path, 40))
    rng = np.random.default_rng(5)
    abilities = {text_key(e.text): float(rng.normal()) * 0.01 for e in essays}
    judge = get_judge("sim/bt", options={"abilities": abilities, "seed": 4})
    [result] = await evaluate_judge(judge, essays, sample=40, comparisons_per_essay=10, seed=2)
    assert abs(result.spearman) < 0.45


async def test_unfixable_error_stops_the_evaluation_after_one_call(tmp_path: Path) -> None:
    """A rejected key on the first comparison ends the evaluation with that error after one
    call; when every comparison fails, the error says so and quotes the first failure."""
    essays = load_scored_essays(synthetic_dataset(tmp_path, 10))
    judge = get_judge("scripted")
    fake = judge.adapter
    fake.enqueue(JudgeAuthError("HTTP 401 (check OPENAI_API_KEY)"))  # type: ignore[attr-defined]
    with pytest.raises(JudgeAuthError, match="OPENAI_API_KEY"):
        await evaluate_judge(judge, essays, sample=10, comparisons_per_essay=2)
    assert len(fake.history) == 1  # type: ignore[attr-defined]
    fake.default = JudgeOutputInvalid("not JSON")  # type: ignore[attr-defined]
    with pytest.raises(JudgeError, match="every comparison failed; the first error: not JSON"):
        await evaluate_judge(judge, essays, sample=10, comparisons_per_essay=2)


def test_cli_eval_json_on_synthetic_data(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI reports per-set QWK/Spearman in JSON; the heuristic prefers the fuller essays."""
    path = synthetic_dataset(tmp_path)
    code = run_app(build_app(), ["eval", str(path), "--sample", "20",
                                 "--comparisons-per-essay", "6", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["judge"] == "heuristic/surface"
    [row] = report["sets"]
    assert row["n_essays"] == 20 and row["n_comparisons"] == 60
    assert row["spearman"] > 0.7
    assert report["cost"]["heuristic/surface"]["cost_usd"] == 0.0


def test_cli_eval_unknown_set_fails_before_judging(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Asking for a set the file lacks exits 3 naming the sets it has."""
    code = run_app(build_app(), ["eval", str(synthetic_dataset(tmp_path)), "--set", "9"])
    assert code == 3 and "not in the dataset" in capsys.readouterr().err


def test_cli_eval_against_a_local_openai_compatible_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """cjgrade eval --judge openai/<served> --base-url URL --allow-unknown-model works with no
    key end to end: every comparison reaches the server and the cost is reported unknown."""
    from tests.judges.fakes.openai_api import FakeOpenAI, verdict_reply

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = synthetic_dataset(tmp_path, n=8)
    with FakeOpenAI(require_key=False) as server:
        server.enqueue(*[verdict_reply("A", 3, model="local-7b") for _ in range(4)])
        code = run_app(build_app(), ["eval", str(path), "--judge", "openai/local-7b",
                                     "--base-url", f"{server.url}/v1", "--allow-unknown-model",
                                     "--sample", "8", "--comparisons-per-essay", "1",
                                     "--format", "json"])
        sent = len(server.chat_requests())
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and sent == 4
    assert report["sets"][0]["n_comparisons"] == 4 and report["sets"][0]["n_failed"] == 0
    cost = report["cost"]["openai/local-7b"]
    assert cost["calls"] == 4 and cost["cost_usd"] is None


@pytest.mark.realdata
async def test_heuristic_agreement_on_asap_fold0() -> None:
    """On real ASAP essays (2 sets, 30 essays, 8 comparisons each) the heuristic agrees with
    humans well above chance (documented full figures: docs/judges.md)."""
    path = shared_data_dir("asap") / "asap_fold0.tsv"
    essays = load_scored_essays(path)
    results = await evaluate_judge(get_judge("heuristic/surface"), essays, sets=[1, 5],
                                   sample=30, comparisons_per_essay=8, seed=0)
    for result in results:
        assert result.n_failed == 0
        assert result.qwk > 0.4 and result.spearman > 0.4
