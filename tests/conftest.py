"""Shared fixtures: per-test RNG and the location of the real validation data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """A test that runs `cjgrade serve` or `cjgrade worker` in-process configures logging for
    the whole process (as those commands do); put the root logger back so later tests see
    the logging a fresh process has."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
