"""``--mode boundary-test`` end to end with the scripted judge: pair resolution and its errors
before anything is spent, 2N real calls per pair (no response cache), soft outcomes, position
bias, failures, and the report and artefact figures against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cjgrade.errors import ConfigError, InputError, JudgeUnavailable
from cjgrade.judges import get_judge
from cjgrade.judges.base import Judge, JudgeRequest
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.boundary import (
    REPORT_FILE,
    plan_calls,
    resolve_anchor,
    resolve_pairs,
    run_boundary,
)
from cjgrade.runner.eng5.settings import Eng5Settings
from cjgrade.runner.inputs import InputEssay
from tests.runner.eng5.anchor_sets import (
    ENG5_SET,
    by_quality,
    quality_of,
    verdict_for,
    write_eng5_folder,
)


def settings_for(tmp_path: Path, root: Path, pairs: str, **flags: Any) -> Eng5Settings:
    return Eng5Settings.from_flags(mode="boundary-test", input_dir=root,
                                   output_dir=tmp_path / "out", llm_provider="scripted",
                                   llm_model="default", boundary_pairs=pairs, **flags)


class Run:
    def __init__(self, tmp_path: Path, root: Path, pairs: str, respond: Any,
                 **flags: Any) -> None:
        self.settings = settings_for(tmp_path, root, pairs, **flags)
        self.lines: list[str] = []
        self.judges: list[Judge] = []

        def build(name: str, base_url: str | None) -> Judge:
            judge = get_judge("scripted", options={"default": respond})
            self.judges.append(judge)
            return judge

        self.code = run_boundary(self.settings, build_judge=build, echo=self.lines.append)
        run_dir = self.settings.run_dir()
        self.report = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
        self.artefact = json.loads(
            (run_dir / "assessment_run.boundary-test.json").read_text(encoding="utf-8"))
        self.section = self.artefact["runner"]["boundary_test"]

    @property
    def requests(self) -> list[JudgeRequest]:
        return [r for j in self.judges for r in j.adapter.history]  # type: ignore[attr-defined]


def _essay(stem: str, grade: str) -> InputEssay:
    return InputEssay(essay_id=f"anchor:{stem}", file_name=f"{stem}.docx", source_path="x",
                      sha256="0" * 64, text="t", is_anchor=True, grade=grade)


ANCHORS = [_essay("anchor_essay_eng_5_17_vt_001_F+", "F+"),
           _essay("anchor_essay_eng_5_17_vt_002_F+", "F+"),
           _essay("anchor_essay_eng_5_17_vt_003_E-", "E-"),
           _essay("B2", "B"), _essay("xB2", "A")]
RANK = {"F+": 0, "E-": 1, "E+": 2, "B": 7, "A": 8}


def test_anchor_names_resolve_by_id_file_stem_and_tail() -> None:
    """Id, file name, stem, then the end of the stem after an underscore; an exact stem wins
    over a tail match (B2 is an anchor, xB2 only ends with B2 without an underscore)."""
    assert resolve_anchor("anchor:B2", ANCHORS).file_name == "B2.docx"
    assert resolve_anchor("xB2.docx", ANCHORS).file_name == "xB2.docx"
    assert resolve_anchor("B2", ANCHORS).file_name == "B2.docx"
    assert resolve_anchor("003_E-", ANCHORS).grade == "E-"
    assert resolve_anchor("E-", ANCHORS).grade == "E-"
    with pytest.raises(InputError, match="'F\\+' matches 2 anchors"):
        resolve_anchor("F+", ANCHORS)
    with pytest.raises(InputError, match="no anchor is called '004_E\\+'; the anchors are"):
        resolve_anchor("004_E+", ANCHORS)


def test_pair_errors_are_reported_together() -> None:
    """Unknown names, an anchor paired with itself (after resolution), a HIGHER with a lower
    or equal grade, and the same two anchors twice: every problem in one message."""
    with pytest.raises(InputError) as info:
        resolve_pairs([("003_E-", "nope"), ("001_F+", "003_E-"), ("001_F+", "002_F+"),
                       ("B2", "anchor:B2"), ("003_E-", "001_F+"), ("E-", "001_F+")],
                      ANCHORS, RANK.__getitem__)
    message = str(info.value)
    assert "no anchor is called 'nope'" in message
    assert "001_F+:003_E-: HIGHER anchor_essay_eng_5_17_vt_001_F+.docx (F+) has a lower grade" \
        in message
    assert "001_F+:002_F+: HIGHER" in message and "has the same grade as" in message
    assert "B2:anchor:B2 names one anchor (B2.docx) twice" in message
    assert "E-:001_F+ names the same two anchors as 003_E-:001_F+" in message


def test_plan_alternates_orders_repeat_by_repeat() -> None:
    pairs = resolve_pairs([("003_E-", "001_F+"), ("xB2", "B2")], ANCHORS, RANK.__getitem__)
    calls = plan_calls(pairs, 2)
    assert len(calls) == 8
    assert [(c.pair, c.repeat, c.higher_first) for c in calls[:4]] == [
        (0, 0, True), (0, 0, False), (1, 0, True), (1, 0, False)]
    assert calls[1].essay_a == "anchor:anchor_essay_eng_5_17_vt_001_F+"
    with pytest.raises(InputError, match="at least 1"):
        plan_calls(pairs, 0)


def test_repeats_really_ask_again_and_figures_match(tmp_path: Path) -> None:
    """Two pairs, 5 repeats: 20 judge calls reach the judge although each pair-and-order
    request is identical across repeats. The judge always picks the essay shown first for
    E-/F+ (win rate 50 %, first-position 10 of 10, p = 2/1024) and always picks D- over E+
    (win rate 100 %, first-position 5 of 10, p = 1)."""
    root = write_eng5_folder(tmp_path / "in")

    def respond(request: JudgeRequest) -> Any:
        qa, qb = quality_of(request.essay_a), quality_of(request.essay_b)
        if {qa, qb} == {10, 30}:
            return verdict_for(request, True, confidence=2.0)
        return verdict_for(request, qa > qb, confidence=5.0)

    run = Run(tmp_path, root, "003_E-:001_F+, 005_D-:004_E+", respond,
              boundary_iterations=5)
    assert run.code == exit_codes.OK
    assert len(run.requests) == 20
    assert len({(r.essay_a, r.essay_b) for r in run.requests}) == 4  # identical repeats
    assert all(c["attempts"] == 1 and "cached" not in c["flags"]
               for c in run.artefact["comparisons"])
    first, second = run.section["pairs"]
    m = first["metrics"]
    assert (m["n"], m["hard_wins"], m["first_position_wins"]) == (10, 5, 10)
    assert m["first_position_p_value"] == pytest.approx(2 / 1024)
    assert m["win_rate"] == pytest.approx(0.5) and m["order_consistency"] == 0.0
    assert m["pairwise_agreement"] == 1.0 and m["mean_confidence"] == pytest.approx(2.0)
    assert "position bias" in first["reading"]
    m2 = second["metrics"]
    assert (m2["hard_wins"], m2["first_position_wins"]) == (10, 5)
    assert m2["first_position_p_value"] == pytest.approx(1.0)
    assert m2["hard_win_interval"][0] == pytest.approx(0.025 ** (1 / 10))
    assert second["reading"] == "the judge separates the pair in the expected order"
    assert run.section["response_cache"] == "off"
    assert "Every call was sent to the judge" in run.report
    assert run.artefact["costs"]["n_comparisons"] == 20
    assert run.artefact["runner"]["capacity"] == 20


def test_soft_outcomes_enter_as_probabilities(tmp_path: Path) -> None:
    """Soft verdicts: P(higher) 0.8 when the higher essay is shown first, 0.6 when second,
    so the win rate is 0.7 while every hard decision names the higher essay."""
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:4])

    def respond(request: JudgeRequest) -> Any:
        qa, qb = quality_of(request.essay_a), quality_of(request.essay_b)
        return verdict_for(request, qa > qb, p_a=0.8 if qa > qb else 0.4)

    run = Run(tmp_path, root, "004_E+:003_E-", respond, boundary_iterations=3)
    m = run.section["pairs"][0]["metrics"]
    assert m["soft"] is True
    assert m["win_rate"] == pytest.approx(0.7)
    assert m["win_rate_higher_first"] == pytest.approx(0.8)
    assert m["win_rate_lower_first"] == pytest.approx(0.6)
    assert m["hard_win_rate"] == 1.0
    assert m["soft_first_position_rate"] == pytest.approx((0.8 + 0.4) / 2)
    assert m["mean_confidence"] is None and m["n_confidence"] == 0


def test_failed_calls_are_recorded_and_fail_the_run(tmp_path: Path) -> None:
    """Every call of the second order fails: half the calls fail (below 80 %), exit 5; the
    failures are listed with their reason, and the figures use the successful half."""
    root = write_eng5_folder(tmp_path / "in", ENG5_SET[:4])

    def respond(request: JudgeRequest) -> Any:
        if quality_of(request.essay_a) < quality_of(request.essay_b):
            raise JudgeUnavailable("scripted: overloaded")
        return verdict_for(request, True)

    run = Run(tmp_path, root, "004_E+:003_E-", respond, boundary_iterations=2)
    assert run.code == exit_codes.SERVICE_FAILURE
    pair = run.section["pairs"][0]
    assert (pair["n_calls"], pair["n_failed"], pair["metrics"]["n"]) == (4, 2, 2)
    assert run.artefact["metadata"]["status"] == "failed"
    assert run.report.count("scripted: overloaded") == 2


# -- errors before anything is spent ---------------------------------------------------------


def _refused(tmp_path: Path, root: Path, pairs: str, error: type[Exception], match: str,
             **flags: Any) -> None:
    calls: list[JudgeRequest] = []

    def respond(request: JudgeRequest) -> Any:
        calls.append(request)
        return verdict_for(request, True)

    with pytest.raises(error, match=match):
        Run(tmp_path, root, pairs, respond, **flags)
    assert calls == []
    assert not (tmp_path / "out").exists()


def test_unknown_anchor(tmp_path: Path) -> None:
    _refused(tmp_path, write_eng5_folder(tmp_path / "in"), "003_E-:099_F", InputError,
             "no anchor is called '099_F'")


def test_higher_with_the_lower_grade(tmp_path: Path) -> None:
    _refused(tmp_path, write_eng5_folder(tmp_path / "in"), "001_F+:003_E-", InputError,
             "has a lower grade than")


def test_iterations_below_one_and_missing_pairs(tmp_path: Path) -> None:
    root = write_eng5_folder(tmp_path / "in")
    with pytest.raises(ConfigError, match="--boundary-iterations"):
        settings_for(tmp_path, root, "003_E-:001_F+", boundary_iterations=0)
    with pytest.raises(ConfigError, match="HIGHER:LOWER"):
        settings_for(tmp_path, root, "003_E-")
    with pytest.raises(ConfigError, match="needs --boundary-pairs"):
        Eng5Settings.from_flags(mode="boundary-test", input_dir=root)


def test_provider_batch_api_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, write_eng5_folder(tmp_path / "in"), "003_E-:001_F+", ConfigError,
             "provider_batch_api", llm_batching_mode="provider_batch_api")


def test_a_judge_with_a_response_cache_is_refused(tmp_path: Path) -> None:
    """A builder that hands back a cached judge would answer repeats from the cache: refused
    before any call."""
    from cjgrade.judges.cache import MemoryResponseCache

    settings = settings_for(tmp_path, write_eng5_folder(tmp_path / "in"), "003_E-:001_F+")
    with pytest.raises(ConfigError, match="without a response cache"):
        run_boundary(settings, build_judge=lambda name, url: get_judge(
            "scripted", options={"default": by_quality()}, cache=MemoryResponseCache()))
    assert not (tmp_path / "out").exists()


def test_a_csv_anchor_id_names_a_pair(tmp_path: Path) -> None:
    """The ENG5 CSV's ANCHOR-ID is a name of its anchor (the CSV here has no grade column:
    the ids are kept all the same), and a name no anchor has lists the ways to name one."""
    root = write_eng5_folder(tmp_path / "in")
    (root / "ANCHOR_ESSAYS_BAYESIAN_INFERENCE_DATA.csv").write_text(
        "ANCHOR-ID,FILE-NAME\nLOW1,anchor_essay_eng_5_17_vt_001_F+.txt\n"
        "MID3,anchor_essay_eng_5_17_vt_003_E-.txt\n", encoding="utf-8")
    run = Run(tmp_path, root, "MID3:LOW1", by_quality(), boundary_iterations=1)
    assert run.code == exit_codes.OK
    (pair,) = run.section["pairs"]
    assert pair["spec"] == "MID3:LOW1"
    assert pair["higher"]["file_name"] == "anchor_essay_eng_5_17_vt_003_E-.txt"
    assert pair["lower"]["file_name"] == "anchor_essay_eng_5_17_vt_001_F+.txt"
    with pytest.raises(InputError, match="its ANCHOR-ID in the CSV"):
        Run(tmp_path, root, "MID3:LOW9", by_quality())


class RecordingDisplay:
    """A progress display (the protocol of cjgrade run's Rich bar) that keeps what it got."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.entered = self.exited = False

    def __enter__(self) -> RecordingDisplay:
        self.entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited = True

    def on_progress(self, progress: Any) -> None:
        self.updates.append(progress)


def test_boundary_progress_goes_to_the_run_display(tmp_path: Path) -> None:
    """Every answered call updates the display, as a `cjgrade run` batch does: calls done of
    all planned, failures and the cost so far (scripted verdicts cost nothing)."""
    root = write_eng5_folder(tmp_path / "in")
    settings = settings_for(tmp_path, root, "003_E-:001_F+,005_D-:004_E+",
                            boundary_iterations=3)
    display = RecordingDisplay()
    calls = {"n": 0}

    def respond(request: JudgeRequest) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise JudgeUnavailable("the provider is down for this one call")
        return by_quality()(request)

    code = run_boundary(settings, build_judge=lambda name, base: get_judge(
        "scripted", options={"default": respond}), echo=lambda _: None, display=display)
    assert code == exit_codes.OK
    assert display.entered and display.exited
    assert [u.done for u in display.updates] == list(range(1, 13))
    assert all(u.budget == 12 and u.requested == 12 for u in display.updates)
    assert display.updates[-1].failed == 1 and display.updates[-1].cost_usd == 0.0
    assert {u.round for u in display.updates} == {0, 1, 2}


def test_the_schema_declares_the_boundary_section(tmp_path: Path) -> None:
    """runner.boundary_test is in the runner schema key by key: a written artefact passes, an
    undeclared key in the section (or in runner) does not."""
    import copy

    from cjgrade.runner.eng5.artefact import validate_runner_artefact

    run = Run(tmp_path, write_eng5_folder(tmp_path / "in"), "003_E-:001_F+", by_quality(),
              boundary_iterations=1)
    validate_runner_artefact(run.artefact)
    for where, key in ((("runner", "boundary_test", "pairs", 0, "metrics"), "surprise"),
                       (("runner", "boundary_test"), "surprise"), (("runner",), "surprise")):
        doc = copy.deepcopy(run.artefact)
        node: Any = doc
        for step in where:
            node = node[step]
        node[key] = 1
        with pytest.raises(InputError, match="does not match its schema"):
            validate_runner_artefact(doc)
