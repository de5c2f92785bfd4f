"""Batch options: one declaration (type, range, help) read by config.toml, flags and storage."""

from __future__ import annotations

import pytest

from cjgrade.engine.options import BatchOptions, merge_options, option_help
from cjgrade.errors import ConfigError


def test_merge_checks_every_key_against_the_declaration() -> None:
    """Overrides are validated by BatchOptions: ints to floats, ranges, unknown keys named."""
    merged = merge_options(BatchOptions(), {"target_reliability": 1, "budget": 40}, source="flags")
    assert (merged.target_reliability, merged.budget) == (1.0, 40)
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


def test_the_old_name_of_the_reliability_target_is_still_read() -> None:
    """``target_ssr`` (the name before it was said what the target is) is read from stored
    options, flags and config files; giving both names is refused."""
    assert BatchOptions.from_dict({"target_ssr": 0.8}).target_reliability == 0.8
    merged = merge_options(BatchOptions(target_reliability=0.7), {"target_ssr": 0.85},
                           source="flags")
    assert merged.target_reliability == 0.85 and "target_ssr" not in merged.to_dict()
    with pytest.raises(ConfigError,
                       match=r"target_ssr is its old name\): give target_reliability only"):
        merge_options(BatchOptions(), {"target_ssr": 0.8, "target_reliability": 0.7},
                      source="flags")


def test_cli_help_comes_from_the_declaration() -> None:
    """option_help shows the field's docstring, its range and its default."""
    text = option_help("target_reliability")
    assert text.startswith("Stop when the posterior reliability of the round's fit reaches")
    assert "Range: > 0, <= 1." in text and "Default: 0.9." in text
    assert "[" not in text  # Rich markup would swallow a [table] name
    assert "Range: >= 1." in option_help("budget")
