"""``--mode anchor-align-test`` end to end, embedded, with the scripted judge: the anchors of
an ENG5 folder judged against each other only (no student files), the report's figures
against hand-computed values, and every error path before anything is written."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import kendalltau

from cjgrade.errors import ConfigError, InputError, JudgeUnavailable
from cjgrade.judges import get_judge
from cjgrade.judges.base import Judge, JudgeRequest, ResponseCache
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.align import REPORT_FILE, run_align
from cjgrade.runner.eng5.settings import Eng5Settings
from tests.runner.eng5.anchor_sets import ENG5_SET, by_quality, quality_of, write_eng5_folder

SCALE = ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")


def settings_for(tmp_path: Path, root: Path, **flags: Any) -> Eng5Settings:
    return Eng5Settings.from_flags(mode="anchor-align-test", input_dir=root,
                                   output_dir=tmp_path / "out", llm_provider="scripted",
                                   llm_model="default", **flags)


class Run:
    """One alignment test: exit code, printed lines, report text, artefact, judge history."""

    def __init__(self, tmp_path: Path, root: Path, respond: Any, **flags: Any) -> None:
        self.settings = settings_for(tmp_path, root, **flags)
        self.db = tmp_path / "store.sqlite3"
        self.lines: list[str] = []
        self.judges: list[Judge] = []

        def build(name: str, base_url: str | None, cache: ResponseCache | None) -> Judge:
            judge = get_judge("scripted", options={"default": respond}, cache=cache)
            self.judges.append(judge)
            return judge

        self.code = run_align(self.settings, build_judge=build,
                              store_target=f"sqlite+aiosqlite:///{self.db}",
                              echo=self.lines.append)
        run_dir = self.settings.run_dir()
        self.report = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
        self.artefact = json.loads(
            (run_dir / "assessment_run.anchor-align-test.json").read_text(encoding="utf-8"))
        self.section = self.artefact["runner"]["anchor_alignment"]

    @property
    def requests(self) -> list[JudgeRequest]:
        return [r for j in self.judges for r in j.adapter.history]  # type: ignore[attr-defined]


def _grade(tail: str) -> int:
    return SCALE.index(tail.split("_", 1)[1])


def test_round_robin_with_one_inversion(tmp_path: Path) -> None:
    """12 ENG5 anchors, no student folder: every anchor pair judged exactly once (66); the
    judge follows the hidden quality except E- (quality 30) beating E+ (40). By hand: one
    discordant pair of 66 gives the original's tau (65 - 1)/66 = 0.970; one inversion, whose
    justification is reported; the lowest F+ is the only zero-win anchor and is expected."""
    root = write_eng5_folder(tmp_path / "in")
    assert not (root / "student_essays").exists()
    run = Run(tmp_path, root, by_quality(lambda a, b: {a, b} == {30, 40}))
    assert run.code == exit_codes.OK
    comparisons = run.artefact["comparisons"]
    assert len(comparisons) == 66
    assert len({frozenset((c["essay_a_id"], c["essay_b_id"])) for c in comparisons}) == 66
    assert all(e["is_anchor"] for e in run.artefact["essays"])
    s = run.section
    assert (s["n_anchors"], s["n_pairs_compared"], s["n_anchor_pairs"]) == (12, 66, 66)
    assert s["kendall_tau_original"] == pytest.approx(64 / 66)
    by_id = {e["essay_id"]: e for e in run.artefact["essays"]}
    ids = [f"anchor:anchor_essay_eng_5_17_vt_{t}" for t in ENG5_SET]
    expected_tau_b = kendalltau([_grade(t) for t in ENG5_SET],
                                [by_id[i]["theta"] for i in ids]).statistic
    assert s["kendall_tau_b"] == pytest.approx(expected_tau_b)
    assert s["kendall_tau_b_max"] == pytest.approx(math.sqrt(63 / 66))
    assert (s["direct_inversion_pairs"], s["inversion_decisions"]) == (1, 1)
    [inv] = s["inversions"]
    assert inv["higher"].endswith("004_E+") and inv["winner"].endswith("003_E-")
    assert inv["justification"] == "Quality 30 beats 40: clearer argument."
    assert s["zero_win_anchors"] == ["anchor:anchor_essay_eng_5_17_vt_001_F+"]
    assert s["problem_zero_win_anchors"] == []
    assert s["meets_targets"] is True
    rows = {r["essay_id"]: r for r in s["anchors"]}
    assert rows[ids[-1]]["wins"] == 11 and rows[ids[0]]["wins"] == 0
    assert rows[ids[2]]["wins"] == 3 and rows[ids[3]]["wins"] == 2  # E- over E+
    assert all(r["se"] > 0 for r in s["anchors"])
    # the report: summary, inversion with its justification, every comparison listed
    assert "| Kendall's tau, the original's form (tau-a) | 0.970 |" in run.report
    assert "Quality 30 beats 40: clearer argument." in run.report
    assert run.report.count("\n| ") >= 66 + 12
    assert "Lowest grade, expected: anchor_essay_eng_5_17_vt_001_F+.txt" in run.report
    digest = hashlib.sha256(run.report.encode("utf-8")).hexdigest()
    assert s["report_file"] == {"path": REPORT_FILE, "sha256": digest}
    assert run.artefact["runner"]["mode"] == "anchor-align-test"
    assert run.artefact["metadata"]["batch_uuid"] == run.settings.batch_uuid
    assert any("original tau-a 0.970" in line for line in run.lines)


def test_perfect_order_meets_the_fixed_target(tmp_path: Path) -> None:
    """A judge that follows the grades exactly: the original's tau 1.000, tau-b at its
    maximum sqrt(63/66) = 0.977, no inversion, and the one zero-win anchor (the lowest) does
    not fail the targets."""
    run = Run(tmp_path, write_eng5_folder(tmp_path / "in"), by_quality())
    s = run.section
    assert s["kendall_tau_original"] == pytest.approx(1.0)
    assert s["kendall_tau_b"] == pytest.approx(math.sqrt(63 / 66))
    assert s["direct_inversion_pairs"] == 0 and s["inversions"] == []
    assert len(s["zero_win_anchors"]) == 1 and s["problem_zero_win_anchors"] == []
    assert s["meets_targets"] is True
    assert "None: no lower-graded anchor won" in run.report


def test_zero_win_anchor_above_the_lowest_grade_is_a_problem(tmp_path: Path) -> None:
    """E- (quality 30) loses every comparison, also to both F+ anchors: it is a zero-win
    anchor above the lowest grade, named as a problem; the targets fail."""
    run = Run(tmp_path, write_eng5_folder(tmp_path / "in"),
              by_quality(lambda a, b: 30 in (a, b) and min(a, b) < 30))
    s = run.section
    assert s["problem_zero_win_anchors"] == ["anchor:anchor_essay_eng_5_17_vt_003_E-"]
    assert s["direct_inversion_pairs"] == 2
    assert s["meets_targets"] is False
    assert "**Above the lowest grade, a problem**" in run.report


def test_prompts_reach_the_judge_and_the_report(tmp_path: Path) -> None:
    """--system-prompt and --rubric texts are sent with every request and listed in full in
    the report and the artefact; the judge settings reach the request."""
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:4])
    system = tmp_path / "system.md"
    system.write_text("You grade ENG5 essays. ```fenced``` text stays inside.\n", "utf-8")
    rubric = tmp_path / "rubric.md"
    rubric.write_text("Content 50 %, language 50 %.\n", "utf-8")
    run = Run(tmp_path, root, by_quality(), system_prompt=system, rubric=rubric,
              llm_temperature=0.0, llm_max_tokens=321, language="sv")
    assert len(run.requests) == 6
    for request in run.requests:
        assert request.system_prompt.startswith("You grade ENG5 essays.")
        assert "Swedish" in request.system_prompt
        assert request.rubric == "Content 50 %, language 50 %."
        assert request.settings.temperature == 0.0 and request.settings.max_tokens == 321
    prompts = run.section["prompts"]
    assert prompts["rubric"]["text"] == "Content 50 %, language 50 %."
    assert prompts["system_prompt"]["source"].startswith(str(system))
    assert "````\nYou grade ENG5 essays. ```fenced``` text stays inside." in run.report
    assert run.artefact["runner"]["prompts"]["rubric"]["text"] == "Content 50 %, language 50 %."


def test_budget_below_the_round_robin_is_reported(tmp_path: Path) -> None:
    """--max-comparisons 10 with 12 anchors: 10 comparisons, 10 distinct pairs, the report
    and the console say a full round robin needs 66."""
    run = Run(tmp_path, write_eng5_folder(tmp_path / "in"), by_quality(), max_comparisons=10)
    assert len(run.artefact["comparisons"]) == 10
    assert run.section["n_pairs_compared"] == 10
    assert "**Not every anchor pair was judged** (10 of 66)" in run.report
    assert any("below the 66 anchor pairs" in line for line in run.lines)


def test_failed_comparisons_are_listed_and_a_failed_batch_exits_5(tmp_path: Path) -> None:
    """Every call fails: the batch fails (success rate 0), the exit code is SERVICE_FAILURE,
    and the report still lists every attempt with its error."""

    def fail(request: JudgeRequest) -> Any:
        raise JudgeUnavailable("scripted: the provider is down")

    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:4])
    run = Run(tmp_path, root, fail)
    assert run.code == exit_codes.SERVICE_FAILURE
    assert run.artefact["metadata"]["status"] == "failed"
    assert "**The batch failed**" in run.report
    listed = [line for line in run.report.splitlines()
              if "| failed |" in line and "the provider is down" in line]
    assert len(listed) == len(run.artefact["comparisons"]) > 0


def test_soft_verdicts_count_for_the_side_they_favour(tmp_path: Path) -> None:
    """Soft verdicts (p_a 0.7/0.3) count as wins of the favoured side; an exact 0.5 counts
    for neither and is shown as a tie."""
    from tests.runner.eng5.anchor_sets import verdict_for

    def soft(request: JudgeRequest) -> Any:
        qa, qb = quality_of(request.essay_a), quality_of(request.essay_b)
        if {qa, qb} == {10, 20}:
            return verdict_for(request, True, p_a=0.5)
        return verdict_for(request, qa > qb, p_a=0.7 if qa > qb else 0.3)

    run = Run(tmp_path, write_eng5_folder(tmp_path / "in", ENG5_SET[:4]), soft)
    rows = {r["essay_id"][-6:]: r for r in run.section["anchors"]}
    assert (rows["004_E+"]["wins"], rows["004_E+"]["losses"]) == (3, 0)
    assert (rows["001_F+"]["wins"], rows["001_F+"]["losses"]) == (0, 2)  # the tie counts not
    assert (rows["002_F+"]["wins"], rows["002_F+"]["losses"]) == (0, 2)
    assert "tie (0.5)" in run.report
    assert run.section["zero_win_anchors"] and run.section["problem_zero_win_anchors"] == []


# -- errors before anything is written --------------------------------------------------------


def _nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "store.sqlite3").exists()


def _refused(tmp_path: Path, root: Path, error: type[Exception], match: str,
             **flags: Any) -> None:
    with pytest.raises(error, match=match):
        Run(tmp_path, root, by_quality(), **flags)
    _nothing_written(tmp_path)


def test_one_anchor_is_capacity_zero(tmp_path: Path) -> None:
    """R1: one anchor gives 0 anchor pairs; the message names the capacity and the fix."""
    _refused(tmp_path, write_eng5_folder(tmp_path / "in", ["001_F+"]), InputError,
             r"comparison capacity is 0 \(anchors x anchors: 1 anchor essay\(s\) give 0 pairs\)"
             r".*at least 2 anchors")


def test_no_anchor_folder(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "eng5_np_vt_2017_essay_instruction.md").write_text("Write.", "utf-8")
    _refused(tmp_path, root, InputError, "anchor_essays")


def test_anchors_of_one_grade(tmp_path: Path) -> None:
    _refused(tmp_path, write_eng5_folder(tmp_path / "in", ["009_B", "010_B"]), InputError,
             "all 2 anchors have grade B")


def test_max_comparisons_below_two(tmp_path: Path) -> None:
    """R1: --max-comparisons 1 is refused when the settings are built."""
    with pytest.raises(ConfigError, match=r"--max-comparisons .*at least 2"):
        settings_for(tmp_path, tmp_path, max_comparisons=1)


def test_assignment_id_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, write_eng5_folder(tmp_path / "in", ENG5_SET[:3]), ConfigError,
             "drop --assignment-id", assignment_id="np_2017_vt")


def test_missing_or_empty_prompt_file(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:3])
    _refused(tmp_path, root, InputError, "--system-prompt .*no such file",
             system_prompt=tmp_path / "missing.md")
    empty = tmp_path / "empty.md"
    empty.write_text("  \n", "utf-8")
    _refused(tmp_path, root, InputError, "--rubric", rubric=empty)


def test_a_grade_not_on_the_scale(tmp_path: Path) -> None:
    _refused(tmp_path, write_eng5_folder(tmp_path / "in", ["001_F+", "002_Q"]), InputError,
             "002_Q")


def test_unknown_judge_model(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:3])
    with pytest.raises(ConfigError):
        run_align(Eng5Settings.from_flags(
            mode="anchor-align-test", input_dir=root, output_dir=tmp_path / "out",
            llm_provider="openai", llm_model="gpt-nonexistent"),
            store_target=f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}")
    _nothing_written(tmp_path)
