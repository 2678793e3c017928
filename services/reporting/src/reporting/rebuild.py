"""Rebuilding the read models from the start of the topics, with no downtime.

1. Shadow tables (``<table>__shadow``) are created empty beside the live ones.
2. A plain Kafka consumer (no group: it moves nobody's offsets) reads every partition from the
   beginning and applies the events to the shadows with the live projection code. It never goes
   past the live consumer's position on a partition (``consumer_offsets``): the live tables keep
   serving, and keep moving, meanwhile. One :class:`~reporting.projections.Projection` folds
   the whole replay in memory and writes it every ``flush_every`` events, with COPY, keeping
   the ``keep_rows`` newest rows of each table in memory between writes.
3. The swap, in one transaction: the live tables are locked (the live consumer waits), the
   shadows catch up to exactly the live consumer's positions, the live tables are dropped and
   the shadows take their names (indexes too). The live consumer carries on from its position
   on tables that now hold the same events, rebuilt.

Duplicates are skipped as the live consumer skips them: per stream, only the next version
applies. Events the live consumer dead-lettered are skipped too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import Database
from gatehouse.events.envelope import EnvelopeDecodeError, EventEnvelope, from_kafka_record
from gatehouse.eventstore.schema import consumer_offsets, dead_letters
from gatehouse.messaging.kafka import KafkaAdmin
from gatehouse.personal_keys import SealedEventData
from gatehouse.runtime import bulk_allocations
from reporting.log_numbers import continue_live_numbering
from reporting.projections import Projection, hash_keeper
from reporting.tables import LIVE, ReadModel

__all__ = ["RebuildStatus", "Rebuilder", "checksum", "checksums"]

log = logging.getLogger(__name__)

SUFFIX = "__shadow"
BATCH = 2000
# Events folded in memory between two writes to the shadows, and the rows of each table kept
# in memory across writes (a project's events arrive from two topics, at their own paces).
FLUSH_EVERY = 20_000
KEEP_ROWS = 50_000

State = Literal["idle", "rebuilding", "swapping", "done", "failed"]


@dataclass
class RebuildStatus:
    projection: str
    state: State = "idle"
    applied: int = 0
    skipped: int = 0
    read: int = 0
    total: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    events_per_second: float | None = None

    @property
    def running(self) -> bool:
        return self.state in ("rebuilding", "swapping")


@dataclass
class _Replay:
    """Where a rebuild is: the next offset of each partition, the last version applied of each
    stream, the events to skip, and the fold into the shadows."""

    projection: Projection
    positions: dict[TopicPartition, int]
    poisoned: set[tuple[str, int, int]]
    versions: dict[str, int] = field(default_factory=dict)


class Rebuilder:
    """Rebuilds one projection (the consumer ``consumer_name``'s read models)."""

    def __init__(
        self,
        *,
        database: Database,
        bootstrap_servers: str,
        consumer_name: str,
        topics: Sequence[str],
        live: ReadModel = LIVE,
        personal_data: SealedEventData | None = None,
        flush_every: int = FLUSH_EVERY,
        keep_rows: int = KEEP_ROWS,
    ) -> None:
        self.database = database
        self.personal_data = personal_data
        self.bootstrap_servers = bootstrap_servers
        self.consumer_name = consumer_name
        self.topics = list(topics)
        self.live = live
        self.shadow = live.shadow(SUFFIX)
        self.flush_every = flush_every
        self.keep_rows = keep_rows
        self.status = RebuildStatus(consumer_name)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> bool:
        """Start a rebuild in the background; False when one is already running."""
        if self.status.running:
            return False
        self.status = RebuildStatus(
            self.consumer_name, state="rebuilding", started_at=datetime.now(UTC)
        )
        self._task = asyncio.create_task(self._run(), name=f"rebuild-{self.consumer_name}")
        return True

    async def wait(self) -> RebuildStatus:
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.status

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        started = time.monotonic()
        # Assigned by hand: a subscription could be reassigned (and its positions reset) when
        # the cluster's metadata changes half-way through.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            client_id=f"{self.consumer_name}-rebuild",
        )
        try:
            await self._create_shadows()
            partitions = await self._partitions()
            await consumer.start()
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            beginning = await consumer.beginning_offsets(partitions)
            end = await consumer.end_offsets(partitions)
            self.status.total = sum(end[tp] - beginning[tp] for tp in partitions)
            replay = _Replay(
                projection=Projection(
                    self.shadow,
                    self.personal_data,
                    bulk=True,
                    keep=self.keep_rows,
                    numbered_by=self.live.event_log,
                ),
                positions=dict(beginning),
                poisoned=await self._dead_lettered(),
            )
            try:
                with bulk_allocations():
                    await self._read(consumer, replay, end)
                self.status.state = "swapping"
                await self._swap(consumer, replay)
            finally:
                await replay.projection.abandon()  # a write behind left by a failure
            self.status.state = "done"
        except asyncio.CancelledError:
            self.status.state = "failed"
            self.status.error = "cancelled"
            raise
        except Exception as error:
            log.exception("projection rebuild failed", extra={"projection": self.consumer_name})
            self.status.state = "failed"
            self.status.error = f"{type(error).__name__}: {error}"
        finally:
            await consumer.stop()
            self.status.finished_at = datetime.now(UTC)
            elapsed = time.monotonic() - started
            if elapsed > 0:
                self.status.events_per_second = round(self.status.read / elapsed, 1)

    async def _create_shadows(self) -> None:
        async with self.database.transaction() as connection:
            for table in reversed(self.shadow.tables):
                await connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))
            for table in self.shadow.tables:
                await connection.run_sync(table.create)

    async def _partitions(self) -> list[TopicPartition]:
        admin = KafkaAdmin(self.bootstrap_servers, client_id=f"{self.consumer_name}-rebuild")
        try:
            await admin.start()
            return await admin.partitions(self.topics)
        finally:
            await admin.close()

    async def _dead_lettered(self) -> set[tuple[str, int, int]]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                select(dead_letters.c.topic, dead_letters.c.partition, dead_letters.c.offset).where(
                    dead_letters.c.consumer == self.consumer_name
                )
            )
            return {(row.topic, row.partition, row.offset) for row in rows}

    async def _live_positions(self, connection: AsyncConnection) -> dict[TopicPartition, int]:
        rows = await connection.execute(
            select(consumer_offsets).where(consumer_offsets.c.consumer == self.consumer_name)
        )
        return {TopicPartition(row.topic, row.partition): row.next_offset for row in rows}

    async def _read(
        self, consumer: AIOKafkaConsumer, replay: _Replay, end: dict[TopicPartition, int]
    ) -> None:
        """Apply everything up to the end offsets seen at the start, never past the live
        consumer's position (waiting for it when it lags).

        On PostgreSQL the folded rows are written behind: the next events are read and
        folded while the database writes (SQLite has one writer at a time)."""
        write_behind = self.database.dialect == "postgresql"
        while any(replay.positions[tp] < end[tp] for tp in end):
            async with self.database.read() as connection:
                live = await self._live_positions(connection)
            batches = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            waiting = False
            ready: list[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]] = []
            for partition, records in batches.items():
                cap = min(end[partition], live.get(partition, 0))
                usable = [r for r in records if r.offset < cap]
                if len(usable) < len(records):
                    consumer.seek(partition, records[len(usable)].offset)
                    waiting = True
                if usable:
                    ready.append((partition, usable))
            if ready:  # every partition's records in one transaction
                async with self.database.transaction() as connection:
                    await self._apply(connection, ready, replay)
                    due = replay.projection.pending >= self.flush_every
                    if due and not write_behind:
                        await replay.projection.flush(connection)
                if due and write_behind:
                    await replay.projection.write_behind(self.database)
            if waiting or not batches:
                await asyncio.sleep(0.05)
        async with self.database.transaction() as connection:
            await replay.projection.flush(connection)

    async def _swap(self, consumer: AIOKafkaConsumer, replay: _Replay) -> None:
        async with self.database.transaction() as connection:
            dialect = connection.dialect.name
            if dialect == "postgresql":
                names = ", ".join(f'"{table.name}"' for table in self.live.tables)
                await connection.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
            # Holds the live consumer's offsets (and on SQLite the database's write lock).
            await connection.execute(
                update(consumer_offsets)
                .where(consumer_offsets.c.consumer == self.consumer_name)
                .values(next_offset=consumer_offsets.c.next_offset)
            )
            live = await self._live_positions(connection)
            for partition, target in live.items():
                if partition not in replay.positions:
                    continue
                while replay.positions[partition] < target:
                    consumer.seek(partition, replay.positions[partition])
                    batch = await consumer.getmany(partition, timeout_ms=1000, max_records=BATCH)
                    records = [r for r in batch.get(partition, []) if r.offset < target]
                    if not records:
                        raise RuntimeError(f"could not read {partition} up to {target}")
                    await self._apply(connection, [(partition, records)], replay)
            await replay.projection.flush(connection)
            await continue_live_numbering(connection, self.live.event_log, self.shadow.event_log)
            for live_table, shadow_table in zip(self.live.tables, self.shadow.tables, strict=True):
                await _replace(connection, live_table, shadow_table)

    async def _apply(
        self,
        connection: AsyncConnection,
        batches: Sequence[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]],
        replay: _Replay,
    ) -> None:
        to_apply: list[EventEnvelope] = []
        to_keep: list[EventEnvelope] = []
        for partition, record in ((p, r) for p, records in batches for r in records):
            self.status.read += 1
            replay.positions[partition] = record.offset + 1
            if (record.topic, record.partition, record.offset) in replay.poisoned:
                self.status.skipped += 1
                continue
            try:
                envelope = from_kafka_record(record.value, record.headers)
            except EnvelopeDecodeError:
                self.status.skipped += 1
                continue
            applied = replay.versions.get(envelope.stream_id, 0)
            if envelope.stream_version <= applied:
                self.status.skipped += 1  # a duplicate (maybe the chained copy of an event)
                to_keep.append(envelope)
                continue
            if envelope.stream_version > applied + 1:
                self.status.skipped += 1  # an early copy the relay published again in order
                continue
            to_apply.append(envelope)
            replay.versions[envelope.stream_id] = envelope.stream_version
            self.status.applied += 1
        # The whole batch at once; the copies' hashes after, as they concern applied events
        # (written first: the copy's hash goes onto the event's row in the log).
        await replay.projection.apply(connection, to_apply)
        if any(envelope.hash is not None for envelope in to_keep):
            await replay.projection.flush(connection)
            keep_hashes = hash_keeper(self.shadow)
            for envelope in to_keep:
                await keep_hashes(connection, envelope)


async def _replace(connection: AsyncConnection, live: Table, shadow: Table) -> None:
    """Drop the live table and give the shadow its name, and its indexes their names."""
    await connection.execute(text(f'DROP TABLE "{live.name}"'))
    await connection.execute(text(f'ALTER TABLE "{shadow.name}" RENAME TO "{live.name}"'))
    if connection.dialect.name == "postgresql":
        rows = await connection.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE tablename = :table "
                "AND schemaname = current_schema()"
            ),
            {"table": live.name},
        )
        for (name,) in rows.all():
            if SUFFIX in name or f"{live.name}{SUFFIX}" in name:
                canonical = name.replace(SUFFIX, "")
                await connection.execute(text(f'ALTER INDEX "{name}" RENAME TO "{canonical}"'))
    else:
        rows = await connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :table "
                "AND sql IS NOT NULL"
            ),
            {"table": live.name},
        )
        for name, sql in rows.all():
            if SUFFIX in name:
                await connection.execute(text(f'DROP INDEX "{name}"'))
                await connection.execute(
                    text(
                        sql.replace(name, name.replace(SUFFIX, ""))
                        .replace(f'"{live.name}{SUFFIX}"', f'"{live.name}"')
                        .replace(f"{live.name}{SUFFIX}", live.name)
                    )
                )


async def checksums(connection: AsyncConnection, model: ReadModel = LIVE) -> dict[str, str]:
    """A digest of each read model's rows, independent of row order and of the log's local
    numbering (``event_log.seq``): equal models have equal checksums."""
    result: dict[str, str] = {}
    for table in model.tables:
        columns = [column for column in table.columns if column.name != "seq"]
        rows = await connection.execute(select(*columns))
        encoded = sorted(
            json.dumps([_plain(value) for value in row], sort_keys=True, default=str)
            for row in rows
        )
        digest = hashlib.sha256(f"{len(encoded)}\n".encode())
        for line in encoded:
            digest.update(line.encode())
            digest.update(b"\n")
        result[table.name.removesuffix(SUFFIX)] = digest.hexdigest()
    return result


async def checksum(connection: AsyncConnection, model: ReadModel = LIVE) -> str:
    """One digest of every read model (see :func:`checksums`)."""
    parts = await checksums(connection, model)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value
