"""The model manifest: packaged data, validation, aliases and unknown models."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjgrade.errors import ConfigError
from cjgrade.judges.manifest import load_manifest, parse_manifest, split_judge_name

# The original manifest's per-1k prices (original-system.md section 3.4).
ORIGINAL_PER_1K = {
    "openai/gpt-5-2025-08-07": (0.00125, 0.010),
    "openai/gpt-5-mini-2025-08-07": (0.00025, 0.002),
    "openai/gpt-5-nano-2025-08-07": (0.00005, 0.0004),
    "openai/gpt-4.1-2025-04-14": (0.002, 0.008),
    "openai/gpt-4.1-mini-2025-04-14": (0.0004, 0.0016),
    "openai/gpt-4.1-nano-2025-04-14": (0.0001, 0.0004),
    "openai/gpt-4o-2024-11-20": (0.0025, 0.010),
    "openai/gpt-4o-mini-2024-07-18": (0.00015, 0.0006),
    "anthropic/claude-haiku-4-5-20251001": (0.001, 0.005),
    "anthropic/claude-sonnet-4-5-20250929": (0.003, 0.015),
}

MINIMAL = """
[providers.acme]
adapter = "openai"
key_env_var = "ACME_KEY"

[[models]]
provider = "acme"
model = "m1"
input_per_mtok = 1.0
"""


def test_packaged_manifest_prices_are_the_original_converted_to_per_million() -> None:
    """Every seeded price equals the original per-1k price times 1000."""
    manifest = load_manifest()
    for name, (per_1k_in, per_1k_out) in ORIGINAL_PER_1K.items():
        info = manifest.resolve(name)
        assert info.input_per_mtok == pytest.approx(per_1k_in * 1000)
        assert info.output_per_mtok == pytest.approx(per_1k_out * 1000)


def test_anthropic_cache_prices_follow_the_published_multipliers() -> None:
    """Anthropic cache reads cost 0.1x and cache writes 1.25x the input price."""
    for info in load_manifest():
        if info.provider == "anthropic":
            assert info.input_per_mtok is not None
            assert info.cache_read_per_mtok == pytest.approx(0.1 * info.input_per_mtok)
            assert info.cache_write_per_mtok == pytest.approx(1.25 * info.input_per_mtok)


def test_gpt_5_1_price_stays_unknown() -> None:
    """The model without a price in the original keeps an unknown price (None, not 0)."""
    info = load_manifest().resolve("openai/gpt-5.1")
    assert info.input_per_mtok is None and info.output_per_mtok is None


def test_cache_reads_are_never_dearer_than_input() -> None:
    """Wherever both are known, the cache-read price is at most the input price."""
    for info in load_manifest():
        if info.cache_read_per_mtok is not None and info.input_per_mtok is not None:
            assert info.cache_read_per_mtok <= info.input_per_mtok


def test_aliases_resolve_to_dated_model_ids() -> None:
    """openai/gpt-5-mini resolves to the dated id."""
    info = load_manifest().resolve("openai/gpt-5-mini")
    assert info.model == "gpt-5-mini-2025-08-07" and info.known


def test_unknown_model_error_lists_known_models_and_the_flag() -> None:
    """An unknown model is a ConfigError naming known models and --allow-unknown-model."""
    with pytest.raises(ConfigError) as err:
        load_manifest().resolve("anthropic/claude-9")
    message = str(err.value)
    assert "anthropic/claude-haiku-4-5-20251001" in message
    assert "--allow-unknown-model" in message


def test_allowed_unknown_model_has_unknown_prices() -> None:
    """With allow_unknown_model the model is admitted, marked unknown, with no prices."""
    info = load_manifest().resolve("openai/my-served-model", allow_unknown_model=True)
    assert not info.known
    assert info.input_per_mtok is None and info.output_per_mtok is None


def test_unknown_provider_lists_known_providers() -> None:
    """An unknown provider is refused even with allow_unknown_model."""
    with pytest.raises(ConfigError, match=r"known providers: .*heuristic"):
        load_manifest().resolve("gemini/flash", allow_unknown_model=True)


def test_split_judge_name() -> None:
    """provider/model splits at the first slash; a bare provider means model 'default'."""
    assert split_judge_name("openrouter/anthropic/claude") == ("openrouter", "anthropic/claude")
    assert split_judge_name("scripted") == ("scripted", "default")
    with pytest.raises(ConfigError):
        split_judge_name("/x")


def test_local_judges_are_free_and_marked_not_llm() -> None:
    """heuristic, sim and scripted have explicit zero prices and say they are not LLMs."""
    manifest = load_manifest()
    for name in ("heuristic/surface", "sim/bt", "scripted/default"):
        info = manifest.resolve(name)
        assert info.input_per_mtok == 0.0 and info.output_per_mtok == 0.0
        assert "NOT" in info.display_name
        assert manifest.provider(info.provider).local


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (MINIMAL.replace("input_per_mtok = 1.0", "input_per_mtok = -1.0"), "non-negative"),
        (MINIMAL.replace("input_per_mtok = 1.0", 'input_per_mtok = "cheap"'), "non-negative"),
        (MINIMAL + "colour = 'red'\n", "unknown keys"),
        (MINIMAL + '\n[[models]]\nprovider = "acme"\nmodel = "m1"\n', "listed twice"),
        (MINIMAL.replace('provider = "acme"', 'provider = "nobody"'), "no \\[providers\\]"),
        (MINIMAL.replace('adapter = "openai"', ""), "'adapter'"),
        (MINIMAL + "supports_tools = 3\n", "true or false"),
        (MINIMAL + "batch_price_factor = 0\n", "batch_price_factor"),
        (MINIMAL.replace('adapter = "openai"', 'adapter = "openai"\nbatch_price_factor = 2'),
         "batch_price_factor"),
        ("[[models]]\nprovider='x'\nmodel='y'\n", "needs a \\[providers"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_invalid_manifests_are_rejected(tmp_path: Path, text: str, match: str) -> None:
    """Each kind of broken manifest gives a ConfigError naming the file and the problem."""
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as err:
        load_manifest(path)
    assert "models.toml" in str(err.value)


def test_missing_manifest_file(tmp_path: Path) -> None:
    """A missing manifest file is a ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_manifest(tmp_path / "absent.toml")


def test_parse_minimal_manifest() -> None:
    """A minimal valid manifest parses; absent prices are None."""
    import tomllib

    manifest = parse_manifest(tomllib.loads(MINIMAL))
    info = manifest.resolve("acme/m1")
    assert info.input_per_mtok == 1.0 and info.output_per_mtok is None
    assert manifest.provider("acme").key_env_var == "ACME_KEY"
