"""Property-based API testing with schemathesis against a live server and its OpenAPI schema.

Every operation gets generated requests, valid (positive) and invalid (negative), sent with an
admin token; schemathesis's default checks run on each response: no 5xx, documented status
codes and content types, responses matching their schemas, invalid data rejected, valid data
accepted. Driven through the Python API (its pytest plugin does not load under pytest 9) and
kept small, a few examples per operation and mode, so it runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from tests.store.fixtures import needs_scales

from .live_server import LiveServer, create_tokens

pytestmark = needs_scales

EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    tokens = create_tokens(database_url)
    with LiveServer(database_url, tmp_path, max_body_bytes=65536) as server:
        yield server, tokens


def test_api_conforms_to_its_schema(live: tuple[LiveServer, dict[str, str]]) -> None:
    """No generated request, valid or invalid, makes the API fail or break its own schema."""
    server, tokens = live
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    failures: list[str] = []
    n_operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        n_operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case) -> None:  # type: ignore[no-untyped-def]
                case.call_and_validate(base_url=server.url, headers=headers)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # collect all, then report
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert n_operations >= 15
    assert not failures, "\n\n".join(failures)
