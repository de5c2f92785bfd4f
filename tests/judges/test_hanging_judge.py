"""A judge that never answers: ``cjgrade run --timeout`` bounds each request, and every failed
comparison says "no answer within N s", also when the circuit breaker then opened."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cjgrade.judges import get_judge
from tests.judges.fakes import openai_api
from tests.judges.fakes.cli import isolate, run_cli, write_folder
from tests.judges.fakes.server import Reply

pytest.importorskip("openai")

JUDGE = "openai/gpt-4o-2024-11-20"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch)


def test_a_hanging_judge_fails_after_the_timeout_and_says_so(environment: Path) -> None:
    """With ``--timeout 0.5`` a server that never answers in time fails the batch within
    seconds (not after 120 s), and every comparison's reason names the timeout, including
    those that ended on the open circuit."""
    folder = write_folder(environment / "input")
    out = environment / "out"
    with openai_api.FakeOpenAI() as server:
        server.responder = lambda body: Reply(200, openai_api.verdict_reply().body, delay_s=3.0)
        started = time.monotonic()
        code, output = run_cli(["run", str(folder), "--judge", JUDGE, "--base-url",
                                f"{server.url}/v1", "--budget", "6", "--no-grades",
                                "--timeout", "0.5", "--out", str(out)])
        elapsed = time.monotonic() - started
    assert code == 8, output  # the batch failed: no comparison succeeded
    assert "Traceback" not in output
    assert elapsed < 20
    doc = json.loads((out / "assessment_run.json").read_text(encoding="utf-8"))
    reasons = [c["failure_reason"] for c in doc["comparisons"]]
    assert reasons and all("no answer within 0.5 s" in r for r in reasons), reasons
    assert sum(c["attempts"] for c in doc["comparisons"]) == len(server.chat_requests())
    assert any("circuit open" in r for r in reasons)  # ... and the cause is still named


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(environment: Path,
                                                            value: str) -> None:
    """``--timeout`` must be a finite number of seconds above 0; the error names the flag."""
    folder = write_folder(environment / "input")
    code, output = run_cli(["run", str(folder), "--judge", JUDGE, "--timeout", value])
    assert code == 2
    assert "--timeout must be a number of seconds above 0" in output


def test_the_timeout_reaches_the_runtime_and_the_sdk_client() -> None:
    """The per-request timeout is the runtime's and the SDK client's (whichever fires first
    gives the same reason)."""
    runtime = get_judge(JUDGE, base_url="http://127.0.0.1:9/v1", api_key="k",
                        policy_overrides={"timeout_s": 7.5})
    assert runtime.policy.timeout_s == 7.5
    assert getattr(runtime.adapter, "timeout_s", None) == 7.5
