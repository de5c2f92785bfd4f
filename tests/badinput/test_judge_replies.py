"""Bad-input corpus: hostile and broken judge replies, each inside a real batch run.

Each case poisons one essay of a small batch: a wire-level fake (``FakeOpenAI`` /
``FakeAnthropic`` with a ``responder``) gives the case's broken reply to every comparison that
shows that essay (or only to its first request), and valid verdicts otherwise. The batch runs
through the registry, the runtime, the real adapter and the official SDK over HTTP, then is
resumed. Cases share a batch in groups of seven (14 essays, 28 comparisons, one poisoned essay
per case), because a batch costs about a second of fitting. Each case checks that:

- the run ends (completed, or failed with a reason) without an exception;
- the poisoned comparisons are failed with an error code and a reason that names the problem
  (or retried and then succeeded, or kept with their usage flagged);
- what the provider billed is kept: tokens and cost summed over the billed replies, or the cost
  recorded as unknown when the reply's usage report is unusable, never 0;
- ``attempts`` is the number of HTTP requests the server received for the comparison, and the
  run's attempts add up to the server's request count;
- resuming the batch sends nothing (nothing is paid twice).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from cjgrade.domain import Essay
from cjgrade.engine.embedded import EmbeddedRun, resume_embedded, run_embedded
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.judges import get_judge
from cjgrade.judges.base import Judge, ResponseCache
from cjgrade.store.records import ComparisonRecord
from tests.judges.fakes import anthropic_api, openai_api
from tests.judges.fakes.cli import isolate, run_cli
from tests.judges.fakes.server import Reply
from tests.judges.fakes.truth import read_essays
from tests.judges.fakes.truth_scenario import unthrottled_manifest

pytest.importorskip("openai")
pytest.importorskip("anthropic")

Flavour = Literal["openai", "anthropic"]
JUDGES: dict[Flavour, str] = {"openai": "openai/gpt-4o-2024-11-20",
                              "anthropic": "anthropic/claude-haiku-4-5-20251001"}
KEYS: dict[Flavour, str] = {"openai": openai_api.VALID_KEY, "anthropic": anthropic_api.VALID_KEY}
MAX_ATTEMPTS = 3
FAST_POLICY = {"backoff_base_s": 0.001, "jitter": 0.0, "max_attempts": MAX_ATTEMPTS,
               "requests_per_minute": None, "timeout_s": 10.0, "breaker_failures": 1000}
"""The default policy but without waiting between retries and without the manifest's pacing."""

PER_REPLY = {"openai": {"input_tokens": 1500 - 1024, "output_tokens": 60,
                        "cache_read_tokens": 1024, "cost": 476 * 2.5e-6 + 60 * 10e-6
                        + 1024 * 1.25e-6},
             "anthropic": {"input_tokens": 120, "output_tokens": 45, "cache_read_tokens": 900,
                           "cost": 120 * 1e-6 + 45 * 5e-6 + 900 * 0.1e-6}}
"""Tokens and list price of one reply of the fakes' default usage report."""

POISON = "Poisoned essay"
WORDS = ["phones", "distract", "pupils", "but", "they", "also", "help", "them", "learn", "and",
         "stay", "in", "touch"]


# -- replies -----------------------------------------------------------------------------------

VERDICT = '{"justification": "A argues better.", "winner": "A", "confidence": 3}'


def verdict_with(**fields: str) -> str:
    """The verdict JSON text with some fields' JSON text replaced (kept verbatim)."""
    parts = {"justification": '"A argues better."', "winner": '"A"', "confidence": "3"}
    parts.update(fields)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in parts.items()) + "}"


def openai_content(content: str | None, **kwargs: Any) -> Callable[[], Reply]:
    return lambda: Reply(200, openai_api.completion_body(content, **kwargs))


def openai_raw(body_text: Callable[[], str]) -> Callable[[], Reply]:
    return lambda: Reply(200, raw=body_text().encode())


def anthropic_input(input_text: str, **kwargs: Any) -> Callable[[], Reply]:
    """A reply whose tool input is ``input_text`` verbatim (so it may hold NaN, duplicates)."""
    def build() -> Reply:
        body = json.dumps(anthropic_api.tool_use_body("@INPUT@", **kwargs))
        return Reply(200, raw=body.replace('"@INPUT@"', input_text).encode())
    return build


def anthropic_body(body: Callable[[], dict[str, Any]]) -> Callable[[], Reply]:
    return lambda: Reply(200, body())


def openai_logprobs(alternatives: dict[str, float]) -> Callable[[], Reply]:
    content = openai_api.verdict_json("A", 3)
    return lambda: Reply(200, openai_api.completion_body(
        content, logprobs=openai_api.logprobs_for(content, alternatives)))


def openai_winner_logprob_nan() -> str:
    content = openai_api.verdict_json("A", 3)
    body = openai_api.completion_body(content, logprobs=openai_api.logprobs_for(
        content, {"A": -0.25, "B": -1.5}))
    return json.dumps(body).replace("-0.25", "NaN")


DEEP = "[" * 100_000 + "]" * 100_000


def both(content: str) -> dict[Flavour, Callable[[], Reply]]:
    """The same verdict text as OpenAI message content and as Anthropic tool input."""
    return {"openai": openai_content(content), "anthropic": anthropic_input(content)}


@dataclass(frozen=True)
class Case:
    """One broken reply and what the run must make of it."""

    name: str
    replies: dict[Flavour, Callable[[], Reply]]
    reason: str
    """Regex the failure reason (or the usage flag) must match."""
    outcome: Literal["failed", "recovered", "flagged"] = "failed"
    """failed: every request gets the reply; recovered: only the first of each comparison;
    flagged: the verdict is kept with its usage flagged ``usage_unusable``."""
    code: str = "JudgeOutputInvalid"
    billed: Literal["priced", "unknown", "none"] = "priced"
    """What the broken reply costs: its usage priced, an unknown cost, or nothing."""


CASES = [
    Case("confidence NaN", both(verdict_with(confidence="NaN")), r"NaN is not a JSON number"),
    Case("confidence Infinity", both(verdict_with(confidence="Infinity")),
         r"Infinity is not a JSON number"),
    Case("confidence 1e400", both(verdict_with(confidence="1e400")),
         r"1e400 does not fit a 64-bit float"),
    Case("confidence of 5000 digits", both(verdict_with(confidence="7" * 5000)),
         r"a number of 5000 digits"),
    Case("JSON nested 100,000 deep", both(verdict_with(confidence=DEEP)),
         r"nested more than 64 levels deep"),
    Case("duplicate winner key", both(verdict_with(winner='"B", "winner": "A"')),
         r"duplicate key 'winner'"),
    Case("duplicate confidence key", both(verdict_with(confidence='5, "confidence": 1')),
         r"duplicate key 'confidence'"),
    Case("winner 'Essay A'", both(verdict_with(winner='"Essay A"')),
         r"winner must be exactly 'A' or 'B', got 'Essay A'"),
    Case("confidence 2.5", both(verdict_with(confidence="2.5")),
         r"confidence must be an integer 1-5, got 2\.5"),
    Case("confidence as text", both(verdict_with(confidence='"3"')),
         r"confidence must be an integer 1-5, got '3'"),
    Case("justification of 601 characters", both(verdict_with(justification=json.dumps("x" * 601))),
         r"justification has 601 characters, the limit is 600"),
    Case("justification with NUL", both(verdict_with(justification='"A\\u0000B"')),
         r"justification contains U\+0000"),
    Case("extra field", both(verdict_with(score="9")), r"unexpected field\(s\): 'score'"),
    Case("truncated", {"openai": openai_content(VERDICT[:30], finish_reason="length"),
                       "anthropic": anthropic_body(lambda: anthropic_api.tool_use_body(
                           {"justification": "A"}, stop_reason="max_tokens"))},
         r"truncated"),
    Case("refusal", {"openai": openai_content(None, refusal="I will not grade this."),
                     "anthropic": anthropic_body(lambda: anthropic_api.message_body(
                         [], stop_reason="refusal"))},
         r"refused"),
    Case("content not JSON", {"openai": openai_content("The winner is A.")},
         r"verdict is not valid JSON"),
    Case("winner-token logprob -1000", {"openai": openai_logprobs({"A": -1000.0})},
         r"winner token 'A' has log-probability -1000"),
    Case("winner-token logprobs both -1000",
         {"openai": openai_logprobs({"A": -1000.0, "B": -1000.0})},
         r"log-probability -1000 \(probability ~0\)"),
    Case("logprob NaN in the body", {"openai": openai_raw(openai_winner_logprob_nan)},
         r"openai reply: NaN is not a JSON number"),
    Case("positive logprob", {"openai": openai_logprobs({"A": 0.5, "B": -2.0})},
         r"log-probability 0\.5, which is not a finite number <= 0"),
    Case("no choices", {"openai": lambda: Reply(200, {
        **openai_api.completion_body(VERDICT), "choices": []})}, r"has no choices"),
    Case("no tool call", {"anthropic": anthropic_body(lambda: anthropic_api.message_body(
        [{"type": "text", "text": "A is better."}], stop_reason="end_turn"))},
         r"no record_verdict tool call"),
    Case("two tool calls", {"anthropic": anthropic_body(lambda: anthropic_api.message_body(
        anthropic_api.tool_use_body(json.loads(VERDICT))["content"] * 2))},
         r"2 record_verdict tool calls"),
    Case("tool input not an object", {"anthropic": anthropic_input('"A wins"')},
         r"verdict is not a JSON object"),
    Case("body cut off", {"openai": lambda: Reply(200, raw=b'{"id": "chatcmpl-1", "choi'),
                          "anthropic": lambda: Reply(200, raw=b'{"id": "msg_1", "cont')},
         r"unreadable response: not valid JSON", code="JudgeUnavailable", billed="none"),
    Case("body a JSON array", {"openai": lambda: Reply(200, [1, 2]),
                               "anthropic": lambda: Reply(200, [1, 2])},
         r"reply: a JSON array, not an object", billed="unknown"),
    Case("invalid verdict and negative usage",
         {"openai": openai_content(verdict_with(confidence="9"), usage={
             "prompt_tokens": -5000, "completion_tokens": 60, "total_tokens": 0}),
          "anthropic": anthropic_input(verdict_with(confidence="9"), usage={
              "input_tokens": -5000, "output_tokens": 45})},
         r"confidence must be an integer 1-5, got 9", billed="unknown"),
    Case("negative token counts",
         {"openai": openai_content(VERDICT, usage={"prompt_tokens": -5000,
                                                   "completion_tokens": 60, "total_tokens": 0}),
          "anthropic": anthropic_input(VERDICT, usage={"input_tokens": -5000,
                                                       "output_tokens": 45})},
         r"usage_unusable:.*tokens=-5000 is negative", outcome="flagged"),
    Case("10**15 tokens",
         {"openai": openai_content(VERDICT, usage={"prompt_tokens": 10**15,
                                                   "completion_tokens": 60,
                                                   "total_tokens": 10**15 + 60}),
          "anthropic": anthropic_input(VERDICT, usage={"input_tokens": 10**15,
                                                       "output_tokens": 45})},
         r"usage_unusable:1,000,000,000,000,\d+ tokens in one call, more than the", "flagged"),
    Case("confidence NaN once", both(verdict_with(confidence="NaN")), r"billed_retries:1",
         outcome="recovered"),
    Case("HTTP 500 once", {"openai": lambda: openai_api.error_reply(500, "overloaded"),
                           "anthropic": lambda: anthropic_api.error_reply(500, "api_error",
                                                                          "overloaded")},
         r"", outcome="recovered", billed="none"),
    Case("HTTP 429 once", {"openai": lambda: openai_api.error_reply(
        429, "slow down", "rate_limit_exceeded", headers={"retry-after-ms": "5"}),
        "anthropic": lambda: anthropic_api.error_reply(
            429, "rate_limit_error", "slow down", headers={"retry-after-ms": "5"})},
         r"", outcome="recovered", billed="none"),
]

PARAMS = [pytest.param((case, flavour), id=f"{flavour}: {case.name}")
          for case in CASES for flavour in ("openai", "anthropic") if flavour in case.replies]


# -- the server and the runs ------------------------------------------------------------------

GROUP_SIZE = 7
"""Cases judged in one batch: each poisons its own essay (a batch costs about a second of
fitting, so the corpus runs in groups, not one batch per case)."""
N_ESSAYS = 2 * GROUP_SIZE
BUDGET = 2 * N_ESSAYS


def essay_text(i: int) -> str:
    words = " ".join(WORDS[: 2 + i % 8] * (i + 1))
    return f"{POISON} {i}: {words}." if i < GROUP_SIZE else f"Essay {i}: {words}."


def poisoned_index(text: str) -> int | None:
    match = re.match(POISON + r" (\d+):", text)
    return int(match.group(1)) if match else None


class PoisonServer:
    """A fake provider: a comparison showing a poisoned essay (the one in slot A first) gets
    that essay's case's reply (every request, or only the first for ``recovered`` cases); any
    other comparison gets a valid verdict (the longer essay wins)."""

    def __init__(self, cases: list[Case], flavour: Flavour, *, poison_all: bool = False) -> None:
        self.cases = cases
        self.flavour = flavour
        self.poison_all = poison_all
        self.asked: Counter[tuple[str, str]] = Counter()
        self.server: openai_api.FakeOpenAI | anthropic_api.FakeAnthropic
        if flavour == "openai":
            self.server = openai_api.FakeOpenAI()
            self.server.responder = lambda body: self._answer(
                "\n".join(str(m.get("content") or "") for m in body["messages"]))
        else:
            self.server = anthropic_api.FakeAnthropic()
            self.server.responder = lambda params: self._answer(
                "\n".join(b.get("text", "") for b in params["messages"][0]["content"]))

    @property
    def url(self) -> str:
        return f"{self.server.url}/v1" if self.flavour == "openai" else self.server.url

    @property
    def n_requests(self) -> int:
        return sum(self.asked.values())

    def deciding_case(self, text_a: str, text_b: str) -> Case | None:
        if self.poison_all:
            return self.cases[0]
        for text in (text_a, text_b):
            index = poisoned_index(text)
            if index is not None and index < len(self.cases):
                return self.cases[index]
        return None

    def _answer(self, prompt: str) -> Reply:
        a, b = read_essays(prompt)
        self.asked[(a, b)] += 1
        case = self.deciding_case(a, b)
        if case is not None and (case.outcome != "recovered" or self.asked[(a, b)] == 1):
            return case.replies[self.flavour]()
        winner = "A" if len(a) >= len(b) else "B"
        if self.flavour == "openai":
            return openai_api.verdict_reply(winner, 3)
        return anthropic_api.verdict_reply(winner, 3)


def build_judge(flavour: Flavour) -> Callable[[str, str | None, ResponseCache | None], Judge]:
    def build(name: str, base_url: str | None, cache: ResponseCache | None) -> Judge:
        return get_judge(name, base_url=base_url, api_key=KEYS[flavour], cache=cache,
                         policy_overrides=FAST_POLICY)
    return build


def make_spec(flavour: Flavour, url: str, **options: Any) -> BatchSpec:
    essays = tuple(Essay(id=f"s{i}", text=essay_text(i), label=f"s{i}.txt")
                   for i in range(N_ESSAYS))
    return BatchSpec(essays=essays, instructions="Pick the better essay.", judge=JUDGES[flavour],
                     grade_scale=None, grades_requested=False, base_url=url,
                     options=BatchOptions(**{"budget": BUDGET, "round_size": BUDGET, "seed": 1,
                                             "min_success_rate": 0.0, **options}))


@dataclass
class GroupRun:
    """A batch run and its resume against one :class:`PoisonServer`."""

    server: PoisonServer
    run: EmbeddedRun
    resumed: EmbeddedRun
    requests_before_resume: int

    def decided_by(self, case: Case) -> list[ComparisonRecord]:
        essays = {f"s{i}": essay_text(i) for i in range(N_ESSAYS)}
        found = [c for c in self.run.result.comparisons
                 if self.server.deciding_case(essays[c.essay_a], essays[c.essay_b]) is case]
        assert found, f"no comparison showed the essay poisoned by {case.name!r}"
        return found


def run_and_resume(server: PoisonServer, database: str, **options: Any) -> GroupRun:
    spec = make_spec(server.flavour, server.url, **options)
    build = build_judge(server.flavour)
    with server.server:
        run = asyncio.run(run_embedded(spec, build_judge=build, target=database))
        before = server.n_requests
        resumed = asyncio.run(resume_embedded(run.result.batch_uuid, build_judge=build,
                                              target=database))
    return GroupRun(server, run, resumed, before)


GROUPS: dict[Flavour, list[list[Case]]] = {
    flavour: [chunk[i:i + GROUP_SIZE] for i in range(0, len(chunk), GROUP_SIZE)]
    for flavour in ("openai", "anthropic")
    for chunk in [[c for c in CASES if flavour in c.replies]]
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module (each group is its own batch)."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('badinput') / 'runs.sqlite3'}"


@pytest.fixture(scope="module")
def group_runs(database: str) -> Callable[[Flavour, int], GroupRun]:
    """The run of one group of cases, made on first use and shared by its cases."""
    done: dict[tuple[Flavour, int], GroupRun] = {}

    def get(flavour: Flavour, group: int) -> GroupRun:
        if (flavour, group) not in done:
            done[(flavour, group)] = run_and_resume(PoisonServer(GROUPS[flavour][group],
                                                                 flavour), database)
        return done[(flavour, group)]

    return get


PARAMS = [pytest.param(flavour, g, case, id=f"{flavour}: {case.name}")
          for flavour in ("openai", "anthropic")
          for g, group in enumerate(GROUPS[flavour]) for case in group]


# -- the corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize(("flavour", "group", "case"), PARAMS)
def test_broken_reply_is_a_clear_failure_billed_once(
    flavour: Flavour, group: int, case: Case, group_runs: Callable[[Flavour, int], GroupRun],
) -> None:
    """A broken reply is retried, then recorded as a failed comparison (or recovers, or is kept
    with its usage flagged) with a reason naming the problem; billed usage is kept, attempts
    match the server's requests, the run ends cleanly and a resume sends nothing."""
    done = group_runs(flavour, group)
    result = done.run.result
    assert result.status in ("completed", "failed")
    assert all(c.status != "pending" for c in result.comparisons)
    assert sum(c.attempts for c in result.comparisons) == done.requests_before_resume
    per = PER_REPLY[flavour]
    for c in done.decided_by(case):
        if "cached" in c.flags:  # the same ordered pair again: its stored verdict, free
            assert (c.attempts, c.cost_usd) == (0, 0.0)
            continue
        if case.outcome == "failed":
            assert c.status == "failed", c
            assert c.error_code == case.code
            assert re.search(case.reason, c.error_reason or ""), c.error_reason
            assert c.attempts == MAX_ATTEMPTS
            assert f"gave up after {MAX_ATTEMPTS} attempts" in (c.error_reason or "")
            if case.billed == "priced":
                assert c.input_tokens == MAX_ATTEMPTS * per["input_tokens"]
                assert c.output_tokens == MAX_ATTEMPTS * per["output_tokens"]
                assert c.cost_usd == pytest.approx(MAX_ATTEMPTS * per["cost"])
            elif case.billed == "unknown":
                assert c.cost_usd is None and c.input_tokens == 0  # billed, price unknown
            else:
                assert c.cost_usd is None and c.input_tokens is None  # nothing billed
        elif case.outcome == "recovered":
            assert c.status == "succeeded", c
            assert c.attempts == 2
            replies = 2 if case.billed == "priced" else 1
            assert c.input_tokens == replies * per["input_tokens"]
            assert c.cost_usd == pytest.approx(replies * per["cost"])
            assert re.search(case.reason, " ".join(c.flags))
        else:
            assert c.status == "succeeded", c
            assert c.attempts == 1
            assert (c.input_tokens, c.cost_usd) == (0, None)
            assert any(re.search(case.reason, f) for f in c.flags), c.flags
    if case.billed == "unknown" or case.outcome == "flagged":
        assert result.total_cost_usd is None  # never a lowered or made-up total
    # Resuming the finished batch asks nothing again and changes nothing.
    assert done.server.n_requests == done.requests_before_resume
    assert done.resumed.result.comparisons == result.comparisons


def test_corpus_has_at_least_twenty_cases() -> None:
    """The corpus covers both adapters with at least 20 cases."""
    assert len(PARAMS) >= 20
    assert {flavour for case in CASES for flavour in case.replies} == {"openai", "anthropic"}


# -- a crash in the middle, and a batch that fails ----------------------------------------------


class _Crash(Exception):
    pass


class _CrashAfterFirstRound:
    """A progress listener that kills the run once the first round's outcomes are stored
    (no request is then in flight, so every request sent is accounted for)."""

    def __init__(self, round_size: int) -> None:
        self.round_size = round_size

    def on_progress(self, progress: Any) -> None:
        if progress.done >= self.round_size:
            raise _Crash("the process died")


def test_resume_after_a_crash_pays_for_nothing_twice(database: str) -> None:
    """A process that dies after a round with broken replies keeps its stored verdicts and
    failures; the resumed run asks only the rest, so the attempts of the whole batch add up to
    the server's requests (nothing asked twice)."""
    case = next(c for c in CASES if c.name == "confidence NaN")
    server = PoisonServer([case], "openai")
    build = build_judge("openai")
    spec = make_spec("openai", server.url, round_size=8)
    created: list[str] = []
    with server.server:
        with pytest.raises(_Crash):
            asyncio.run(run_embedded(spec, build_judge=build, target=database,
                                     progress=_CrashAfterFirstRound(8),  # type: ignore[arg-type]
                                     on_created=created.append))
        before = server.n_requests
        resumed = asyncio.run(resume_embedded(created[0], build_judge=build, target=database))
    result = resumed.result
    assert result.status == "completed" and len(result.comparisons) == BUDGET
    first_round = [c for c in result.comparisons if c.round == 0]
    assert sum(c.attempts for c in first_round) == before  # stored before the crash
    assert any(c.status == "failed" for c in first_round)
    assert sum(c.attempts for c in result.comparisons) == server.n_requests


def test_a_judge_that_always_breaks_fails_the_batch_cleanly(database: str) -> None:
    """When every reply is broken the batch fails with a reason naming the error code, each
    comparison names the problem, the billed replies are all in the cost, and a resume sends
    nothing."""
    case = Case("all NaN", {"openai": openai_content(verdict_with(confidence="NaN"))}, r"NaN")
    done = run_and_resume(PoisonServer([case], "openai", poison_all=True), database,
                          min_success_rate=0.8)
    result = done.run.result
    assert result.status == "failed"
    assert "JudgeOutputInvalid" in (result.failure_reason or "")
    assert all(c.status == "failed" and c.attempts == MAX_ATTEMPTS for c in result.comparisons)
    assert all("NaN is not a JSON number" in (c.error_reason or "") for c in result.comparisons)
    assert sum(c.attempts for c in result.comparisons) == done.server.n_requests
    assert result.total_cost_usd == pytest.approx(
        done.server.n_requests * PER_REPLY["openai"]["cost"])
    assert done.server.n_requests == done.requests_before_resume
    assert done.resumed.result.comparisons == result.comparisons


def test_cli_run_reports_without_a_traceback(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``cjgrade run`` against a server whose first reply per comparison of the poisoned essay
    is broken finishes, with the retries counted in the artefact and no traceback."""
    isolate(tmp_path, monkeypatch)
    folder = tmp_path / "input"
    (folder / "students").mkdir(parents=True)
    (folder / "instructions.md").write_text("Pick the better essay.\n", encoding="utf-8")
    for i in range(5):
        (folder / "students" / f"s{i}.txt").write_text(essay_text(i), encoding="utf-8")
    case = next(c for c in CASES if c.name == "confidence NaN once")
    server = PoisonServer([case], "openai")
    out = tmp_path / "out"
    with server.server, unthrottled_manifest():
        code, output = run_cli(["run", str(folder), "--judge", JUDGES["openai"], "--base-url",
                                server.url, "--budget", "6", "--seed", "1", "--no-grades",
                                "--timeout", "10", "--out", str(out)])
    assert code == 0, output
    assert "Traceback" not in output
    doc = json.loads((out / "assessment_run.json").read_text(encoding="utf-8"))
    assert sum(c["attempts"] for c in doc["comparisons"]) == server.n_requests
    retried = [c for c in doc["comparisons"] if "billed_retries:1" in c["flags"]]
    assert retried and all(c["attempts"] == 2 for c in retried)
    assert all(c["cost_usd"] == pytest.approx(2 * PER_REPLY["openai"]["cost"]) for c in retried)
