"""The artefact of a cluster execute (``--kafka-bootstrap``), built without database access.

* The batch finished (completed or failed after running): the project artefact comes from the
  server (``GET /v1/batches/{uuid}/artefact``, computed from the stored comparisons and
  validated there), its ``inputs`` replaced by the runner's own inventory (the files it read,
  with SHA-256: the server stores only content ids).
* The batch did not finish while the runner waited (``--completion-timeout``), was never
  awaited, or was refused before it was stored (``batch.failed`` with ``invalid_request``): the
  artefact has the metadata and inputs, no results, ``metadata.status`` ``running`` /
  ``failed`` and the costs of the comparison events that did arrive; the events themselves are
  under ``events/`` (listed in ``validation.manifest``) and ``validation.runner_status`` says
  ``partial_data``.

Either way :func:`cjgrade.runner.eng5.artefact.extend_artefact` adds the runner's sections and
:func:`~cjgrade.runner.eng5.artefact.write_runner_artefact` validates the result on write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cjgrade.api.client import ApiClient, ApiConflict, ApiNotFound
from cjgrade.bus.events import ComparisonCompletedV1
from cjgrade.errors import ConfigError
from cjgrade.runner.eng5.artefact import dry_run_artefact

__all__ = ["event_costs", "fetch_batch_artefact", "unfinished_artefact"]


async def fetch_batch_artefact(client: ApiClient, batch_uuid: str) -> dict[str, Any] | None:
    """The server's artefact of a finished batch; None when the batch has not finished (409)
    or was never stored (404: the orchestrator refused the request).

    Raises
    ------
    ConfigError
        The server has no batch routes (older than this runner).
    """
    try:
        doc = await client.get_batch_artefact(batch_uuid)
    except ApiConflict:
        return None
    except ApiNotFound as exc:
        if (exc.problem or {}).get("type") == "https://cjgrade.dev/problems/not-found":
            return None
        raise ConfigError(
            f"the API at {client.base_url} has no batch routes (GET /v1/batches/{{uuid}}/"
            "artefact), so the runner cannot fetch the results; upgrade the server's cjgrade"
        ) from exc
    return doc


def event_costs(events: Iterable[ComparisonCompletedV1]) -> dict[str, Any]:
    """The artefact's ``costs`` from comparison events (``total_usd`` null when a price of an
    answered call is unknown, as in the project artefact)."""
    events = list(events)
    by_model: dict[tuple[str, str], dict[str, Any]] = {}
    unknown = False
    for e in events:
        key = (e.provider or "unknown", e.model or "unknown")
        row = by_model.setdefault(key, {
            "provider": key[0], "model": key[1], "comparisons": 0, "input_tokens": 0,
            "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0,
            "cost_usd": 0.0})
        row["comparisons"] += 1
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            row[name] += getattr(e, name)
        if e.cost_usd is None:
            if e.input_tokens or e.output_tokens:
                row["cost_usd"] = None
                unknown = True
        elif row["cost_usd"] is not None:
            row["cost_usd"] += e.cost_usd
    rows = [by_model[k] for k in sorted(by_model)]
    total = None if unknown else round(sum(r["cost_usd"] or 0.0 for r in rows), 10)
    succeeded = sum(1 for e in events if e.status == "succeeded")
    return {"total_usd": total, "n_comparisons": len(events), "n_succeeded": succeeded,
            "n_failed": len(events) - succeeded, "n_cache_hits": 0, "by_model": rows}


def unfinished_artefact(
    inputs: dict[str, Any],
    *,
    batch_uuid: str,
    label: str,
    assignment_id: str | None,
    grade_scale: str | None,
    judge: str,
    options: dict[str, Any],
    status: str,
    stop_reason: str,
    failure_reason: str | None,
    events: Iterable[ComparisonCompletedV1],
    reason: str,
) -> dict[str, Any]:
    """The project-shaped part of the artefact of a batch without a result (module
    docstring): ``status`` ``running`` or ``failed``; ``reason`` says why there are no grades."""
    doc = dry_run_artefact(inputs, batch_uuid=batch_uuid, label=label,
                           assignment_id=assignment_id, grade_scale=grade_scale, judge=judge,
                           options=options)
    meta = doc["metadata"]
    meta.update(mode="distributed", status=status, stop_reason=stop_reason,
                failure_reason=failure_reason)
    doc["costs"] = event_costs(events)
    doc["grades"] = {"available": False, "reason": reason, "grade_scale": grade_scale}
    return doc
