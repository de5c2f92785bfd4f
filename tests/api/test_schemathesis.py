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

from .live_server import LiveServer, create_tokens

EXAMPLES_PER_OPERATION = 6


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    tokens = create_tokens(database_url)
    # A generous body limit, so schema-violating huge texts reach validation (422) rather than
    # the body limit (413, tested in test_bad_input.py), which schemathesis would not count as
    # a rejection of invalid data.
    with LiveServer(database_url, tmp_path, max_body_bytes=8 * 2**20) as server:
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
        # Negative generation needs something to break: skip it for parameterless operations.
        has_input = bool(operation.body) or any(True for _ in operation.iter_parameters())
        modes = (
            (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            if has_input
            else (GenerationMode.POSITIVE,)
        )
        for mode in modes:

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
