"""Batch options: one declaration (type, range, help) read by config.toml, flags and storage."""

from __future__ import annotations

import pytest

from cjgrade.engine.options import BatchOptions, merge_options, option_help
from cjgrade.errors import ConfigError


def test_merge_checks_every_key_against_the_declaration() -> None:
    """Overrides are validated by BatchOptions: ints to floats, ranges, unknown keys named."""
    merged = merge_options(BatchOptions(), {"target_ssr": 1, "budget": 40}, source="flags")
    assert (merged.target_ssr, merged.budget) == (1.0, 40)
    with pytest.raises(ConfigError, match=r"^flags: unknown key 'budgte'; allowed: budget, "):
        merge_options(BatchOptions(), {"budgte": 3}, source="flags")
    with pytest.raises(ConfigError, match=r"concurrency must be at least 1 \(got 0\)"):
        merge_options(BatchOptions(), {"concurrency": 0}, source="flags")
    with pytest.raises(ConfigError, match="batch_api must be true or false, not str 'yes'"):
        merge_options(BatchOptions(), {"batch_api": "yes"}, source="flags")


def test_stored_options_round_trip() -> None:
    """to_dict/from_dict give back the same options."""
    options = BatchOptions(budget=12, alpha=0.5, strategy="random")
    assert BatchOptions.from_dict(options.to_dict()) == options


def test_cli_help_comes_from_the_declaration() -> None:
    """option_help shows the field's docstring, its range and its default."""
    text = option_help("target_ssr")
    assert text.startswith("Stop when the (posterior) reliability reaches this")
    assert "Range: > 0, <= 1." in text and "Default: 0.9." in text
    assert "[" not in text  # Rich markup would swallow a [table] name
    assert "Range: >= 1." in option_help("budget")
