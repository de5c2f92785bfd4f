"""A batch's events rebuilt from the store, for a client whose bus lost some of them (a broker
restarted with memory storage, a consumer that fell out of its partition).

The store holds the truth: each comparison's outcome, and the lifecycle events
(``batch.completed``, ``assessment.result``, ``batch.failed``) in the outbox, written in the
same transaction as the state change they announce.
"""

from __future__ import annotations

from cjgrade.bus.events import (
    AssessmentResultV1,
    BatchCompletedV1,
    BatchFailedV1,
    ComparisonCompletedV1,
    EnvelopeModel,
    decode_envelope,
)
from cjgrade.store import Store, list_comparisons
from cjgrade.store.outbox import list_events
from cjgrade.store.records import ComparisonRecord

__all__ = ["LIFECYCLE_TOPICS", "stored_comparisons", "stored_lifecycle"]

LIFECYCLE_TOPICS = (BatchCompletedV1.TOPIC, AssessmentResultV1.TOPIC, BatchFailedV1.TOPIC)


def _completed(batch_uuid: str, c: ComparisonRecord) -> ComparisonCompletedV1:
    return ComparisonCompletedV1(
        batch_uuid=batch_uuid, comparison_id=c.id,
        status="succeeded" if c.status == "succeeded" else "failed",
        request_sha256=c.request_sha256,
        winner="A" if c.winner == "A" else "B" if c.winner == "B" else None,
        p_a=c.p_a, confidence=c.confidence, justification=c.justification,
        provider=c.provider, model=c.model, input_tokens=c.input_tokens or 0,
        output_tokens=c.output_tokens or 0, cache_read_tokens=c.cache_read_tokens or 0,
        cache_write_tokens=c.cache_write_tokens or 0, cost_usd=c.cost_usd,
        latency_s=c.latency_s or 0.0, flags=list(c.flags), raw_response=c.raw_response or "",
        error_code=c.error_code, error_reason=c.error_reason, attempts=c.attempts,
    )


async def stored_comparisons(store: Store, batch_uuid: str) -> dict[int, ComparisonCompletedV1]:
    """The comparisons of the batch that have an outcome, as result events."""
    async with store.transaction() as session:
        rows = await list_comparisons(session, batch_uuid)
    return {c.id: _completed(batch_uuid, c) for c in rows if c.status != "pending"}


async def stored_lifecycle(store: Store, batch_uuid: str) -> list[EnvelopeModel]:
    """The batch's lifecycle envelopes from the outbox (published or not), oldest first."""
    async with store.transaction() as session:
        rows = await list_events(session, batch_uuid, LIFECYCLE_TOPICS)
    return [decode_envelope(dict(r.payload)) for r in rows]
