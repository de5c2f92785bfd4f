"""The product path against truth: `cjgrade run` through the official SDKs and the real adapters,
over HTTP, against an LLM look-alike that judges by KNOWN abilities with belief noise
(``tests/judges/fakes/truth.py``), and the artefact's grades and reliability checked against
the truth.

The end-to-end tests take 10-35 s each (up to 576 comparisons over loopback HTTP, with retries
after injected 429s, 500s and malformed replies); deselect them with ``-m "not slow"``.
``benchmarks/truth_e2e.py`` runs the same scenario over several seeds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cjgrade.judges.base import JudgeRequest, Winner
from cjgrade.judges.verdict import CONFIDENCE_TO_P_CHOSEN, P_A_FLOOR
from tests.judges.fakes import anthropic_api, openai_api
from tests.judges.fakes.truth import BeliefJudge, Faults, confidence_for, essay_key
from tests.judges.fakes.truth_scenario import (
    JUDGES,
    Flavour,
    TruthScenario,
    build_scenario,
    run_scenario,
    score_run,
    write_input_folder,
)

SEED = 3
BUDGET = 576
"""8 comparisons per essay over 72 essays (the default budget): each essay takes part in 16."""
FAULTS = Faults(rate_limited=0.02, server_error=0.02, malformed=0.02)
MIN_QWK = 0.8
MAX_RELIABILITY_GAP = 0.05

UNLIMITED = {"requests_per_minute": None}
"""The manifest paces anthropic/ at 50 requests a minute; the look-alike has no account limit."""

SDK_MISSING = "the {sdk} SDK is not installed: pip install 'cjgrade[{sdk}]'"


def require_sdk(flavour: str) -> None:
    pytest.importorskip(flavour, reason=SDK_MISSING.format(sdk=flavour))


def _request(essay_a: str, essay_b: str) -> JudgeRequest:
    return JudgeRequest(system_prompt="", student_prompt="Phones in school?",
                        instructions="Compare the essays.", rubric="Argument and language.",
                        essay_a=essay_a, essay_b=essay_b)


@pytest.fixture(scope="module")
def scenario() -> TruthScenario:
    return build_scenario(SEED)


# -- the look-alike and the scenario (fast) --------------------------------------------------


def test_scenario_grades_come_from_the_cut_points(scenario: TruthScenario,
                                                  tmp_path: Path) -> None:
    """60 students and 12 anchors with distinct texts; every grade has an anchor; each grade is
    the band of the true ability; the folder passes the run's input validation unflagged."""
    from cjgrade.judges.prompt import find_injection
    from cjgrade.runner.grades import resolve_grade
    from cjgrade.runner.inputs import read_input_folder

    assert (len(scenario.students), len(scenario.anchors)) == (60, 12)
    assert len({essay_key(e.text) for e in scenario.essays}) == 72
    assert {e.grade for e in scenario.anchors} == set(scenario.grades)
    cuts = [-math.inf, *scenario.cut_points, math.inf]
    for essay in scenario.essays:
        g = essay.grade_index
        assert cuts[g] <= essay.theta < cuts[g + 1]
        assert scenario.grades[g] == essay.grade
        assert find_injection(essay.text) == ()
    folder = read_input_folder(write_input_folder(scenario, tmp_path / "in"),
                               resolve_grade=resolve_grade)
    assert folder.grade_scale == "swedish_8_anchor"
    assert {a.file_name: a.grade for a in folder.anchors} == {
        a.file_name: a.grade for a in scenario.anchors}
    assert len(folder.students) == 60


@pytest.fixture
def judge(scenario: TruthScenario) -> BeliefJudge:
    return BeliefJudge(scenario.abilities(), belief_noise=1.0, position_offset=0.2, seed=SEED)


@pytest.fixture
def openai_server(judge: BeliefJudge) -> Iterator[openai_api.FakeOpenAI]:
    server = openai_api.FakeOpenAI()
    server.responder = judge.openai_responder()
    with server:
        yield server


@pytest.fixture
def anthropic_server(judge: BeliefJudge) -> Iterator[anthropic_api.FakeAnthropic]:
    server = anthropic_api.FakeAnthropic()
    server.responder = judge.anthropic_responder()
    with server:
        yield server


async def test_openai_look_alike_gives_p_a_sigmoid_of_the_belief(
    scenario: TruthScenario, judge: BeliefJudge, openai_server: openai_api.FakeOpenAI
) -> None:
    """Through the SDK and the real adapter, p_a is sigmoid(z) (clipped as the project does)
    from the winner token's logprobs, the winner follows the sign of z, and z is centred on
    the true difference plus the position offset."""
    require_sdk("openai")
    from cjgrade.judges import get_judge

    runtime = get_judge(JUDGES["openai"], base_url=f"{openai_server.url}/v1",
                        api_key=openai_api.VALID_KEY, use_cache=False,
                        policy_overrides=UNLIMITED)
    pairs = [(scenario.students[i], scenario.students[(i * 7 + 3) % 60]) for i in range(40)]
    verdicts = [await runtime.judge(_request(a.text, b.text)) for a, b in pairs]
    assert [openai_server.chat_requests()[0][k] for k in ("logprobs", "top_logprobs")] == [True, 5]
    assert len(judge.answered) == 40
    for verdict, belief, (a, b) in zip(verdicts, judge.answered, pairs, strict=True):
        assert (belief.theta_a, belief.theta_b) == (a.theta, b.theta)
        expected = min(max(1 / (1 + math.exp(-belief.z)), P_A_FLOOR), 1 - P_A_FLOOR)
        assert verdict.p_a == pytest.approx(expected, abs=1e-9)
        assert "p_a:logprobs" in verdict.flags
        assert verdict.winner is (Winner.A if belief.z >= 0 else Winner.B)
        assert verdict.confidence == confidence_for(belief.z)
    errors = [b.z - (b.theta_a - b.theta_b) - 0.2 for b in judge.answered]
    assert abs(sum(errors) / len(errors)) < 0.5
    assert 0.6 < (sum(e * e for e in errors) / len(errors)) ** 0.5 < 1.4


async def test_anthropic_look_alike_states_the_nearest_confidence(
    scenario: TruthScenario, judge: BeliefJudge, anthropic_server: anthropic_api.FakeAnthropic
) -> None:
    """Through the SDK and the real adapter, the tool call's confidence is the level whose
    P(chosen) is nearest sigmoid(|z|) and p_a is that level's probability for the winner."""
    require_sdk("anthropic")
    from cjgrade.judges import get_judge

    runtime = get_judge(JUDGES["anthropic"], base_url=anthropic_server.url,
                        api_key=anthropic_api.VALID_KEY, use_cache=False,
                        policy_overrides=UNLIMITED)
    pairs = [(scenario.essays[i], scenario.essays[71 - i]) for i in range(36)]
    verdicts = [await runtime.judge(_request(a.text, b.text)) for a, b in pairs]
    levels: Counter[int] = Counter()
    for verdict, belief in zip(verdicts, judge.answered, strict=True):
        level = confidence_for(belief.z)
        p = 1 / (1 + math.exp(-abs(belief.z)))
        assert all(abs(CONFIDENCE_TO_P_CHOSEN[level] - p) <= abs(q - p) + 1e-12
                   for q in CONFIDENCE_TO_P_CHOSEN.values())
        assert verdict.confidence == level and "p_a:confidence" in verdict.flags
        assert verdict.p_a == pytest.approx(belief.p_a)
        levels[level] += 1
    assert len(levels) >= 3  # far and near pairs give different levels


@pytest.mark.parametrize("flavour", ["openai", "anthropic"])
async def test_faults_are_the_errors_the_runtime_retries(scenario: TruthScenario,
                                                         flavour: Flavour) -> None:
    """A 429 carries retry-after-ms, a 500 is unavailable, a malformed reply is invalid output:
    the errors the runtime retries, each from one request."""
    require_sdk(flavour)
    from cjgrade.errors import JudgeOutputInvalid, JudgeRateLimited, JudgeUnavailable
    from cjgrade.judges import get_judge

    a, b = scenario.students[0], scenario.students[1]
    expected: dict[str, tuple[Faults, type[Exception]]] = {
        "rate_limited": (Faults(rate_limited=1.0), JudgeRateLimited),
        "server_error": (Faults(server_error=1.0), JudgeUnavailable),
        "malformed": (Faults(malformed=1.0), JudgeOutputInvalid),
    }
    for fault, (faults, error) in expected.items():
        beliefs = BeliefJudge(scenario.abilities(), faults=faults)
        server = openai_api.FakeOpenAI() if flavour == "openai" else anthropic_api.FakeAnthropic()
        server.responder = (beliefs.openai_responder() if flavour == "openai"
                            else beliefs.anthropic_responder())
        with server:
            url = f"{server.url}/v1" if flavour == "openai" else server.url
            key = openai_api.VALID_KEY if flavour == "openai" else anthropic_api.VALID_KEY
            runtime = get_judge(JUDGES[flavour], base_url=url, api_key=key, use_cache=False,
                                policy_overrides={"max_attempts": 1})
            with pytest.raises(error) as info:
                await runtime.judge(_request(a.text, b.text))
        assert len(server.requests) == 1 and beliefs.fault_counts[fault] == 1
        if fault == "rate_limited":
            assert isinstance(info.value, JudgeRateLimited)
            assert info.value.retry_after == pytest.approx(0.05)


def test_draws_do_not_depend_on_arrival_order(scenario: TruthScenario) -> None:
    """The n-th ask of an ordered pair gets the same belief whatever else was asked before:
    concurrent runs are reproducible."""
    texts = [e.text for e in scenario.students[:6]]

    def prompt(a: str, b: str) -> str:
        return (f"[[ESSAY A · BEGIN · c0]]\n{a}\n[[ESSAY A · END · c0]]\n\n"
                f"[[ESSAY B · BEGIN · c0]]\n{b}\n[[ESSAY B · END · c0]]")

    pairs = [(texts[i], texts[j]) for i in range(6) for j in range(6) if i != j]
    first = BeliefJudge(scenario.abilities(), seed=1)
    second = BeliefJudge(scenario.abilities(), seed=1)
    forward = {p: first.draw(prompt(*p)) for p in pairs}
    backward = {p: second.draw(prompt(*p)) for p in reversed(pairs)}
    assert forward == backward
    other = BeliefJudge(scenario.abilities(), seed=2)
    assert other.draw(prompt(*pairs[0])) != forward[pairs[0]]


# -- `cjgrade run` against the truth (slow; expected to fail until soft outcomes are fixed) -----


@pytest.mark.slow
@pytest.mark.parametrize("flavour", ["openai", "anthropic"])
def test_cjgrade_run_recovers_known_grades_and_reliability(
    scenario: TruthScenario, flavour: Flavour, tmp_path: Path
) -> None:
    """`cjgrade run --judge openai/...|anthropic/... --base-url ...` with default pairing and
    stopping, against the look-alike (belief noise 1, position offset 0.2, 2 % each of 429,
    500 and malformed replies): the students' projected grades agree with their known grades
    (QWK >= 0.8) and the reported (posterior) reliability is within 0.05 of the squared
    correlation of the reported student abilities with the true ones."""
    require_sdk(flavour)
    outcome = run_scenario(scenario, flavour, tmp_path, seed=SEED, budget=BUDGET, faults=FAULTS)
    assert outcome.exit_code == 0, outcome.output[-2000:]
    doc = outcome.artefact
    assert doc is not None
    judge = outcome.judge
    # The product path really ran: every request reached the look-alike over HTTP, faults were
    # retried, nothing failed, p_a came from logprobs (OpenAI) or stated confidence (Anthropic).
    assert judge.unknown_essays == 0
    assert outcome.n_requests == len(judge.answered) + sum(judge.fault_counts.values())
    assert sum(judge.fault_counts.values()) > 0, judge.fault_counts
    assert doc["metadata"]["judge"] == JUDGES[flavour] and doc["metadata"]["judge_is_llm"]
    assert doc["grades"]["available"], doc["grades"].get("reason")
    comparisons = doc["comparisons"]
    assert all(c["status"] == "succeeded" for c in comparisons)
    source = "p_a:logprobs" if flavour == "openai" else "p_a:confidence"
    assert all(source in c["flags"] for c in comparisons)
    if judge.fault_counts["malformed"]:  # an invalid reply was billed, then retried
        assert any(f.startswith("billed_retries:") for c in comparisons for f in c["flags"])
    answered = [b.p_a for b in judge.answered]
    assert all(any(abs(c["p_a"] - p) < 1e-9 for p in answered) for c in comparisons)

    figures = score_run(doc, scenario)
    report = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in figures.row().items())
    assert figures.n_comparisons <= BUDGET  # the default stopping rule may stop earlier
    assert figures.qwk >= MIN_QWK, report
    gap = abs(figures.reported_reliability - figures.truth_reliability)
    assert gap <= MAX_RELIABILITY_GAP, report
