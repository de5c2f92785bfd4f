"""``cjgrade judges list``: the manifest as a table or JSON; judge errors as the CLI shows
them (one line that says what to do, exit code 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cjgrade.cli.main import build_app, run_app


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_app(build_app(), argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_lists_models_with_prices_and_capabilities(
        capsys: pytest.CaptureFixture[str]) -> None:
    """JSON rows carry per-million prices (null when unknown) and capability names."""
    code, out, _ = run(["judges", "list", "--format", "json"], capsys)
    assert code == 0
    rows = {row["judge"]: row for row in json.loads(out)}
    haiku = rows["anthropic/claude-haiku-4-5-20251001"]
    assert haiku["input_per_mtok"] == 1.0 and haiku["cache_read_per_mtok"] == 0.1
    assert "reasoning" in haiku["capabilities"] and haiku["key_env_var"] == "ANTHROPIC_API_KEY"
    assert "batch_api" in haiku["capabilities"] and haiku["batch_price_factor"] == 0.5
    assert rows["openai/gpt-5.1"]["input_per_mtok"] is None
    assert "gpt-5-mini" in rows["openai/gpt-5-mini-2025-08-07"]["aliases"]
    assert rows["heuristic/surface"]["local"] is True


def test_provider_filter_and_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    """--provider filters; an unknown provider exits 2 naming the known ones."""
    code, out, _ = run(["judges", "list", "--format", "json", "--provider", "anthropic"], capsys)
    assert code == 0 and {r["provider"] for r in json.loads(out)} == {"anthropic"}
    code, _, err = run(["judges", "list", "--provider", "nobody"], capsys)
    assert code == 2 and "known providers" in err


def test_table_marks_unknown_prices_and_non_llm_judges(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The table shows '?' for unknown prices and says which judges are not LLMs."""
    code, out, _ = run(["judges", "list"], capsys)
    assert code == 0
    assert "heuristic/surface" in out and "not LLMs" in out and "?" in out


def test_bad_format_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --format exits 2 with a one-line message."""
    code, _, err = run(["judges", "list", "--format", "yaml"], capsys)
    assert code == 2 and "--format" in err


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "scored.csv"
    rows = "".join(f"{i},1,Essay number {i} about rivers.,{i % 3}\n" for i in range(6))
    path.write_text("essay_id,essay_set,essay,domain1_score\n" + rows, encoding="utf-8")
    return path


def test_judge_errors_say_what_to_do(dataset: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown model: lists the known ones and names --allow-unknown-model. Missing key: names
    the variable and the key-less judge. Missing SDK: names pip install 'cjgrade[...]'."""
    code, _, err = run(["eval", str(dataset), "--judge", "openai/gpt-7"], capsys)
    assert code == 2
    assert "openai/gpt-5-mini-2025-08-07" in err and "--allow-unknown-model" in err
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code, _, err = run(["eval", str(dataset), "--judge", "anthropic/claude-haiku-4-5"], capsys)
    assert code == 2 and "ANTHROPIC_API_KEY" in err and "heuristic/surface" in err
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setitem(sys.modules, "openai", None)
    monkeypatch.delitem(sys.modules, "cjgrade.judges.openai", raising=False)
    code, _, err = run(["eval", str(dataset), "--judge", "openai/gpt-5-mini"], capsys)
    assert code == 2 and "pip install 'cjgrade[openai]'" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
