"""Shared fixtures: per-test RNG and the location of the real validation data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator per test: no global RNG state."""
    return np.random.default_rng(20261121)


def shared_data_dir(name: str) -> Path:
    """Return ``../shared/data/<name>`` or skip the test with a message when it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent")
    return path
