"""Every judge setting reaches the provider request: ``eng5-np-run --mode execute`` against
the wire-level fake OpenAI and Anthropic servers (official SDKs, real HTTP), reading the
request bodies the servers received. The original dropped reasoning effort and attributed
runs to the wrong model; here the bodies and the artefact are checked for both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cjgrade.judges.openai import REASONING_ALLOWANCE
from cjgrade.runner.eng5 import exit_codes
from cjgrade.runner.eng5.artefact import validate_runner_artefact
from tests.judges.fakes import anthropic_api, openai_api
from tests.judges.fakes.truth import read_essays
from tests.runner.eng5.conftest import run_cli, write_eng5_folder

pytest.importorskip("openai")

SYSTEM = "You grade Swedish national-test essays in English 5."
RUBRIC = "Reward coherent argument, range of vocabulary and accuracy."


def _longer(text: str) -> str:
    a, b = read_essays(text)
    return "A" if len(a) >= len(b) else "B"


def _prompt_files(env: Path) -> list[str]:
    (env / "system.md").write_text(SYSTEM + "\n", encoding="utf-8")
    (env / "rubric.md").write_text(RUBRIC + "\n", encoding="utf-8")
    return ["--system-prompt", str(env / "system.md"), "--rubric", str(env / "rubric.md")]


def _artefact(env: Path) -> dict[str, Any]:
    (run_dir,) = sorted((env / "eng5_runs").iterdir())
    doc: dict[str, Any] = json.loads((run_dir / "assessment_run.execute.json").read_text())
    validate_runner_artefact(doc)
    return doc


def test_openai_settings_on_the_wire(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", openai_api.VALID_KEY)
    folder = write_eng5_folder(env / "in")
    with openai_api.FakeOpenAI() as server:
        server.responder = lambda body: openai_api.verdict_reply(
            _longer(body["messages"][1]["content"]), 4)
        code, out = run_cli([
            "--mode", "execute", "--input-dir", str(folder), "--llm-provider", "openai",
            "--llm-model", "gpt-4o-2024-11-20", "--llm-base-url", f"{server.url}/v1",
            "--llm-temperature", "0.0", "--llm-max-tokens", "321", "--output-verbosity", "low",
            "--language", "sv", "--max-comparisons", "6", *_prompt_files(env)])
        bodies = server.chat_requests()
    assert code == 0, out
    assert len(bodies) == 6
    for body in bodies:
        assert body["model"] == "gpt-4o-2024-11-20"
        assert body["temperature"] == 0.0  # 0.0 is a value, sent as such
        assert body["max_tokens"] == 321
        assert body["verbosity"] == "low"
        system = body["messages"][0]["content"]
        assert system.startswith(SYSTEM) and "written in Swedish" in system
        assert RUBRIC in body["messages"][1]["content"]
    doc = _artefact(env)
    assert {(c["provider"], c["model"]) for c in doc["comparisons"]} == {
        ("openai", "gpt-4o-2024-11-20")}  # attributed to the model that answered
    judge = doc["runner"]["judge"]
    assert (judge["temperature"], judge["max_tokens"], judge["output_verbosity"]) == (
        0.0, 321, "low")
    assert "openai::gpt-4o-2024-11-20" in out


def test_openai_reasoning_effort_on_the_wire(env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", openai_api.VALID_KEY)
    folder = write_eng5_folder(env / "in")
    with openai_api.FakeOpenAI() as server:
        server.responder = lambda body: openai_api.verdict_reply(
            _longer(body["messages"][1]["content"]), 4)
        code, out = run_cli([
            "--mode", "execute", "--input-dir", str(folder), "--llm-provider", "openai",
            "--llm-model", "gpt-5-mini", "--llm-base-url", f"{server.url}/v1",
            "--reasoning-effort", "low", "--llm-max-tokens", "300", "--max-comparisons", "4"])
        bodies = server.chat_requests()
    assert code == 0, out
    assert bodies and all(b["reasoning_effort"] == "low" for b in bodies)
    assert all(b["max_completion_tokens"] == 300 + REASONING_ALLOWANCE["low"] for b in bodies)
    assert all("temperature" not in b for b in bodies)  # the reasoning model takes none
    assert {c["model"] for c in _artefact(env)["comparisons"]} == {"gpt-5-mini-2025-08-07"}


def test_provider_batch_api_on_the_wire(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--llm-batching-mode provider_batch_api`` judges through the Batch API (no chat
    request), and the batch lines carry the settings."""
    monkeypatch.setenv("OPENAI_API_KEY", openai_api.VALID_KEY)
    root = env / "in"
    (root / "students").mkdir(parents=True)
    (root / "anchors").mkdir()
    (root / "instructions.md").write_text("Judge the essays.\n", encoding="utf-8")
    (root / "config.toml").write_text('grade_scale = "eng5_np_legacy_9_step"\n[run]\n'
                                      "poll_interval_s = 0\n", encoding="utf-8")
    for i, g in enumerate(("F+", "C+", "A"), start=1):
        (root / "anchors" / f"a{i}_{g}.txt").write_text("anchor text " * (3 * i), "utf-8")
    for i in range(3):
        (root / "students" / f"s{i}.txt").write_text("student text " * (2 + 3 * i), "utf-8")
    with openai_api.FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        code, out = run_cli([
            "--mode", "execute", "--input-dir", str(root), "--llm-provider", "openai",
            "--llm-model", "gpt-4o-2024-11-20", "--llm-batching-mode", "provider_batch_api",
            "--llm-temperature", "0.0", "--llm-max-tokens", "222", "--max-comparisons", "6"])
        lines = [json.loads(line) for f in server.files.values()
                 for line in f["content"].decode().splitlines() if line.strip()]
        lines = [line for line in lines if "body" in line]  # requests, not results
        chats = server.chat_requests()
    assert code == 0, out
    assert chats == [] and lines
    assert all(line["body"]["temperature"] == 0.0
               and line["body"]["max_completion_tokens"] == 222 for line in lines)
    doc = _artefact(env)
    assert doc["runner"]["judge"]["batching_mode"] == "provider_batch_api"
    assert all("batch_api" in c["flags"] for c in doc["comparisons"])


pytest.importorskip("anthropic")


def test_anthropic_settings_on_the_wire(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic_api.VALID_KEY)
    folder = write_eng5_folder(env / "in")

    def answer(params: dict[str, Any]) -> Any:
        text = "\n\n".join(block["text"] for block in params["messages"][0]["content"])
        return anthropic_api.verdict_reply(_longer(text), 4)

    with anthropic_api.FakeAnthropic() as server:
        server.responder = answer
        code, out = run_cli([
            "--mode", "execute", "--input-dir", str(folder), "--llm-provider", "anthropic",
            "--llm-model", "claude-haiku-4-5-20251001", "--llm-base-url", server.url,
            "--llm-temperature", "0.0", "--llm-max-tokens", "321", "--max-comparisons", "4",
            *_prompt_files(env)])
        plain = server.message_requests()
        server.requests.clear()
        code2, out2 = run_cli([
            "--mode", "execute", "--input-dir", str(folder), "--llm-provider", "anthropic",
            "--llm-model", "claude-haiku-4-5-20251001", "--llm-base-url", server.url,
            "--reasoning-effort", "low", "--max-comparisons", "4"])
        thinking = server.message_requests()
    assert (code, code2) == (0, 0), out + out2
    for params in plain:
        assert params["model"] == "claude-haiku-4-5-20251001"
        assert params["temperature"] == 0.0 and params["max_tokens"] == 321
        assert params["system"][0]["text"].startswith(SYSTEM)
        assert any(RUBRIC in block["text"] for block in params["messages"][0]["content"])
    assert thinking and all(p["thinking"]["type"] == "enabled" for p in thinking)


def test_settings_a_provider_cannot_honour_are_refused_before_anything(env: Path) -> None:
    folder = write_eng5_folder(env / "in")
    base = ["--mode", "execute", "--input-dir", str(folder)]
    cases = [
        (["--llm-provider", "anthropic", "--llm-model", "claude-haiku-4-5-20251001",
          "--output-verbosity", "low"], "--output-verbosity is an OpenAI setting"),
        (["--llm-provider", "openai", "--llm-model", "gpt-4o-2024-11-20",
          "--reasoning-effort", "high"], "is not a reasoning model"),
        (["--llm-provider", "openai", "--llm-model", "gpt-4o-2024-11-20",
          "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-batching-mode",
          "provider_batch_api"], "has no batch API"),
        (["--llm-provider", "anthropic", "--llm-model", "gpt-4o-2024-11-20"],
         "unknown model anthropic/gpt-4o-2024-11-20"),
        (["--llm-model", "claude-haiku-4-5-20251001", "--llm-batching-mode", "serial_bundle"],
         "--llm-batching-mode must be"),
        (["--llm-provider", "openai"], "--llm-provider openai needs --llm-model"),
    ]
    for flags, message in cases:
        code, out = run_cli([*base, *flags])
        assert code == exit_codes.USAGE, (flags, out)
        assert message in out, out
    assert not (env / "eng5_runs").exists() and not (env / "home").exists()
