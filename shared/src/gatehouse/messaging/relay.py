"""The outbox relay: publishes stored events to Kafka, in order, and marks them published.

Guarantees: every stored event is published at least once; an event is marked only after the
broker acknowledged it (``acks=all``); within a batch only the prefix before the first failure is
marked, so whatever follows a failed event is published again *after* it and each stream's
events reach their partition in version order at least once in order (a consumer drops the
early copies by stream version). A crash between publish and mark republishes: duplicates are
possible, loss is not.

Tamper evidence: the relay reads new events through the gap-free feed, so it publishes them in
position order, and carries the running head of the log in each record
(``ce_gatehouseloghead``, see :mod:`gatehouse.eventstore.chain`). The head after each event is
stored on its outbox row in the transaction that marks it published, so the chain continues
across restarts, and a republished event (after a crash, or an outbox row put back by hand,
which a running relay finds within ``idle_poll_interval`` seconds) carries the same head again.

The relay wakes when an append to its events table commits: on PostgreSQL through LISTEN/NOTIFY
(from any process; a notification for another schema's events table is ignored), elsewhere when
a transaction of this process commits; and otherwise every ``idle_poll_interval`` seconds.
On PostgreSQL only one relay per database publishes at a time (a session advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import ColumnElement, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database, listening
from gatehouse.events.envelope import EventEnvelope, to_kafka_record
from gatehouse.eventstore.chain import GENESIS_HASH, next_log_head
from gatehouse.eventstore.feed import GapFreeFeedReader
from gatehouse.eventstore.schema import events, outbox
from gatehouse.eventstore.store import OUTBOX_CHANNEL, envelope_from_row
from gatehouse.messaging.kafka import started
from gatehouse.messaging.restarts import run_restarting
from gatehouse.observability import Metrics

__all__ = ["OutboxRelay", "PendingEvent"]

log = logging.getLogger(__name__)

# With the schema name, the key of the advisory lock that elects one relay per event store.
_LOCK_SUFFIX = ":outbox-relay"


_TIP = (
    select(outbox.c.position, outbox.c.log_head)
    .where(outbox.c.log_head.is_not(None))
    .order_by(outbox.c.position.desc())
    .limit(1)
)
# Events whose outbox row was put back (published_at cleared) at or before the tip: a crash
# between publish and mark, or by hand. They go out again first, with the heads they had.
_PUT_BACK = (
    select(events, outbox.c.topic, outbox.c.log_head)
    .join(outbox, outbox.c.position == events.c.position)
    .where(outbox.c.published_at.is_(None), outbox.c.position <= bindparam("tip_position"))
    .order_by(outbox.c.position)
    .limit(bindparam("batch_size"))
)
_MARK_PUBLISHED = (
    update(outbox)
    .where(outbox.c.position == bindparam("marked_position"))
    .values(published_at=bindparam("marked_at"), log_head=bindparam("marked_head"))
)


@dataclass(frozen=True)
class PendingEvent:
    topic: str
    envelope: EventEnvelope


class OutboxRelay:
    def __init__(
        self,
        *,
        database: Database,
        producer_factory: Callable[[], AIOKafkaProducer],
        source: str,
        metrics: Metrics,
        batch_size: int = 500,
        idle_poll_interval: float = 5.0,
        after_publish: Callable[[list[PendingEvent]], Awaitable[None]] | None = None,
        before_publish: Callable[[AIOKafkaProducer], Awaitable[object]] | None = None,
        before_publish_waiting: ColumnElement[bool] | None = None,
    ) -> None:
        """``before_publish`` runs before each batch goes out (e.g. the keys that open the
        batch's personal data go first). ``before_publish_waiting``, when given, is an SQL
        condition that holds while it has work: read with each page, in the page's snapshot, it
        lets the relay skip ``before_publish`` (a round trip) when nothing waits."""
        self._database = database
        self._producer_factory = producer_factory
        self._source = source
        self._metrics = metrics
        self._batch_size = batch_size
        self._idle_poll_interval = idle_poll_interval
        self._after_publish = after_publish
        self._before_publish = before_publish
        self._wake = asyncio.Event()
        self._feed = GapFreeFeedReader(
            source=source, page_size=batch_size, flag=before_publish_waiting
        )
        self._before_publish_due = True
        # Settle a batch while reading the next one: PostgreSQL only (SQLite has one writer).
        self._pipelined = database.dialect == "postgresql"
        self._waiting_at_gap = False
        # The last position sent and the log head after it, as this relay last sent or read
        # them: one query less per batch. Another relay marking meanwhile leaves it behind,
        # which only publishes some events again (with the same heads); a failure forgets it,
        # and the next read starts after the last position marked.
        self._tip: tuple[int, str] | None = None
        # When the relay last found no event put back for republishing (monotonic seconds).
        self._put_back_checked_at: float | None = None
        self._producer: AIOKafkaProducer | None = None
        # Set when the connection holding the lead (lock, LISTEN) closes under the relay.
        self._lead_lost = asyncio.Event()
        self.published_total = 0
        if database.dialect != "postgresql":
            database.on_commit(self.wake)  # no NOTIFY: any commit of this process may be an append

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; survives broker and database outages by retrying."""
        await run_restarting(self._lead, what="outbox relay", after_failure=self._after_failure)

    async def _after_failure(self) -> None:
        self._tip = None
        await self._close_producer()

    async def _lead(self) -> None:
        """Publish while this relay holds the lead; a standby looks again after a while."""
        async with self._leadership() as is_leader:
            if not is_leader:
                await asyncio.sleep(self._idle_poll_interval)
                return
            self._tip = None  # another relay may have published since this one last led
            await self._publish_until_cancelled()

    async def publish_pending(self) -> int:
        """Publish everything pending now (committed before its last read, which found the
        feed's end); returns how many events were marked published.

        On PostgreSQL a batch's acknowledgements and mark (its settling) run while the next
        batch is read and sent; batches settle one after the other, so the marks never leave a
        hole, and a failure to settle one stops the relay before a later one is marked (the
        later one goes out again, with the same heads, after the restart).
        """
        marked = 0
        settling: asyncio.Task[int] | None = None
        try:
            while True:
                look_for_put_back = self._republishing_due()
                if settling is not None and look_for_put_back:
                    # Rows put back are told apart from rows in flight only once marks landed.
                    marked += await settling
                    settling = None
                batch, at_the_end = await self._fetch_pending(look_for_put_back=look_for_put_back)
                if not batch:
                    break
                producer = await self._ensure_producer()
                if self._before_publish is not None and self._before_publish_due:
                    # E.g. the keys that open the batch's personal data: on Kafka before it.
                    await self._before_publish(producer)
                deliveries = await self._send(producer, batch)
                if settling is not None:
                    marked += await settling
                    settling = None
                if self._pipelined:
                    settling = asyncio.create_task(self._settle(batch, deliveries))
                else:
                    marked += await self._settle(batch, deliveries)
                # At the feed's end, what commits after the read wakes the relay (NOTIFY, or
                # this process's commit hook): with no wake since, reading again would only
                # find nothing. Under load one has always come; read on, the batch settling.
                if at_the_end:
                    if not self._wake.is_set():
                        break
                    self._wake.clear()
            if settling is not None:
                marked += await settling
                settling = None
        except BaseException:
            self._tip = None  # sent is not marked: read on from the last position marked
            raise
        finally:
            if settling is not None:
                settling.cancel()
                await asyncio.gather(settling, return_exceptions=True)
        return marked

    async def pending_count(self) -> int:
        async with self._database.read() as connection:
            query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            return int((await connection.execute(query)).scalar_one())

    async def close(self) -> None:
        await self._close_producer()

    async def _publish_until_cancelled(self) -> None:
        while True:
            if self._lead_lost.is_set():
                raise ConnectionError("the relay's lock and LISTEN connection closed")
            self._wake.clear()
            await self.publish_pending()
            # Not wait_for: on Python 3.11 it can swallow a cancellation that arrives as the
            # wait ends, and the relay would outlive its service's shutdown. In front of a gap,
            # look again soon: a rolled-back writer notifies nobody.
            interval = 0.05 if self._waiting_at_gap else self._idle_poll_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    async def _fetch_pending(self, *, look_for_put_back: bool) -> tuple[list[PendingEvent], bool]:
        """Events put back for republishing first (when told to look, with no batch in
        flight), then the next new events in position order; and whether the read found the
        feed's end (fewer new events than a page, no gap)."""
        async with self._database.autocommit() as connection:
            if self._tip is None:
                tip = (await connection.execute(_TIP)).first()
                self._tip = (0, GENESIS_HASH) if tip is None else (tip.position, tip.log_head)
            tip_position, head = self._tip
            if look_for_put_back:
                republish = list(
                    await connection.execute(
                        _PUT_BACK, {"tip_position": tip_position, "batch_size": self._batch_size}
                    )
                )
                if republish:
                    self._before_publish_due = True
                    return [
                        PendingEvent(
                            row.topic,
                            replace(envelope_from_row(row, self._source), log_head=row.log_head),
                        )
                        for row in republish
                    ], False  # new events may wait behind these
                self._put_back_checked_at = time.monotonic()
            page = await self._feed.read(connection, tip_position)
            self._waiting_at_gap = page.waiting_at is not None
            # What the page's events need was committed with them or before: a snapshot that
            # sees them and nothing waiting means it is out already.
            self._before_publish_due = page.flag is not False
        pending: list[PendingEvent] = []
        for envelope in page.events:
            topic = page.topics.get(envelope.position or 0)
            if topic is None:
                log.warning(
                    "event without an outbox row is not published",
                    extra={"position": envelope.position},
                )
                continue
            assert envelope.hash is not None, "stored events always carry their hash"
            head = next_log_head(head, envelope.hash)
            pending.append(PendingEvent(topic, replace(envelope, log_head=head)))
        return pending, not self._waiting_at_gap and len(page.events) < self._batch_size

    def _republishing_due(self) -> bool:
        """Whether to look for events put back for republishing: with a tip to read (after a
        failure or a new leadership: a crash between publish and mark leaves them), and
        otherwise once every ``idle_poll_interval`` (rows put back by hand)."""
        checked_at = self._put_back_checked_at
        return (
            self._tip is None
            or checked_at is None
            or time.monotonic() - checked_at >= self._idle_poll_interval
        )

    async def _send(
        self, producer: AIOKafkaProducer, batch: list[PendingEvent]
    ) -> list[asyncio.Future[Any]]:
        """Hand the batch to the producer (in order); the next batch is read after it."""
        deliveries = []
        for pending in batch:
            record = to_kafka_record(pending.envelope)
            deliveries.append(
                await producer.send(
                    pending.topic, value=record.value, key=record.key, headers=record.headers
                )
            )
        last = batch[-1].envelope
        assert last.position is not None
        assert last.log_head is not None
        if self._tip is not None and last.position > self._tip[0]:
            self._tip = (last.position, last.log_head)
        return deliveries

    async def _settle(
        self, batch: list[PendingEvent], deliveries: list[asyncio.Future[Any]]
    ) -> int:
        """Wait for the broker; mark the prefix it acknowledged. Raises when that is not all."""
        outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
        published: list[PendingEvent] = []
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning(
                    "publish failed",
                    extra={"position": pending.envelope.position, "error": repr(outcome)},
                )
                await self._close_producer()
                break
            published.append(pending)
        if self._after_publish is not None:
            await self._after_publish(published)
        await self._mark_published(published)
        if len(published) < len(batch):
            raise RuntimeError("publishing stopped at a failed event; it will be retried")
        return len(published)

    async def _mark_published(self, published: list[PendingEvent]) -> None:
        if not published:
            return
        now = datetime.now(UTC)
        async with self._database.autocommit() as connection:
            await connection.execute(
                _MARK_PUBLISHED,
                [
                    {
                        "marked_at": now,
                        "marked_position": pending.envelope.position,
                        "marked_head": pending.envelope.log_head,
                    }
                    for pending in published
                ],
            )
        self.published_total += len(published)
        self._metrics.outbox_published.inc(len(published))

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await started(self._producer_factory())
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    @contextlib.asynccontextmanager
    async def _leadership(self) -> Any:
        """Hold the relay lock (PostgreSQL) and LISTEN for appends while publishing."""
        if self._database.dialect != "postgresql":
            yield True
            return
        async with self._database.engine.connect() as connection:
            acquired = await _try_advisory_lock(connection)
            if not acquired:
                yield False
                return
            own_events_table = str(
                (
                    await connection.execute(
                        text("SELECT CAST(CAST(:events_table AS regclass) AS oid)"),
                        {"events_table": events.name},
                    )
                ).scalar_one()
            )
            await connection.commit()

            def on_append(payload: str) -> None:
                if payload in (own_events_table, ""):
                    self._wake.set()

            # A closed connection takes the lock and the wakes with it: woken, publishing stops
            # at its next look (see _publish_until_cancelled), to lead again.
            async with listening(
                connection, OUTBOX_CHANNEL, on_append, on_lost=self._wake.set
            ) as lost:
                self._lead_lost = lost
                try:
                    yield True
                finally:
                    with contextlib.suppress(Exception):
                        await connection.execute(
                            text(
                                "SELECT pg_advisory_unlock(hashtext(current_schema() || :suffix))"
                            ),
                            {"suffix": _LOCK_SUFFIX},
                        )
                        await connection.commit()


async def _try_advisory_lock(connection: AsyncConnection) -> bool:
    result = await connection.execute(
        text("SELECT pg_try_advisory_lock(hashtext(current_schema() || :suffix))"),
        {"suffix": _LOCK_SUFFIX},
    )
    await connection.commit()
    return bool(result.scalar_one())
