"""The tracking consumer: applies each event exactly once to a service's database.

For every batch it fetches (records of one or several partitions) it opens one transaction that
hands the batch's new events to the service's handler (a :data:`BatchHandler`; :func:`one_by_one`
makes one of a handler of single events), records each stream's last applied version
(``consumer_streams``) and each partition's next offset (``consumer_offsets``), and commits; only
then does it commit the offsets to Kafka. The events reach the handler partition by partition,
each partition's in offset order: a stream's events share a partition, so each stream's arrive
in version order. A redelivered event finds its stream version already applied and is skipped,
so a crash anywhere, or the outbox relay publishing twice, never applies an event twice. An
event whose stream version is ahead of the next expected one is an early copy that the relay
will publish again in order (see the relay); it is skipped without being recorded.

Replicas of a service share a consumer group, and Kafka gives each partition to one of them; but
a rebalance does not wait for a batch in progress, so for a moment the old and the new owner of
a partition can both be applying it. On PostgreSQL each transaction therefore first takes a
transaction-scoped advisory lock on (consumer, topic, partition) for each partition of its batch,
in one order (topic, partition) so that two transactions never wait on each other: the second
owner waits for the first to commit, then reads the stream versions it recorded and skips what
it applied.

A failing batch of several partitions is retried partition by partition, and a failing
partition's batch one event at a time. An event that cannot be decoded, or whose
handler keeps failing after ``max_attempts``, goes to ``<topic>.dlq`` with the error in headers,
is recorded in ``dead_letters``, and the partition moves on. A database that cannot be reached is
not the event's fault: the consumer backs off and reconnects without dead-lettering anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy import Select, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database, any_of, upsert
from gatehouse.events.envelope import EnvelopeDecodeError, EventEnvelope, from_kafka_record
from gatehouse.events.topics import dead_letter_topic
from gatehouse.eventstore.schema import consumer_offsets, consumer_streams, dead_letters
from gatehouse.messaging.kafka import started
from gatehouse.messaging.restarts import run_restarting
from gatehouse.observability import Metrics, correlation_id

__all__ = ["BatchHandler", "EventHandler", "PartitionStatus", "TrackingConsumer", "one_by_one"]

log = logging.getLogger(__name__)

# A client's stop waits for the group coordinator (e.g. a join in progress, until the broker
# answers it); past this it is abandoned so that the consumer's task ends within the service's
# shutdown step and never outlives the event loop.
CLIENT_STOP_SECONDS = 5.0

EventHandler = Callable[[AsyncConnection, EventEnvelope], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, Sequence[EventEnvelope]], Awaitable[None]]
"""Applies events (in their order) inside the consumer's transaction."""


def one_by_one(handler: EventHandler) -> BatchHandler:
    """A batch handler that hands each event to ``handler`` in turn, under its correlation id."""

    async def apply(connection: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        for envelope in envelopes:
            token = correlation_id.set(envelope.correlation_id)
            try:
                await handler(connection, envelope)
            finally:
                correlation_id.reset(token)

    return apply


@dataclass(frozen=True)
class PartitionStatus:
    """A consumer's place on one partition: ``lag_events`` behind its end, and while behind,
    ``lag_seconds`` since the last event it applied was produced."""

    topic: str
    partition: int
    next_offset: int | None
    end_offset: int | None
    lag_events: int | None
    lag_seconds: float
    last_event_at: datetime | None


# The records of one fetch, by partition, in (topic, partition) order.
_Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]

# The partitions' locks in the order of the array (a function scan yields it in order), and
# custom plans for the rest of the transaction (see TrackingConsumer._own).
_LOCK_PARTITIONS = text(
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || :consumer),"
    " hashtext(partition_key)),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
    " FROM unnest(CAST(:partitions AS text[])) AS partition_key"
)


class _DatabaseUnavailable(Exception):
    """The database could not be reached; nothing about the event is known to be wrong."""


class TrackingConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        database: Database,
        handler: BatchHandler,
        bootstrap_servers: str,
        group_id: str,
        dlq_producer_factory: Callable[[], AIOKafkaProducer],
        metrics: Metrics,
        max_attempts: int = 3,
        retry_backoff: float = 0.1,
        max_batch: int = 500,
        on_duplicate: EventHandler | None = None,
    ) -> None:
        self.name = name
        self._topics = list(topics)
        self._database = database
        self._handler = handler
        self._bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self._dlq_producer_factory = dlq_producer_factory
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._max_batch = max_batch
        # Sees the copies skipped as already applied (e.g. to keep a republished copy's hashes).
        self._on_duplicate = on_duplicate
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: AIOKafkaProducer | None = None
        self.started = asyncio.Event()
        # Per partition: the next offset to apply and when the last applied event was produced.
        self._applied: dict[TopicPartition, tuple[int, float]] = {}

    async def run(self) -> None:
        """Consume until cancelled, reconnecting after broker or database outages."""
        await run_restarting(self._consume, what="consumer", extra={"consumer": self.name})

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.group_id}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            metadata_max_age_ms=5000,
        )
        self._consumer = consumer
        try:
            await consumer.start()
            self.started.set()
            while True:
                fetched = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                batch = {partition: fetched[partition] for partition in sorted(fetched)}
                if not batch:
                    continue
                await self._process_batch(batch)
                await self._commit(
                    {partition: records[-1].offset + 1 for partition, records in batch.items()}
                )
                for partition, records in batch.items():
                    self._update_lag(partition, records[-1].offset + 1, records[-1].timestamp)
        finally:
            # Stopped or failed: leave the group and stop the clients before any restart.
            await self._close()

    async def _process_batch(self, batch: _Batch) -> None:
        """One transaction for the whole batch; when it fails, one per partition."""
        if len(batch) > 1:
            try:
                await self._apply_in_transaction(batch)
                return
            except _DatabaseUnavailable:
                raise
            except Exception:
                log.warning(
                    "batch failed; retrying it partition by partition",
                    exc_info=True,
                    extra={"consumer": self.name, "partitions": len(batch)},
                )
        for partition, records in batch.items():
            await self._process_partition_batch(partition, records)

    async def _process_partition_batch(
        self, partition: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        try:
            await self._apply_in_transaction({partition: records})
            return
        except _DatabaseUnavailable:
            raise
        except Exception:
            if len(records) == 1:
                log.warning("event failed; retrying", exc_info=True, extra={"consumer": self.name})
            else:
                log.warning(
                    "batch failed; retrying its events one at a time",
                    exc_info=True,
                    extra={"consumer": self.name, "batch": len(records)},
                )
        for record in records:
            await self._process_one(partition, record)

    async def _process_one(
        self, partition: TopicPartition, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        error: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._apply_in_transaction({partition: [record]})
                return
            except _DatabaseUnavailable:
                raise
            except EnvelopeDecodeError as decode_error:
                error = decode_error
                break
            except Exception as handler_error:
                error = handler_error
                if attempt < self._max_attempts:
                    await asyncio.sleep(self._retry_backoff * attempt)
        assert error is not None
        await self._dead_letter(partition, record, error)

    async def _apply_in_transaction(self, batch: _Batch) -> None:
        """Apply records, their streams' versions and their partitions' offsets in one
        transaction (``batch`` in (topic, partition) order)."""
        envelopes = [
            from_kafka_record(record.value, record.headers)
            for records in batch.values()
            for record in records
        ]
        async with self._transaction() as connection:
            await self._own(connection, list(batch))
            tracker = _StreamTracker(self.name)
            await tracker.load(connection, {envelope.stream_id for envelope in envelopes})
            new: list[EventEnvelope] = []
            for envelope in envelopes:
                applied = tracker.version(envelope.stream_id)
                if envelope.stream_version <= applied:
                    self._metrics.consumed(consumer=self.name, outcome="duplicate").inc()
                    if self._on_duplicate is not None:
                        # It may be a copy of an event of this batch: apply those first.
                        await self._apply_new(connection, new)
                        new = []
                        await self._on_duplicate(connection, envelope)
                elif envelope.stream_version > applied + 1:
                    log.warning(
                        "event ahead of its stream; waiting for the relay to resend in order",
                        extra={
                            "consumer": self.name,
                            "stream_id": envelope.stream_id,
                            "stream_version": envelope.stream_version,
                            "applied": applied,
                        },
                    )
                    self._metrics.consumed(consumer=self.name, outcome="early").inc()
                else:
                    new.append(envelope)
                    tracker.advance(envelope.stream_id, envelope.stream_version)
            await self._apply_new(connection, new)
            await tracker.save(connection)
            await self._save_offsets(
                connection,
                {partition: records[-1].offset + 1 for partition, records in batch.items()},
            )

    async def _apply_new(
        self, connection: AsyncConnection, envelopes: Sequence[EventEnvelope]
    ) -> None:
        if envelopes:
            await self._handler(connection, envelopes)
            self._metrics.consumed(consumer=self.name, outcome="applied").inc(len(envelopes))

    async def _dead_letter(
        self, partition: TopicPartition, record: ConsumerRecord[bytes, bytes], error: Exception
    ) -> None:
        envelope: EventEnvelope | None = None
        with contextlib.suppress(EnvelopeDecodeError):
            envelope = from_kafka_record(record.value, record.headers)
        reason = f"{type(error).__name__}: {error}"
        headers = [
            *(record.headers or ()),
            ("dlq_error", reason[:4000].encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
        ]
        producer = await self._ensure_dlq_producer()
        await producer.send_and_wait(
            dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        async with self._transaction() as connection:
            await self._own(connection, [partition])
            if envelope is not None:
                tracker = _StreamTracker(self.name)
                await tracker.load(connection, {envelope.stream_id})
                # Move the stream past the poisoned event so later ones can apply.
                applied = tracker.version(envelope.stream_id)
                if envelope.stream_version == applied + 1:
                    tracker.advance(envelope.stream_id, envelope.stream_version)
                await tracker.save(connection)
            await connection.execute(
                insert(dead_letters).values(
                    consumer=self.name,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    event_id=str(envelope.id) if envelope else None,
                    stream_id=envelope.stream_id if envelope else None,
                    error=reason,
                    recorded_at=datetime.now(UTC),
                )
            )
            await self._save_offsets(connection, {partition: record.offset + 1})
        self._metrics.consumed(consumer=self.name, outcome="dead_lettered").inc()
        log.error(
            "event dead-lettered",
            extra={
                "consumer": self.name,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": reason,
            },
        )

    @contextlib.asynccontextmanager
    async def _transaction(self) -> Any:
        try:
            async with self._database.transaction() as connection:
                yield connection
        except (OperationalError, InterfaceError, OSError, ConnectionError) as error:
            raise _DatabaseUnavailable(str(error)) from error
        except DBAPIError as error:
            if error.connection_invalidated:
                raise _DatabaseUnavailable(str(error)) from error
            raise

    async def _own(self, connection: AsyncConnection, partitions: list[TopicPartition]) -> None:
        """Wait until no other replica's transaction on these partitions is open (PostgreSQL),
        and have the rest of the transaction's statements planned for their parameters.

        Two 32-bit keys: a key space apart from the relay's single-key lock. One statement
        takes the locks in the order given, which callers keep to (topic, partition).

        A batch's statements take lists of 1 to ``max_batch`` stream ids and rows. PostgreSQL
        settles on one generic plan for a prepared statement after its fifth run; chosen while
        the consumer's tables are small (just after a deployment), it stays as they grow. In the
        benchmark's 30 s at 200 events/s the stream-version read took 6.5 ms a run with the
        generic plan, 0.7 ms with plans made for each run's ids (0.07 ms once the table has
        been analysed). The same statement sets ``plan_cache_mode`` for the transaction.
        """
        if connection.dialect.name != "postgresql":
            return  # SQLite runs one writer at a time
        await connection.execute(
            _LOCK_PARTITIONS,
            {
                "consumer": f":consumer:{self.name}",
                "partitions": [
                    f"{partition.topic}:{partition.partition}" for partition in partitions
                ],
            },
        )

    async def _save_offsets(
        self, connection: AsyncConnection, next_offsets: dict[TopicPartition, int]
    ) -> None:
        now = datetime.now(UTC)
        await upsert(
            connection,
            consumer_offsets,
            [
                {
                    "consumer": self.name,
                    "topic": partition.topic,
                    "partition": partition.partition,
                    "next_offset": next_offset,
                    "updated_at": now,
                }
                for partition, next_offset in next_offsets.items()
            ],
            key=["consumer", "topic", "partition"],
        )

    async def _commit(self, next_offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit(next_offsets)
        except (CommitFailedError, KafkaError) as error:
            # The database already holds the truth; a redelivery is skipped by stream version.
            log.warning("offset commit failed", extra={"consumer": self.name, "error": repr(error)})

    def _update_lag(
        self, partition: TopicPartition, next_offset: int, last_timestamp_ms: int | None = None
    ) -> None:
        assert self._consumer is not None
        if last_timestamp_ms is not None:
            self._applied[partition] = (next_offset, last_timestamp_ms / 1000)
        status = self._status_of(partition)
        if status.lag_events is not None:
            labels = {
                "consumer": self.name,
                "topic": partition.topic,
                "partition": str(partition.partition),
            }
            self._metrics.consumer_lag(**labels).set(status.lag_events)
            self._metrics.consumer_lag_seconds(**labels).set(status.lag_seconds)

    def partitions(self) -> list[PartitionStatus]:
        """Where this consumer stands on each partition assigned to it, and how far behind."""
        consumer = self._consumer
        if consumer is None:
            return []
        return sorted(
            (self._status_of(tp) for tp in consumer.assignment()),
            key=lambda status: (status.topic, status.partition),
        )

    def _status_of(self, partition: TopicPartition) -> PartitionStatus:
        consumer = self._consumer
        highwater = consumer.highwater(partition) if consumer is not None else None
        next_offset, produced_at = self._applied.get(partition, (None, None))
        lag: int | None = None
        if highwater is not None and next_offset is not None:
            lag = max(highwater - next_offset, 0)
        # Behind: how old the last event applied is; caught up: no lag at all.
        lag_seconds = 0.0
        if lag and produced_at is not None:
            lag_seconds = max(time.time() - produced_at, 0.0)
        return PartitionStatus(
            topic=partition.topic,
            partition=partition.partition,
            next_offset=next_offset,
            end_offset=highwater,
            lag_events=lag,
            lag_seconds=round(lag_seconds, 3),
            last_event_at=datetime.fromtimestamp(produced_at, UTC) if produced_at else None,
        )

    async def _ensure_dlq_producer(self) -> AIOKafkaProducer:
        if self._dlq_producer is None:
            self._dlq_producer = await started(self._dlq_producer_factory())
        return self._dlq_producer

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._dlq_producer = self._dlq_producer, None
        self.started.clear()
        for client in (consumer, producer):
            if client is None:
                continue
            try:
                async with asyncio.timeout(CLIENT_STOP_SECONDS):
                    await client.stop()
            except TimeoutError:
                log.warning(
                    "Kafka client did not stop in time",
                    extra={
                        "consumer": self.name,
                        "client": type(client).__name__,
                        "seconds": CLIENT_STOP_SECONDS,
                    },
                )
            except Exception:
                log.warning(
                    "Kafka client failed to stop", exc_info=True, extra={"consumer": self.name}
                )


@functools.cache
def _versions_of_streams(dialect: str) -> Select[Any]:
    """The versions of a batch's streams; built once per dialect."""
    return select(consumer_streams.c.stream_id, consumer_streams.c.version).where(
        consumer_streams.c.consumer == bindparam("consumer"),
        any_of(consumer_streams.c.stream_id, "stream_ids", dialect),
    )


class _StreamTracker:
    """The last applied version of each stream a transaction touches: read in one query, written
    in one statement."""

    def __init__(self, consumer: str) -> None:
        self._consumer = consumer
        self._versions: dict[str, int] = {}
        self._changed: set[str] = set()

    async def load(self, connection: AsyncConnection, stream_ids: set[str]) -> None:
        wanted = sorted(stream_ids - self._versions.keys())
        if not wanted:
            return
        found = {
            row.stream_id: row.version
            for row in await connection.execute(
                _versions_of_streams(connection.dialect.name),
                {"consumer": self._consumer, "stream_ids": wanted},
            )
        }
        self._versions.update((stream_id, found.get(stream_id, 0)) for stream_id in wanted)

    def version(self, stream_id: str) -> int:
        return self._versions[stream_id]

    def advance(self, stream_id: str, version: int) -> None:
        self._versions[stream_id] = version
        self._changed.add(stream_id)

    async def save(self, connection: AsyncConnection) -> None:
        await upsert(
            connection,
            consumer_streams,
            [
                {
                    "consumer": self._consumer,
                    "stream_id": stream_id,
                    "version": self._versions[stream_id],
                }
                for stream_id in sorted(self._changed)
            ],
            key=["consumer", "stream_id"],
        )
