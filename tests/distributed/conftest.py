"""Fixtures of the distributed tests: a real Tansu broker and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.distributed.broker import Broker
from tests.store.fixtures import _db_templates, pg_url  # noqa: F401


@pytest.fixture
def broker() -> Iterator[Broker]:
    """A fresh broker per test (it starts in milliseconds), killed afterwards."""
    b = Broker()
    b.start()
    try:
        yield b
    finally:
        b.stop()
