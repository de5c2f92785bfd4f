"""Consumer-group membership on the real broker: a rebalance lets the records a member is
handling finish before their partitions move, so nobody handles them twice; a sole reader
(the orchestrator) reads every partition without joining its group."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from cjgrade.bus.events import ComparisonRequestedV1
from cjgrade.bus.kafka import KafkaSubscription, KafkaTransport
from cjgrade.bus.transport import Delivery
from cjgrade.errors import BusError
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


async def test_a_sole_reader_reads_every_partition_from_its_groups_offsets_without_joining(
        broker) -> None:
    """The orchestrator's subscriptions: a sole reader is assigned every partition and
    commits under its group without joining it (a restarted orchestrator then reads at once,
    instead of waiting for its dead predecessor's session and the group's formation). Its
    successor reads exactly what it had not acknowledged."""
    group = f"g-{uuid.uuid4().hex[:8]}"
    topic = f"test.sole.{group}"  # its own topic: a sole reader without offsets reads it all
    client = await KafkaTransport(broker.bootstrap, client_id="client").start()
    first = await KafkaTransport(broker.bootstrap, client_id="first").start()
    second: KafkaTransport | None = None
    try:
        sub = first.subscribe(topic, group=group, sole=True)
        await sub.start()
        assert assigned(sub) == first.partitions
        for cid in range(8):  # keyed by batch: spread over partitions by hash
            await client.publish(topic, _request(str(uuid.uuid4()), cid))
        read: list[Delivery] = []
        async with asyncio.timeout(20):
            while len(read) < 8:
                read.append(await sub.next_delivery())
        handled = read[:5]
        for delivery in handled:
            sub.ack(delivery)
        await first.close()  # commits what was acknowledged; sends no LeaveGroup

        second = await KafkaTransport(broker.bootstrap, client_id="second").start()
        again = second.subscribe(topic, group=group, sole=True)
        rest: list[Delivery] = []
        async with asyncio.timeout(20):
            while len(rest) < 3:
                rest.append(await again.next_delivery())
        with pytest.raises(TimeoutError):  # and nothing else: the handled five are not read
            async with asyncio.timeout(1.5):
                await again.next_delivery()
        key = lambda d: (d.partition, d.offset)  # noqa: E731
        assert sorted(map(key, rest)) == sorted(map(key, read[5:]))
        assert not await second.group_members(group), "a sole reader joined the group"
    finally:
        for transport in (second, first, client):
            if transport is not None:
                await transport.close()


async def test_a_sole_reader_needs_a_group(broker) -> None:
    transport = KafkaTransport(broker.bootstrap)
    with pytest.raises(BusError, match="group"):
        transport.subscribe(TOPIC, sole=True)


async def test_group_members_are_listed_by_client_id(broker) -> None:
    """The orchestrator matches the workers' group with the workers that its results name:
    a worker's client id carries its worker id."""
    from cjgrade.distributed.worker import worker_client_id, worker_id_of

    group = f"g-{uuid.uuid4().hex[:8]}"
    member = await KafkaTransport(broker.bootstrap,
                                  client_id=worker_client_id("host:1:abc")).start()
    try:
        sub = member.subscribe(TOPIC, group=group)
        await sub.start()
        await wait_until(lambda: assigned(sub) == member.partitions, 30, "member assigned")
        members = await member.group_members(group)
        assert members is not None
        assert [worker_id_of(m) for m in members] == ["host:1:abc"]
        assert len(members) == 1
    finally:
        await member.close()
