"""The transactional-outbox relay: publish events the store has queued, then mark them.

State changes and the events announcing them are written in one database transaction (the
outbox table, ``cjgrade.store.outbox``). This relay publishes the rows not yet published, in
id order, and marks them published in the same transaction that locked them, so:

* a crash between "saved" and "published" loses nothing: the rows stay unpublished and the
  next relay (or the next poll) publishes them;
* a crash between "published" and "marked" publishes them again: consumers deduplicate on
  the envelope's ``event_id`` (and on batch uuid / comparison id);
* several relays can run: PostgreSQL hands each its own rows (``SKIP LOCKED``).

A row whose publication keeps failing is retried ``max_attempts`` times, then left for an
operator with its last error (``cjgrade db`` / SQL on ``outbox_events``). A broker that is
down or restarting (:class:`~cjgrade.errors.BusUnavailable`) is not the row's fault: nothing
is counted, and the relay tries again at its next poll, however long the outage lasts.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from cjgrade.bus.events import decode_envelope
from cjgrade.bus.transport import Transport
from cjgrade.errors import BusError, BusUnavailable
from cjgrade.store import Store, claim_unpublished, mark_failed, mark_published

__all__ = ["OutboxRelay"]

log = structlog.get_logger("cjgrade.outbox")


class OutboxRelay:
    """Publishes the outbox of ``store`` on ``transport``.

    Parameters
    ----------
    poll_s : wait between polls when the outbox is empty (``notify`` wakes it early).
    batch : rows per transaction.
    max_attempts : failed publications of a row before it is left for an operator.
    """

    def __init__(self, store: Store, transport: Transport, *, poll_s: float = 1.0,
                 batch: int = 100, max_attempts: int = 5) -> None:
        self.store = store
        self.transport = transport
        self.poll_s = poll_s
        self.batch = batch
        self.max_attempts = max_attempts
        self.published = 0
        self.waiting = False
        """True while the broker is unavailable (rows wait, nothing counted against them)."""
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Ask for a poll now (after writing an event)."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """One pass: publish and mark up to ``batch`` rows; returns how many were published."""
        done = 0
        async with self.store.transaction() as session:
            rows = await claim_unpublished(session, limit=self.batch,
                                           max_attempts=self.max_attempts)
            published: list[int] = []
            for row in rows:
                try:
                    envelope = decode_envelope(dict(row.payload))
                    await self.transport.publish(row.topic, envelope)
                except BusUnavailable as exc:
                    if not self.waiting:  # one line per outage
                        log.warning("outbox waits for the broker", outbox_id=row.id,
                                    topic=row.topic, error=str(exc))
                    self.waiting = True
                    break
                except BusError as exc:
                    log.warning("outbox event not published", outbox_id=row.id,
                                topic=row.topic, error=str(exc))
                    await mark_failed(session, row.id, str(exc))
                    break  # keep the order: later rows wait for this one
                published.append(row.id)
            done = await mark_published(session, published)
        if done and self.waiting:
            log.info("outbox publishing again")
            self.waiting = False
        self.published += done
        return done

    async def drain(self) -> int:
        """Publish until nothing is pending (or a publication fails)."""
        total = 0
        while True:
            n = await self.publish_pending()
            total += n
            if n < self.batch:
                return total

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database briefly unavailable: try again next poll
                log.warning("outbox relay pass failed", error=repr(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()
