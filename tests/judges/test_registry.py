"""The registry: provider/model lookup, keys, lazy SDK import with a pip hint, policies."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from cjgrade.errors import ConfigError
from cjgrade.judges import (
    JudgeRequest,
    ManualClock,
    Verdict,
    Winner,
    get_batch_judge,
    get_judge,
    register_adapter,
    registry,
)
from cjgrade.judges.manifest import parse_manifest

REQUEST = JudgeRequest("s", "p", "i", "r", "one", "two")

FAKE_MANIFEST = """
[providers.fakeprov]
adapter = "fakeprov"
key_env_var = "FAKEPROV_API_KEY"
extra = "fakeprov"

[[models]]
provider = "fakeprov"
model = "m1"
"""


def test_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key: a ConfigError naming ANTHROPIC_API_KEY and the key-less alternative."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"ANTHROPIC_API_KEY.*heuristic/surface"):
        get_judge("anthropic/claude-haiku-4-5-20251001")


def test_unknown_model_and_provider_are_config_errors() -> None:
    """Unknown names fail before any adapter is built."""
    with pytest.raises(ConfigError, match="--allow-unknown-model"):
        get_judge("openai/gpt-7", api_key="k")
    with pytest.raises(ConfigError, match="unknown judge provider"):
        get_judge("mistral/large")
    with pytest.raises(ConfigError, match="only heuristic judge"):
        get_judge("heuristic/deep", allow_unknown_model=True)


def test_missing_sdk_gives_the_pip_install_hint(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """An adapter whose SDK is not installed gives "pip install 'cjgrade[extra]'"."""
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fakeprov.py").write_text("import fakeprov_sdk_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry._ADAPTERS, "fakeprov", None)  # restored after the test
    register_adapter("fakeprov", registry._remote_factory("fakeprov", package="fakepkg",
                                                          sdk="fakeprov_sdk_not_installed"))
    manifest = parse_manifest(tomllib.loads(FAKE_MANIFEST))
    with pytest.raises(ConfigError, match=r"pip install 'cjgrade\[fakeprov\]'"):
        get_judge("fakeprov/m1", api_key="k", manifest=manifest)


def test_missing_anthropic_sdk_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the anthropic SDK unimportable, anthropic/... says pip install 'cjgrade[anthropic]'."""
    monkeypatch.setitem(sys.modules, "anthropic", None)
    monkeypatch.delitem(sys.modules, "cjgrade.judges.anthropic", raising=False)
    with pytest.raises(ConfigError, match=r"pip install 'cjgrade\[anthropic\]'"):
        get_judge("anthropic/claude-haiku-4-5-20251001", api_key="k")


def test_real_adapters_are_built_with_a_key() -> None:
    """With a key (no network touched) the OpenAI adapter is built and wrapped."""
    judge = get_judge("openai/gpt-5-mini", api_key="sk-test")
    assert judge.info.model == "gpt-5-mini-2025-08-07"
    assert judge.cache is not None  # remote providers cache by default
    assert judge.policy.max_attempts > 1 and judge.policy.timeout_s is not None


def test_base_url_without_key_is_allowed_for_compatible_servers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A self-hosted OpenAI-compatible server needs no key; the base URL separates the cache."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    judge = get_judge("openai/llama-3-8b", base_url="http://127.0.0.1:9/v1",
                      allow_unknown_model=True)
    assert not judge.info.known
    assert "127.0.0.1:9" in judge.cache_namespace


def test_local_judges_get_local_policies_and_no_cache() -> None:
    """Local judges: one attempt, no timeout, no cache (sim must draw afresh)."""
    judge = get_judge("heuristic/surface")
    assert judge.policy.max_attempts == 1 and judge.policy.timeout_s is None
    assert judge.cache is None


def test_policy_overrides_are_applied_and_validated() -> None:
    """policy_overrides change fields of the default policy; bad values are ConfigErrors."""
    judge = get_judge("scripted", policy_overrides={"max_concurrency": 32})
    assert judge.policy.max_concurrency == 32
    with pytest.raises(ConfigError, match="invalid judge runtime setting"):
        get_judge("scripted", policy_overrides={"max_concurrency": 0})
    with pytest.raises(ConfigError, match="invalid judge runtime setting"):
        get_judge("scripted", policy_overrides={"colour": "red"})


async def test_third_party_adapter_registers_through_the_same_hook(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """register_adapter makes a new provider available to get_judge, wrapped by the runtime."""

    class Echo:
        name = "fakeprov/m1"

        async def judge(self, request: JudgeRequest) -> Verdict:
            return Verdict(Winner.A, 0.7, "echo", "fakeprov", "m1", "h")

    monkeypatch.setitem(registry._ADAPTERS, "fakeprov", None)  # restored after the test
    monkeypatch.setenv("FAKEPROV_API_KEY", "k")
    register_adapter("fakeprov", lambda info, ctx: Echo())
    judge = get_judge("fakeprov/m1", manifest=parse_manifest(tomllib.loads(FAKE_MANIFEST)))
    verdict = await judge.judge(REQUEST)
    assert verdict.p_a == 0.7
    assert verdict.cost_usd is None  # the manifest has no prices for it: unknown, not 0


def test_batch_judge_comes_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_batch_judge resolves aliases, needs the key (naming the variable) and a
    batch-capable provider API; compatible servers and OpenRouter have no batch mode."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        get_batch_judge("anthropic/claude-haiku-4-5-20251001")
    judge = get_batch_judge("openai/gpt-5-mini", api_key="sk-test")
    assert judge.name == "openai/gpt-5-mini-2025-08-07"
    assert judge.info.batch_price_factor == 0.5
    with pytest.raises(ConfigError, match="batch mode exists only"):
        get_batch_judge("openrouter/anthropic/claude-haiku-4-5-20251001", api_key="k")
    with pytest.raises(ConfigError, match="batch mode exists only"):
        get_batch_judge("openai/gpt-5-mini", api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigError, match="--allow-unknown-model"):
        get_batch_judge("openai/gpt-7", api_key="k")


def test_models_of_one_provider_account_share_its_limits() -> None:
    """Two models of one provider with the same key and endpoint share one gate (concurrency,
    rate limits, breaker); another key, an injected clock or a local judge gets its own."""
    haiku = get_judge("anthropic/claude-haiku-4-5-20251001", api_key="k-shared")
    sonnet = get_judge("anthropic/claude-sonnet-4-5-20250929", api_key="k-shared")
    assert haiku.gate is sonnet.gate
    assert get_judge("anthropic/claude-haiku-4-5", api_key="k-other").gate is not haiku.gate
    faster = get_judge("anthropic/claude-haiku-4-5", api_key="k-shared",
                       policy_overrides={"requests_per_minute": 4000})
    assert faster.gate is not haiku.gate
    assert get_judge("anthropic/claude-haiku-4-5", api_key="k-shared",
                     clock=ManualClock()).gate is not haiku.gate
    assert get_judge("scripted").gate is not get_judge("scripted").gate
