"""Consumer-group membership on the real broker: a rebalance lets the records a member is
handling finish before their partitions move, so nobody handles them twice."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from cjgrade.bus.events import ComparisonRequestedV1
from cjgrade.bus.kafka import KafkaSubscription, KafkaTransport
from cjgrade.bus.transport import Delivery
from tests.distributed.test_idempotency import _request

pytestmark = [pytest.mark.kafka]

TOPIC = ComparisonRequestedV1.TOPIC


def assigned(sub: KafkaSubscription) -> int:
    consumer = sub._consumer
    return len(consumer.assignment()) if consumer is not None else 0


async def wait_until(condition, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def read_all(sub: KafkaSubscription, into: list[Delivery]) -> None:
    while True:
        into.append(await sub.next_delivery())


async def test_a_record_being_handled_is_finished_before_its_partition_moves(broker) -> None:
    """A member (with ``revoke_wait_s``, as a worker has) holds an unacknowledged record when a
    second member joins: the rebalance waits for the acknowledgement, commits it, and the
    record is delivered to nobody again."""
    group = f"g-{uuid.uuid4().hex[:8]}"
    client = await KafkaTransport(broker.bootstrap, client_id="client").start()
    first = await KafkaTransport(broker.bootstrap, client_id="first",
                                 session_timeout_ms=6_000, revoke_wait_s=5.0).start()
    second = await KafkaTransport(broker.bootstrap, client_id="second",
                                  session_timeout_ms=6_000).start()
    sub_a = first.subscribe(TOPIC, group=group)
    sub_b = second.subscribe(TOPIC, group=group)
    seen_a: list[Delivery] = []
    seen_b: list[Delivery] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await sub_a.start()
        await wait_until(lambda: assigned(sub_a) == first.partitions, 30, "first assigned")
        await client.publish(TOPIC, _request(str(uuid.uuid4()), 7))
        async with asyncio.timeout(10):
            held = await sub_a.next_delivery()  # being handled: not acknowledged yet
        tasks.append(asyncio.ensure_future(read_all(sub_a, seen_a)))

        await sub_b.start()  # joins: the group rebalances
        tasks.append(asyncio.ensure_future(read_all(sub_b, seen_b)))
        # The first member hears of the rebalance at its next heartbeat (1 s) and then waits
        # for the record in hand (up to half its 6 s session) before it rejoins.
        await asyncio.sleep(2.5)
        sub_a.ack(held)
        await wait_until(lambda: assigned(sub_a) > 0 and assigned(sub_b) > 0, 30,
                         "both members assigned after the rebalance")
        await asyncio.sleep(1.5)  # time for a redelivery to arrive, if there were one
        again = [d.offset for d in seen_a + seen_b
                 if d.partition == held.partition and d.offset == held.offset]
        assert not again, "the record was handled again after its partition moved"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for transport in (first, second, client):
            await transport.close()


async def test_a_committed_offset_beyond_the_end_is_read_from_the_start(broker) -> None:
    """A broker with memory storage that restarts has empty topics, and an offset of the old
    ones can still be committed to it. A member assigned such a partition reads it from the
    start instead of skipping every record up to the old offset (after a 60 s outage a batch
    waited 2.5 minutes for re-dispatches to push the new offsets past the old ones)."""
    from aiokafka import TopicPartition

    group = f"g-{uuid.uuid4().hex[:8]}"
    client = await KafkaTransport(broker.bootstrap, client_id="client").start()
    first = await KafkaTransport(broker.bootstrap, client_id="first").start()
    sub = first.subscribe(TOPIC, group=group)
    try:
        await sub.start()
        await wait_until(lambda: assigned(sub) == first.partitions, 30, "first assigned")
        assert sub._consumer is not None
        await sub._consumer.commit({TopicPartition(TOPIC, 0): 10})  # an old topic's offset
        await first.close()

        await client.publish(TOPIC, _request(str(uuid.uuid4()), 0))  # partition 0, offset 0
        second = await KafkaTransport(broker.bootstrap, client_id="second").start()
        try:
            again = second.subscribe(TOPIC, group=group)
            async with asyncio.timeout(20):
                delivery = await again.next_delivery()
            assert (delivery.partition, delivery.offset) == (0, 0)
        finally:
            await second.close()
    finally:
        await first.close()
        await client.close()
