"""A :class:`~cjgrade.bus.transport.Transport` over Kafka (aiokafka).

* One topic per event type (the envelope's ``event_type``), created on start with
  ``partitions`` partitions, and re-created by a watchdog if the broker lost them (a broker
  with memory storage forgets every topic when it restarts). The clients never ask the broker
  to auto-create a topic (a broker would give it its default partition count, not ours): until
  the watchdog has re-created a topic, publishing to it fails with
  :class:`~cjgrade.errors.BusUnavailable` and its consumers wait.
* Keys: the envelope's key (the batch uuid), so one batch's events stay ordered in one
  partition; except ``comparison.requested``, keyed ``batch_uuid:comparison_id`` and placed by
  comparison id modulo the partition count (not by hash), so a round's consecutive ids spread
  evenly over every partition and so over every worker of the group (by hash, the counts per
  partition vary, and the round waits for the busiest worker's last wave).
* No idempotent or transactional producer (some brokers refuse ``InitProducerId``): delivery is
  at-least-once and every consumer deduplicates (comparison id, event id).
* A ``sole`` group subscription (the orchestrator's: one per database, by an advisory lock)
  is assigned every partition and commits under the group without joining it, so a restarted
  orchestrator reads at once; it does not wait for its dead predecessor's session to time out
  and for the group to form (about 20 s on Tansu).
* Group subscriptions never auto-commit. Iterating with ``async for`` commits a record once the
  next one is asked for (handled, then committed); concurrent consumers take
  :class:`Delivery` values with :meth:`KafkaSubscription.next_delivery` and
  :meth:`KafkaSubscription.ack` them in any order; the committed offset only moves over a
  contiguous run of acknowledged records, so a crash redelivers whatever was not finished.
* A subscription without a group sees every record published from the moment it was created
  (it seeks by timestamp), like the in-process transport's fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka import client as aiokafka_client
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.protocol.metadata import MetadataRequest

from cjgrade.bus.events import EVENT_MODELS, ComparisonRequestedV1, EnvelopeModel
from cjgrade.bus.kafka_subscription import KafkaSubscription, bus_error
from cjgrade.bus.transport import DEFAULT_PARTITIONS, Delivery
from cjgrade.errors import BusError, BusUnavailable, ConfigError

__all__ = ["Delivery", "KafkaSubscription", "KafkaTransport", "check_bootstrap",
           "partition_key"]

log = structlog.get_logger("cjgrade.bus.kafka")


def partition_key(topic: str, envelope: EnvelopeModel) -> bytes | None:
    """The record key of an envelope on ``topic`` (see the module docstring)."""
    if topic == ComparisonRequestedV1.TOPIC and "comparison_id" in envelope.data:
        return f"{envelope.key}:{envelope.data['comparison_id']}".encode()
    return envelope.key.encode() if envelope.key is not None else None


_MEMBER_ID = re.compile(r"(.*)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _client_id(member_id: str, client_id: str) -> str:
    """A group member's client id: as described, or (Tansu leaves it empty) from the member
    id, which is ``<client id>-<uuid>`` by Kafka's convention."""
    if client_id:
        return client_id
    match = _MEMBER_ID.fullmatch(member_id)
    return match.group(1) if match else ""


_HASHED = DefaultPartitioner()


def _partition(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Comparison requests (key ``batch:comparison_id``) by id modulo the partition count;
    every other key by the default hash."""
    if key is not None:
        _, sep, tail = key.rpartition(b":")
        if sep and tail.isdigit():
            return sorted(all_partitions)[int(tail) % len(all_partitions)]
    return int(_HASHED(key, all_partitions, available))


def check_bootstrap(value: str) -> str:
    """``value`` if it is a comma-separated list of ``HOST:PORT``; else ConfigError saying
    what to fix (checked before anything starts: a malformed address used to end the
    orchestrator's task with a ValueError while the API went on accepting batches)."""
    fix = "fix --bootstrap or KAFKA_BOOTSTRAP_SERVERS (e.g. kafka-1:9092,kafka-2:9092)"
    if not value or not value.strip():
        raise ConfigError(f"no Kafka bootstrap servers given; {fix}")
    for entry in value.split(","):
        host, sep, port = entry.strip().rpartition(":")
        if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"invalid Kafka bootstrap server {entry.strip()!r} in {value!r}: "
                              f"each must be HOST:PORT with a port from 1 to 65535; {fix}")
    return value


class _NoAutoCreateMetadataRequest(MetadataRequest):  # type: ignore[misc]
    """A metadata request that never asks the broker to auto-create the topics it names."""

    def __init__(self, topics: list[str] | None = None,
                 allow_auto_topic_creation: bool | None = False) -> None:
        super().__init__(topics, allow_auto_topic_creation)


# aiokafka's clients build their metadata requests with the broker's default (auto-create a
# missing topic, with the broker's partition count). Every client in a cjgrade process uses
# this default instead: a lost topic is re-created by the watchdog, with ``partitions``.
aiokafka_client.MetadataRequest = _NoAutoCreateMetadataRequest


class KafkaTransport:
    """Publish/subscribe over a Kafka-protocol broker.

    Parameters
    ----------
    bootstrap_servers : ``host:port[,host:port...]``.
    client_id : shown in the broker's logs.
    partitions : partitions of each topic it creates.
    topics : topics to create on start (default: one per event type).
    session_timeout_ms, heartbeat_interval_ms : how fast a dead group member is noticed.
    revoke_wait_s : when a group rebalances, how long a member waits for the records it is
        handling to be acknowledged before the partitions move (at most half the session
        timeout, which bounds how long the group waits for a member to rejoin). 0 (the
        default): the next owner handles them again, which costs nothing where handling is
        idempotent and cheap (the orchestrator); a worker waits, since handling a request
        again pays for a judge call again.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "cjgrade",
        partitions: int = DEFAULT_PARTITIONS,
        topics: list[str] | None = None,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        metadata_max_age_ms: int = 5_000,
        max_poll_interval_ms: int = 300_000,
        commit_interval_s: float = 0.2,
        watchdog_interval_s: float = 2.0,
        lookback_s: float = 2.0,
        request_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 100,
        revoke_wait_s: float = 0.0,
    ) -> None:
        check_bootstrap(bootstrap_servers)
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.partitions = partitions
        self.topics = list(topics) if topics is not None else list(EVENT_MODELS)
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.metadata_max_age_ms = metadata_max_age_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.commit_interval_s = commit_interval_s
        self.watchdog_interval_s = watchdog_interval_s
        self.lookback_s = lookback_s
        self.request_timeout_ms = request_timeout_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.revoke_wait_s = max(0.0, min(revoke_wait_s, session_timeout_ms / 2000))
        self.last_contact: float | None = None
        """``time.monotonic()`` of the last successful exchange with the broker."""
        self.outages = 0
        """Times the watchdog saw the broker come back, or had to re-create a lost topic: a
        broker with memory storage may have lost records then (subscriptions check)."""
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._subscriptions: list[KafkaSubscription] = []
        self._closed = False

    async def start(self) -> KafkaTransport:
        """Connect the producer and create the topics; returns self."""
        if self._producer is not None:
            return self
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                    client_id=self.client_id)
        producer: AIOKafkaProducer | None = None
        try:
            await admin.start()
            self._admin = admin
            await self.ensure_topics(self.topics)
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers, client_id=self.client_id,
                enable_idempotence=False, acks=1, linger_ms=1, partitioner=_partition,
                metadata_max_age_ms=self.metadata_max_age_ms,
                request_timeout_ms=self.request_timeout_ms,
            )
            await producer.start()
        except KafkaError as exc:
            if producer is not None:
                await producer.stop()
            await admin.close()
            self._admin = None
            raise BusUnavailable(
                f"cannot reach the Kafka broker at {self.bootstrap_servers} ({exc}); start it "
                "or fix KAFKA_BOOTSTRAP_SERVERS / --bootstrap"
            ) from exc
        self._producer = producer
        self._watchdog = asyncio.ensure_future(self._watch_topics())
        return self

    async def ensure_topics(self, topics: list[str]) -> bool:
        """Create the topics that do not exist (idempotent); True if any was missing."""
        admin = self._admin
        if admin is None:
            raise BusError("the Kafka transport is not started; call start() first")
        existing = set(await admin.list_topics())
        self.last_contact = time.monotonic()
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return False
        new = [NewTopic(t, num_partitions=self.partitions, replication_factor=1)
               for t in missing]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
        log.info("topics created", topics=missing, partitions=self.partitions)
        return True

    async def group_members(self, group: str) -> list[str] | None:
        """The client ids of a consumer group's members now (None when the broker does not
        say)."""
        admin = self._admin
        if admin is None:
            return None
        try:
            async with asyncio.timeout(self.request_timeout_ms / 1000):
                described = await admin.describe_consumer_groups([group])
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("cannot describe a consumer group", group=group, error=repr(exc))
            return None
        for response in described:
            for entry in getattr(response, "groups", ()):
                if entry[1] == group:
                    if entry[2] in ("Dead", "Empty"):
                        return []
                    return [_client_id(member[0], member[1]) for member in entry[5]]
        return None

    def reachable(self, within_s: float | None = None) -> bool:
        """Whether the broker answered within the last ``within_s`` seconds (default: three
        watchdog passes plus the request timeout)."""
        if self.last_contact is None or self._closed:
            return False
        limit = within_s if within_s is not None else (
            3 * self.watchdog_interval_s + self.request_timeout_ms / 1000)
        return time.monotonic() - self.last_contact <= limit

    async def _watch_topics(self) -> None:
        # ``self._closed`` ends the loop even if a cancellation is lost in a library call
        # (``close`` cancels this task and then waits for it).
        down_since: float | None = None
        while not self._closed:
            await asyncio.sleep(self.watchdog_interval_s)
            if self._closed:
                return
            try:
                async with asyncio.timeout(self.request_timeout_ms / 1000):
                    created = await self.ensure_topics(
                        self.topics + [s.topic for s in self._subscriptions])
            except (KafkaError, OSError, BusError, TimeoutError) as exc:
                if down_since is None:  # one line per outage, not one per pass
                    down_since = time.monotonic()
                    log.warning("broker unreachable; retrying", bootstrap=self.bootstrap_servers,
                                error=repr(exc))
                continue
            except Exception as exc:  # never let the watchdog die of a broker quirk
                log.warning("topic watchdog failed", error=repr(exc))
                continue
            if down_since is not None:
                log.info("broker reachable again", bootstrap=self.bootstrap_servers,
                         down_s=round(time.monotonic() - down_since, 1))
                down_since = None
                self.outages += 1
            elif created:  # the broker lost topics without this process seeing it away
                self.outages += 1

    async def publish(self, topic: str, envelope: EnvelopeModel) -> None:
        """Send one envelope and wait for the broker's acknowledgement."""
        producer = self._producer
        if producer is None or self._closed:
            raise BusError("the Kafka transport is not started (or closed)")
        value = envelope.model_dump_json().encode()
        headers = [("event_type", envelope.event_type.encode()),
                   ("event_id", envelope.event_id.encode())]
        try:
            await producer.send_and_wait(topic, value, key=partition_key(topic, envelope),
                                         headers=headers)
        except KafkaError as exc:
            raise bus_error(f"publishing to {topic}", exc) from exc
        self.last_contact = time.monotonic()

    def subscribe(self, topic: str, *, group: str | None = None,
                  sole: bool = False) -> KafkaSubscription:
        if self._closed:
            raise BusError("the Kafka transport is closed")
        since_ms = int((time.time() - self.lookback_s) * 1000)
        sub = KafkaSubscription(self, topic, group, since_ms, sole=sole)
        self._subscriptions.append(sub)
        return sub

    def _detach(self, sub: KafkaSubscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    async def close(self) -> None:
        self._closed = True
        for sub in list(self._subscriptions):
            await sub.close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            # gather, not a suppressed await: the caller's own cancellation still propagates
            await asyncio.gather(self._watchdog, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def __aenter__(self) -> KafkaTransport:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
