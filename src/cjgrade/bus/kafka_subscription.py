"""The records of one Kafka topic for :class:`~cjgrade.bus.kafka.KafkaTransport`: a consumer,
its offsets (committed only over contiguous acknowledged records) and its rebalances.

See :mod:`cjgrade.bus.kafka` for the delivery rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError

from cjgrade.bus.events import EnvelopeModel, decode_envelope
from cjgrade.bus.transport import Delivery
from cjgrade.errors import BusError, BusUnavailable

if TYPE_CHECKING:
    from cjgrade.bus.kafka import KafkaTransport

__all__ = ["KafkaSubscription", "bus_error"]

log = structlog.get_logger("cjgrade.bus.kafka")


def bus_error(action: str, exc: KafkaError) -> BusError:
    """A BusError for a failed Kafka call: BusUnavailable when it is worth retrying."""
    transient = bool(getattr(exc, "retriable", False)) or isinstance(exc, KafkaTimeoutError)
    cls = BusUnavailable if transient else BusError
    return cls(f"{action} failed: {exc!r}")


class _OffsetTracker:
    """Per partition: offsets handed out in order, and which of them are acknowledged."""

    def __init__(self) -> None:
        self.outstanding: dict[TopicPartition, deque[int]] = {}
        self.acked: dict[TopicPartition, set[int]] = {}
        self.committable: dict[TopicPartition, int] = {}

    def delivered(self, tp: TopicPartition, offset: int) -> None:
        self.outstanding.setdefault(tp, deque()).append(offset)
        self.acked.setdefault(tp, set())

    def ack(self, tp: TopicPartition, offset: int) -> None:
        queue = self.outstanding.get(tp)
        if queue is None:
            return  # the partition was revoked meanwhile; its new owner redelivers
        acked = self.acked[tp]
        acked.add(offset)
        while queue and queue[0] in acked:
            done = queue.popleft()
            acked.discard(done)
            self.committable[tp] = done + 1

    def unfinished(self, partitions: Any) -> int:
        """Records of ``partitions`` handed out and not yet acknowledged."""
        return sum(len(self.outstanding.get(tp, ())) for tp in partitions)

    def take(self) -> dict[TopicPartition, int]:
        ready, self.committable = self.committable, {}
        return ready

    def forget(self, partitions: Any) -> None:
        for tp in partitions:
            self.outstanding.pop(tp, None)
            self.acked.pop(tp, None)
            self.committable.pop(tp, None)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sub: KafkaSubscription) -> None:
        self.sub = sub

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # Before the group moves these partitions (a member joined or left), let the records
        # being handled finish, for a bounded time, so that their offsets are committed and
        # the new owner does not handle them again (for a worker: pay for the judge twice).
        await self.sub._settle(revoked)
        await self.sub._commit()
        self.sub._tracker.forget(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned", topic=self.sub.topic, group=self.sub.group,
                 partitions=sorted(tp.partition for tp in assigned))
        await self.sub._rewind_past_end(self.sub._consumer, assigned)


class KafkaSubscription:
    """The records of one topic (see :meth:`KafkaTransport.subscribe`)."""

    def __init__(self, transport: KafkaTransport, topic: str, group: str | None,
                 since_ms: int, *, sole: bool = False) -> None:
        if sole and group is None:
            raise BusError("a sole reader needs a group (its offsets are committed under it)")
        self.transport = transport
        self.topic = topic
        self.group = group
        self.sole = sole
        self.since_ms = since_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._tracker = _OffsetTracker()
        self._previous: Delivery | None = None
        self._upkeep: asyncio.Task[None] | None = None
        self._closed = False
        self._start_lock = asyncio.Lock()
        self.on_records_lost: Callable[[], None] | None = None
        """Called when the broker is found to have lost records this subscription had read
        past (a broker restarted with memory storage): what was published before may never
        arrive (the orchestrator re-dispatches at once instead of waiting)."""

    async def start(self) -> None:
        """Connect and position the consumer (done on first use; call it to do it earlier)."""
        async with self._start_lock:
            if self._consumer is not None:
                return
            if self._closed:
                raise BusError(f"the subscription to {self.topic} is closed")
            t = self.transport
            consumer = AIOKafkaConsumer(
                bootstrap_servers=t.bootstrap_servers, client_id=t.client_id,
                group_id=self.group, enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=t.session_timeout_ms,
                heartbeat_interval_ms=t.heartbeat_interval_ms,
                metadata_max_age_ms=t.metadata_max_age_ms,
                max_poll_interval_ms=t.max_poll_interval_ms,
                fetch_max_wait_ms=t.fetch_max_wait_ms,
            )
            await consumer.start()
            try:
                if self.sole:
                    await self._assign_all(consumer)
                elif self.group is not None:
                    consumer.subscribe([self.topic], listener=_Rebalance(self))
                else:
                    await self._assign_from_timestamp(consumer)
                self._upkeep = asyncio.ensure_future(self._upkeep_loop(consumer))
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Every partition of the topic (created first if missing)."""
        await self.transport.ensure_topics([self.topic])
        partitions: set[int] | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.transport.request_timeout_ms / 1000 * 3
        while True:
            await consumer.topics()  # refresh metadata
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                return [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if loop.time() >= deadline:
                raise BusUnavailable(f"topic {self.topic} has no partitions on the broker yet")
            await asyncio.sleep(0.1)

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> None:
        """A sole reader: every partition, from the group's committed offsets (from the start
        where none is), without joining the group, so a restarted reader reads at once instead
        of waiting for its dead predecessor's session to time out and the group to form."""
        tps = await self._partitions(consumer)
        consumer.assign(tps)
        await self._rewind_past_end(consumer, tps)
        log.info("partitions assigned", topic=self.topic, group=self.group,
                 partitions=[tp.partition for tp in tps], sole=True)

    async def _assign_from_timestamp(self, consumer: AIOKafkaConsumer) -> None:
        tps = await self._partitions(consumer)
        consumer.assign(tps)
        found = await consumer.offsets_for_times({tp: self.since_ms for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])

    # --- iteration -----------------------------------------------------------------------

    def __aiter__(self) -> KafkaSubscription:
        return self

    async def __anext__(self) -> EnvelopeModel:
        while True:
            if self._previous is not None:
                self.ack(self._previous)  # the caller asked for more: the last one is handled
                self._previous = None
            delivery = await self.next_delivery()
            self._previous = delivery
            if delivery.envelope is not None:
                return delivery.envelope

    async def next_delivery(self) -> Delivery:
        """The next record; acknowledge it with :meth:`ack` once handled."""
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        assert self._consumer is not None
        try:
            record = await self._consumer.getone()
        except KafkaError as exc:
            if self._closed:
                raise StopAsyncIteration from None
            raise bus_error(f"reading {self.topic}", exc) from exc
        except AssertionError as exc:
            if self._closed:
                raise StopAsyncIteration from None
            raise BusError(f"reading {self.topic} failed: {exc}") from exc
        tp = TopicPartition(record.topic, record.partition)
        if self.group is not None:
            self._tracker.delivered(tp, record.offset)
        try:
            envelope: EnvelopeModel | None = decode_envelope(record.value)
        except BusError as exc:
            log.error("undecodable record skipped", topic=record.topic,
                      partition=record.partition, offset=record.offset, error=str(exc))
            envelope = None
        return Delivery(envelope, record.partition, record.offset, record.topic)

    def ack(self, delivery: Delivery) -> None:
        """Mark a record handled; its offset is committed once every earlier one is too."""
        if self.group is not None:
            self._tracker.ack(TopicPartition(delivery.topic, delivery.partition),
                              delivery.offset)

    async def lag(self) -> int:
        """Records of the assigned partitions not yet read (0 before the first read)."""
        consumer = self._consumer
        if consumer is None:
            return 0
        total = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            with contextlib.suppress(Exception):
                total += max(0, high - await consumer.position(tp))
        return total

    async def caught_up(self, timeout_s: float) -> bool:
        """Wait until every record on the assigned partitions when called has been handed out
        (records of other topics may arrive first: use it before trusting a count)."""
        await self.start()
        consumer = self._consumer
        assert consumer is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                ends = await consumer.end_offsets(list(consumer.assignment()))
        except (KafkaError, TimeoutError) as exc:
            log.warning("cannot read end offsets", topic=self.topic, error=repr(exc))
            return False
        # aiokafka moves a partition's position as each record is handed out (not when it is
        # prefetched), so position >= end means every record before the end was handed out.
        # The end is the larger of the broker's answer and the high watermark of the last
        # fetch (some brokers answer ListOffsets with the first offset of the last record
        # batch); once reached, one more fetch wait lets a newer high watermark arrive.
        settled = False
        while True:
            try:
                behind = []
                for tp, end in ends.items():
                    high = consumer.highwater(tp) or 0
                    if await consumer.position(tp) < max(end, high):
                        behind.append(tp)
            except (KafkaError, AssertionError) as exc:
                log.warning("cannot read positions", topic=self.topic, error=repr(exc))
                return False
            if not behind and settled:
                return True
            if loop.time() >= deadline:
                return False
            settled = not behind
            await asyncio.sleep(0.6 if settled else 0.02)  # 0.6: aiokafka's fetch wait + 0.1

    async def _rewind_past_end(self, consumer: AIOKafkaConsumer | None,
                               partitions: Any) -> None:
        """Read from the start any partition whose committed offset lies beyond its end.

        A broker with memory storage that restarts comes back with empty topics, and offsets
        of the old ones can still be committed to it; read from there, every record up to that
        offset would be skipped (a batch then waited for re-dispatches until the new offsets
        passed the old ones: 2.5 minutes after a 60 s outage)."""
        if consumer is None or not partitions:
            return
        try:
            ends = await consumer.end_offsets(list(partitions))
            for tp in partitions:
                committed = await consumer.committed(tp)
                if committed is not None and committed > ends.get(tp, committed):
                    log.warning("committed offset beyond the partition's end (the broker "
                                "lost its records); reading the partition from its start",
                                topic=tp.topic, partition=tp.partition, committed=committed,
                                end=ends.get(tp))
                    await consumer.seek_to_beginning(tp)
                    self._lost()
        except KafkaError as exc:
            log.warning("cannot compare committed offsets with the partitions' ends",
                        topic=self.topic, group=self.group, error=repr(exc))

    async def _settle(self, partitions: Any) -> None:
        """Wait up to the transport's ``revoke_wait_s`` for the records handed out from
        ``partitions`` to be acknowledged; the rest are handled again by the next owner."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.transport.revoke_wait_s
        while self._tracker.unfinished(partitions) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        left = self._tracker.unfinished(partitions)
        if left:
            log.warning("records still being handled when their partitions moved; the next "
                        "owner handles them again", topic=self.topic, group=self.group, n=left,
                        waited_s=self.transport.revoke_wait_s)

    async def _commit(self) -> None:
        ready = self._tracker.take()
        if not ready or self._consumer is None:
            return
        try:
            await self._consumer.commit(ready)
        except KafkaError as exc:  # a rebalance or a restarting broker: the records come again
            log.warning("offset commit failed", topic=self.topic, group=self.group,
                        error=repr(exc))

    async def _upkeep_loop(self, consumer: AIOKafkaConsumer) -> None:
        """Commit acknowledged offsets (a group's), and after each broker outage rewind the
        partitions that lost their records."""
        checked = self.transport.outages
        topic_gone = False
        while True:
            await asyncio.sleep(self.transport.commit_interval_s)
            if self.group is not None:
                await self._commit()
            # The broker lost the topic: its watchdog, or this consumer's metadata, saw it.
            topic_gone = topic_gone or not consumer.partitions_for_topic(self.topic)
            outages = self.transport.outages
            if (outages != checked or topic_gone) and await self._rewind_lost(consumer):
                checked, topic_gone = outages, False

    async def _rewind_lost(self, consumer: AIOKafkaConsumer) -> bool:
        """Read from the start any assigned partition whose position lies beyond its end;
        False when the ends cannot be read yet (tried again on the next pass).

        Run after the broker was away or lost topics: a broker with memory storage comes back
        with empty topics. A group member is rewound when the group re-forms
        (:meth:`_rewind_past_end`); a reader that is assigned its partitions (a sole reader,
        one without a group) sees no rebalance, and the broker answers its fetches beyond the
        end with nothing: it would wait until new records passed its old position. Checked
        once an outage, not all the time: Tansu's ends (high watermark, ListOffsets) may lag
        the records it has served by a record batch, and a check every second rewound
        partitions that had lost nothing, again and again."""
        tps = list(consumer.assignment())
        if not tps:
            return True
        try:
            async with asyncio.timeout(self.transport.request_timeout_ms / 1000):
                ends = await consumer.end_offsets(tps)
                positions = [await consumer.position(tp) for tp in tps]
        except (KafkaError, TimeoutError, AssertionError):
            return False  # the topic is not back yet, or a rebalance: next pass
        for tp, position in zip(tps, positions, strict=True):
            end = ends.get(tp)
            if end is None or position <= end:
                continue
            log.warning("position beyond the partition's end (the broker lost its "
                        "records); reading the partition from its start", topic=tp.topic,
                        partition=tp.partition, position=position, end=end)
            self._tracker.forget([tp])
            await consumer.seek_to_beginning(tp)
            self._lost()
        return True

    def _lost(self) -> None:
        if self.on_records_lost is not None:
            try:
                self.on_records_lost()
            except Exception:  # a subscriber's bug must not stop the upkeep
                log.exception("records-lost callback failed", topic=self.topic)

    async def close(self) -> None:
        self._closed = True
        if self._upkeep is not None:
            self._upkeep.cancel()
            # gather, not a suppressed await: the caller's own cancellation still propagates
            await asyncio.gather(self._upkeep, return_exceptions=True)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            if self.group is not None:
                ready = self._tracker.take()
                if ready:
                    with contextlib.suppress(KafkaError):
                        await consumer.commit(ready)
            # stop() sends LeaveGroup only from a generation above 0 (aiokafka); Tansu numbers
            # the first one 0, so a member stopped in it keeps its partitions until its session
            # times out. Sending LeaveGroup anyway (after stop(), through another connection)
            # cut a worker's leave to one heartbeat, but in 3 of 5 runs of the join-and-leave
            # fault test the LeaveGroup arrived while the broker held a new worker's JoinGroup,
            # and the group never assigned partitions again (before, with the orchestrator in
            # a group of its own, that group stalled the same way); aiokafka's rule is kept.
            await consumer.stop()
        self.transport._detach(self)
